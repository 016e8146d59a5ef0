// The convolutional fixtures (tests/data/reference/cnn_*, PyTorch 1.13,
// float64; their README says how they were made): four small CNNs on the
// first 100 Fashion-MNIST training images as [100, 1, 28, 28], x/255
// standardized per pixel over them, mean cross-entropy. θ0 loads as is, in
// torch.cat([p.reshape(-1) for p in net.parameters()]) order; loss, ∇f(θ0),
// ∇²f(θ0)·u and the top-3 Hessian eigenvalues must match to 1e-10, built
// from the layer text (as `--model` does) and from the objective spec, and
// however the data are chunked.
#include <eoslab.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

#include "support/check.hpp"

using namespace eos;
using eos::test::close;

namespace {
const std::string kRef = std::string(EOS_TEST_DATA) + "/reference/";

nlohmann::json fixtures() {
  std::ifstream in(kRef + "cnn_fixtures.json");
  return nlohmann::json::parse(in);
}

nn::ObjectiveSpec fixture_spec(const std::string& model, std::size_t chunk) {
  nn::ObjectiveSpec s;
  s.data.source = "fashion-mnist";
  s.data.n = 100;
  s.data.standardize = true;
  s.model = model;
  s.loss = "ce";
  s.chunk_size = chunk;
  return s;
}

// The PyTorch definitions of cnn_fixtures.json in the layer grammar.
const std::vector<std::pair<std::string, std::string>> kModels = {
    {"cnn_relu_maxpool", "conv(4,3,pad=1) relu maxpool(2) conv(4,3,pad=1) relu maxpool(2) flatten linear(10)"},
    {"cnn_tanh_avgpool", "conv(4,3,pad=1) tanh avgpool(2) conv(4,3,pad=1) tanh avgpool(2) flatten linear(10)"},
    {"cnn_stride_elu_nobias",
     "conv(3,5,stride=2,pad=2,bias=false) elu conv(6,3,bias=false) tanh avgpool(2) flatten linear(10)"},
};

void check_fixture(const std::string& name, const std::string& model, std::size_t chunk, bool eigenvalues) {
  const auto f = fixtures().at(name);
  nn::BuiltObjective b = nn::build_objective(fixture_spec(model, chunk));
  BOOST_REQUIRE_EQUAL(b.objective->dim(), f.at("params").get<std::size_t>());
  BOOST_TEST(b.input_shape == (Shape{1, 28, 28}));
  const Tensor theta0 = read_npy_vector(kRef + name + "_theta0.npy", b.objective->dim());
  const Tensor u = read_npy_vector(kRef + name + "_u.npy", b.objective->dim());
  const auto vg = b.objective->value_and_grad(theta0);
  BOOST_TEST(test::close_scalar(vg.value, f.at("loss0").get<double>(), 1e-10), name << " loss " << vg.value);
  BOOST_TEST(close(vg.grad, read_npy_vector(kRef + name + "_grad0.npy"), 1e-10));
  BOOST_TEST(test::close_scalar(std::sqrt(inner(vg.grad, vg.grad)), f.at("grad_norm0").get<double>(), 1e-10));
  const Tensor Hu = b.objective->hvp(theta0, u);
  BOOST_TEST(close(Hu, read_npy_vector(kRef + name + "_Hu.npy"), 1e-10));
  BOOST_TEST(test::close_scalar(inner(u, Hu), f.at("uHu").get<double>(), 1e-10));
  auto H = b.objective->hessian_at(theta0);
  BOOST_TEST(close(H->apply(u), Hu, 1e-12), "the linearized operator gives the same H·u");
  if (!eigenvalues) return;
  analysis::LanczosOptions o;
  o.k = 3;
  o.tol = 1e-11;
  o.max_iter = 400;
  const auto eig = analysis::lanczos_top(*H, o);
  const auto top3 = f.at("top3_eigenvalues").get<std::vector<double>>();
  for (std::size_t i = 0; i < 3; ++i)
    BOOST_TEST(test::close_scalar(eig.values.at(i), top3[i], 1e-10), name << " λ" << i + 1 << " = " << eig.values.at(i)
                                                                           << " vs PyTorch's " << top3[i]);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(conv_reference)

BOOST_AUTO_TEST_CASE(three_cnns_match_pytorch_to_1e_10) {
  for (const auto& [name, model] : kModels) {
    BOOST_TEST_CONTEXT(name) {
      check_fixture(name, model, 1000, true);
      check_fixture(name, model, 30, false);  // chunks of 30, 30, 30, 10
    }
  }
}

BOOST_AUTO_TEST_CASE(the_theta_layout_is_pytorchs) {
  auto net = nn::parse_model(kModels[2].second, {1, 28, 28});
  const auto s = net->parameter_slices();
  BOOST_REQUIRE_EQUAL(s.size(), 4u);  // two bias-free convolutions, then the Linear's weight and bias
  BOOST_TEST(s[0].name == "0.weight");
  BOOST_TEST(s[0].shape == (Shape{3, 1, 5, 5}));
  BOOST_TEST(s[1].name == "2.weight");
  BOOST_TEST(s[1].shape == (Shape{6, 3, 3, 3}));
  BOOST_TEST(s[2].name == "6.weight");
  BOOST_TEST(s[2].shape == (Shape{10, 216}));
  BOOST_TEST(s[3].offset == 75u + 162u + 2160u);
  BOOST_TEST(net->output_shape({1, 28, 28}) == (Shape{10}));
}

BOOST_AUTO_TEST_SUITE_END()
