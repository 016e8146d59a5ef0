// The fc-tanh-50 fixture (tests/data/reference, computed with PyTorch in
// float64): Linear(784,50)-tanh-Linear(50,50)-tanh-Linear(50,10) on the first
// 1000 Fashion-MNIST training images, x/255 standardized per feature with
// those images' mean/std (ddof 0, zero std → 1). θ0 loads as is; loss,
// ∇f(θ0) and ∇²f(θ0)·u must match for both losses to 1e-9 relative.
#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;
using eos::test::close;

namespace {
const std::string kRef = std::string(EOS_TEST_DATA) + "/reference/";

data::Dataset fixture_data() {
  data::Dataset ds = data::load_fashion_mnist(data::Split::Train, data::kFashionMnistDir, 1000);
  data::scale_features(ds, 1.0 / 255.0);
  data::Standardizer::fit(ds.X).apply(ds);
  return ds;
}

struct Expected {  // from tests/data/reference/fc_tanh_50.json
  double loss0, grad0_norm, uHu, Hu_norm;
};

void check_loss(nn::Loss loss, const std::string& tag, const Expected& e) {
  auto net = nn::mlp({784, {50, 50}, nn::ActivationKind::Tanh, 10, true});
  nn::ModelObjective obj(nn::as_model(net), loss, fixture_data(), {.chunk_size = 300});
  BOOST_REQUIRE_EQUAL(obj.dim(), 42310u);
  const Tensor theta0 = read_npy_vector(kRef + "fc_tanh_50_theta0.npy", obj.dim());
  const Tensor u = read_npy_vector(kRef + "u.npy", obj.dim());
  const auto vg = obj.value_and_grad(theta0);
  BOOST_TEST(test::close_scalar(vg.value, e.loss0, 1e-9), tag << " loss " << vg.value << " vs " << e.loss0);
  BOOST_TEST(close(vg.grad, read_npy_vector(kRef + "fc_tanh_50_" + tag + "_grad0.npy"), 1e-9));
  BOOST_TEST(test::close_scalar(std::sqrt(eos::inner(vg.grad, vg.grad)), e.grad0_norm, 1e-9));
  const Tensor Hu = obj.hvp(theta0, u);
  BOOST_TEST(close(Hu, read_npy_vector(kRef + "fc_tanh_50_" + tag + "_Hu.npy"), 1e-9));
  BOOST_TEST(test::close_scalar(eos::inner(u, Hu), e.uHu, 1e-9));
  BOOST_TEST(test::close_scalar(std::sqrt(eos::inner(Hu, Hu)), e.Hu_norm, 1e-9));
  // The linearized operator gives the same product.
  auto H = obj.hessian_at(theta0);
  BOOST_TEST(close(H->apply(u), Hu, 1e-12));
  BOOST_TEST(test::close_scalar(obj.accuracy(theta0).value(), 0.098, 0.0, 1e-12));
}
}  // namespace

BOOST_AUTO_TEST_SUITE(reference_fixture)

BOOST_AUTO_TEST_CASE(cross_entropy_matches_pytorch) {
  check_loss(nn::Loss::CrossEntropy, "ce", {2.3302268785928955, 1.3123874196948901, 0.001620220973264491, 0.172083605385694});
}

BOOST_AUTO_TEST_CASE(mse_matches_pytorch) {
  check_loss(nn::Loss::MSE, "mse", {0.6168214401220367, 1.671507791217356, 0.010922336296852016, 0.35739849726481576});
}

BOOST_AUTO_TEST_CASE(segments_follow_the_pytorch_state_dict) {
  auto net = nn::mlp({784, {50, 50}, nn::ActivationKind::Tanh, 10, true});
  const auto seg = net->parameter_slices();
  const std::vector<std::string> names = {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"};
  BOOST_REQUIRE_EQUAL(seg.size(), names.size());
  std::size_t offset = 0;
  for (std::size_t i = 0; i < seg.size(); ++i) {
    BOOST_TEST(seg[i].name == names[i]);
    BOOST_TEST(seg[i].offset == offset);
    offset += seg[i].size();
  }
  BOOST_TEST(seg[0].shape == (Shape{50, 784}));
  BOOST_TEST(seg[5].shape == (Shape{10}));
  BOOST_TEST(offset == 42310u);
}

BOOST_AUTO_TEST_SUITE_END()
