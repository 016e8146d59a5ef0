// ModelObjective: chunked results equal unchunked ones, custom models plug
// in, weight decay, minibatches, init, θ files.
#include <atomic>
#include <filesystem>
#include <fstream>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;
using eos::test::close;

namespace {

data::Dataset small_clusters() { return data::gaussian_clusters(37, 6, 3, 2.0, 123); }

nn::Model small_mlp() { return nn::as_model(nn::mlp({6, {5, 4}, nn::ActivationKind::Tanh, 3, true})); }

std::filesystem::path temp_file(const std::string& name) { return test::scratch_file(name); }

}  // namespace

BOOST_AUTO_TEST_SUITE(model_objective)

BOOST_AUTO_TEST_CASE(chunked_equals_unchunked_for_both_losses) {
  for (nn::Loss loss : {nn::Loss::CrossEntropy, nn::Loss::MSE}) {
    const auto ds = small_clusters();
    nn::ModelObjective whole(small_mlp(), loss, ds, {.chunk_size = 1000});
    nn::ModelObjective chunked(small_mlp(), loss, ds, {.chunk_size = 8});
    nn::ModelObjective uncached(small_mlp(), loss, ds, {.chunk_size = 8, .cache_linearization = false});
    BOOST_TEST(whole.num_chunks() == 1u);
    BOOST_TEST(chunked.num_chunks() == 5u);  // 8+8+8+8+5
    std::mt19937_64 rng(1);
    const Tensor th = test::random_normal({whole.dim()}, rng);
    const Tensor v = test::random_normal({whole.dim()}, rng);
    const auto a = whole.value_and_grad(th), b = chunked.value_and_grad(th);
    BOOST_TEST(test::close_scalar(a.value, b.value, 1e-14));
    BOOST_TEST(test::close_scalar(whole.value(th), chunked.value(th), 1e-14));
    BOOST_TEST(close(a.grad, b.grad, 1e-13));
    const Tensor hv = whole.hvp(th, v);
    BOOST_TEST(close(chunked.hvp(th, v), hv, 1e-13));
    BOOST_TEST(close(chunked.hessian_at(th)->apply(v), hv, 1e-13));
    BOOST_TEST(close(uncached.hessian_at(th)->apply(v), hv, 1e-13));
    BOOST_TEST(close(chunked.outputs(th), whole.outputs(th), 1e-15));
    // HVP against differences of the full-batch gradient
    const Tensor fd = (whole.value_and_grad(th + 1e-5 * v).grad - whole.value_and_grad(th - 1e-5 * v).grad) / 2e-5;
    BOOST_TEST(close(hv, fd, 1e-7, 1e-10));
  }
}

// threads = T splits every chunk into min(T, rows) parts run at once on
// single-threaded BLAS: the objective, its derivatives and every Hessian
// path are T = 1's up to summation order, and repeat bitwise.
BOOST_AUTO_TEST_CASE(threads_split_the_chunks_without_changing_the_objective) {
  const auto ds = small_clusters();  // 37 rows: chunks of 16, 16 and 5
  nn::ModelObjective serial(small_mlp(), nn::Loss::CrossEntropy, ds, {.chunk_size = 16});
  std::mt19937_64 rng(4);
  const Tensor th = test::random_normal({serial.dim()}, rng), v = test::random_normal({serial.dim()}, rng);
  const auto ref = serial.value_and_grad(th);
  const Tensor hv = serial.hvp(th, v);
  for (std::size_t threads : {2u, 3u, 6u}) {
    BOOST_TEST_CONTEXT(threads << " threads") {
      nn::ModelObjective split(small_mlp(), nn::Loss::CrossEntropy, ds, {.chunk_size = 16, .threads = threads});
      nn::ModelObjective uncached(small_mlp(), nn::Loss::CrossEntropy, ds,
                                  {.chunk_size = 16, .cache_linearization = false, .threads = threads});
      BOOST_TEST(split.threads() == threads);
      BOOST_TEST(split.num_chunks() == 2 * threads + std::min<std::size_t>(threads, 5));
      const auto vg = split.value_and_grad(th);
      BOOST_TEST(test::close_scalar(vg.value, ref.value, 1e-14));
      BOOST_TEST(test::close_scalar(split.value(th), ref.value, 1e-14));
      BOOST_TEST(close(vg.grad, ref.grad, 1e-13));
      BOOST_TEST(close(split.hvp(th, v), hv, 1e-13));
      auto H = split.hessian_at(th);
      BOOST_TEST(close(H->apply(v), hv, 1e-13));
      BOOST_TEST(test::close_scalar(H->value(), ref.value, 1e-14));
      BOOST_TEST(close(H->grad(), ref.grad, 1e-13));
      BOOST_TEST(close(uncached.hessian_at(th)->apply(v), hv, 1e-13));
      BOOST_TEST(close(split.outputs(th), serial.outputs(th), 1e-15));
      BOOST_TEST(*split.accuracy(th) == *serial.accuracy(th));
      // The same thread count repeats bitwise: the lanes' sums are added in lane order.
      const auto again = split.value_and_grad(th);
      BOOST_TEST(again.value == vg.value);
      BOOST_TEST(test::max_abs(Tensor(again.grad - vg.grad)) == 0.0);
      BOOST_TEST(test::max_abs(Tensor(H->apply(v) - H->apply(v))) == 0.0);
    }
  }
  BOOST_CHECK_THROW(nn::ModelObjective(small_mlp(), nn::Loss::CrossEntropy, ds, {.threads = 0}), std::invalid_argument);
}

// A failure inside a part on another thread reaches the caller as the
// exception it was, and the objective works again afterwards.
BOOST_AUTO_TEST_CASE(a_failing_part_on_another_thread_reaches_the_caller) {
  const auto ds = small_clusters();  // threads 2: parts of 8, 8, 8, 8, 2 and 3 rows; lane 1 has the 3
  nn::Model model = small_mlp();
  auto fail = std::make_shared<std::atomic<bool>>(true);
  model.forward = [inner = model.forward, fail](ad::Var theta, ad::Var x) {
    if (*fail && x.shape()[0] == 3) throw std::domain_error("the part of 3 rows");
    return inner(theta, x);
  };
  nn::ModelObjective split(model, nn::Loss::CrossEntropy, ds, {.chunk_size = 16, .threads = 2});
  const Tensor th = xt::zeros<double>({split.dim()});
  BOOST_CHECK_EXCEPTION(split.value(th), std::domain_error,
                        [](const std::domain_error& e) { return std::string(e.what()) == "the part of 3 rows"; });
  BOOST_CHECK_THROW(split.value_and_grad(th), std::domain_error);
  BOOST_CHECK_THROW(split.hessian_at(th), std::domain_error);
  *fail = false;
  nn::ModelObjective serial(small_mlp(), nn::Loss::CrossEntropy, ds, {.chunk_size = 16});
  BOOST_TEST(test::close_scalar(split.value_and_grad(th).value, serial.value(th), 1e-14));
}

// Every activation of --activation and the spec: its name round-trips, and
// an MLP with it has the gradient and HVP of central differences (the ops
// themselves are checked rule by rule in tests/autodiff/test_ops.cpp).
BOOST_AUTO_TEST_CASE(every_activation_by_name_gives_exact_derivatives) {
  const auto ds = small_clusters();
  for (const std::string name : {"tanh", "relu", "elu", "softplus", "gelu", "sigmoid", "hardtanh", "leaky_relu",
                                 "selu", "identity"}) {
    const nn::ActivationKind kind = nn::parse_activation(name);
    BOOST_TEST(nn::activation_name(kind) == name);
    nn::ModelObjective obj(nn::as_model(nn::mlp({6, {5, 4}, kind, 3, true})), nn::Loss::CrossEntropy, ds);
    std::mt19937_64 rng(11);
    const Tensor th = 0.5 * test::random_normal({obj.dim()}, rng), v = test::random_normal({obj.dim()}, rng);
    const double h = 1e-6;
    const double slope = (obj.value(th + h * v) - obj.value(th - h * v)) / (2 * h);
    BOOST_TEST(test::close_scalar(inner(obj.value_and_grad(th).grad, v), slope, 1e-6, 1e-9), name);
    const Tensor fd = (obj.value_and_grad(th + h * v).grad - obj.value_and_grad(th - h * v).grad) / (2 * h);
    BOOST_TEST(close(obj.hvp(th, v), fd, 1e-5, 1e-8), name);
  }
  BOOST_CHECK_EXCEPTION(nn::parse_activation("swish"), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()).find("hardtanh, leaky_relu, selu or identity") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(minibatch_of_everything_is_the_full_batch) {
  const auto ds = small_clusters();
  nn::ModelObjective obj(small_mlp(), nn::Loss::CrossEntropy, ds, {.chunk_size = 10, .weight_decay = 0.01});
  std::mt19937_64 rng(2);
  const Tensor th = test::random_normal({obj.dim()}, rng);
  std::vector<std::size_t> all(ds.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  const auto full = obj.value_and_grad(th), batch = obj.batch_value_and_grad(th, all);
  BOOST_TEST(test::close_scalar(full.value, batch.value, 1e-14));
  BOOST_TEST(close(full.grad, batch.grad, 1e-13));
  // A single example: the loss of that example alone.
  const std::vector<std::size_t> one = {4};
  nn::ModelObjective single(small_mlp(), nn::Loss::CrossEntropy, ds.subset(one), {.weight_decay = 0.01});
  BOOST_TEST(test::close_scalar(obj.batch_value(th, one), single.value(th), 1e-14));
}

BOOST_AUTO_TEST_CASE(weight_decay_adds_gamma_theta_squared) {
  const auto ds = small_clusters();
  const double gamma = 0.3;
  nn::ModelObjective plain(small_mlp(), nn::Loss::MSE, ds), decayed(small_mlp(), nn::Loss::MSE, ds, {.weight_decay = gamma});
  std::mt19937_64 rng(3);
  const Tensor th = test::random_normal({plain.dim()}, rng), v = test::random_normal({plain.dim()}, rng);
  BOOST_TEST(test::close_scalar(decayed.value(th), plain.value(th) + gamma * eos::inner(th, th), 1e-14));
  BOOST_TEST(close(decayed.value_and_grad(th).grad, plain.value_and_grad(th).grad + 2 * gamma * th, 1e-14));
  BOOST_TEST(close(decayed.hvp(th, v), plain.hvp(th, v) + 2 * gamma * v, 1e-14));
  BOOST_TEST(close(decayed.hessian_at(th)->apply(v), plain.hvp(th, v) + 2 * gamma * v, 1e-13));
}

BOOST_AUTO_TEST_CASE(custom_forward_function_plugs_in) {
  // A residual MLP written by hand: h = tanh(x W₁ᵀ); y = (h + tanh(h W₂ᵀ)) W₃ᵀ
  const std::size_t d = 6, h = 5, k = 3;
  nn::Model res;
  res.name = "residual";
  res.num_params = h * d + h * h + k * h;
  res.forward = [=](ad::Var th, ad::Var x) {
    ad::Var W1 = ad::slice(th, 0, {h, d}), W2 = ad::slice(th, h * d, {h, h}), W3 = ad::slice(th, h * d + h * h, {k, h});
    ad::Var a = ad::tanh(ad::matmul(x, W1, false, true));
    a = a + ad::tanh(ad::matmul(a, W2, false, true));
    return ad::matmul(a, W3, false, true);
  };
  const auto ds = small_clusters();
  nn::ModelObjective obj(res, nn::Loss::CrossEntropy, ds, {.chunk_size = 16});
  std::mt19937_64 rng(4);
  const Tensor th = test::random_normal({obj.dim()}, rng), v = test::random_normal({obj.dim()}, rng);
  const auto vg = obj.value_and_grad(th);
  const Tensor fd_hv = (obj.value_and_grad(th + 1e-5 * v).grad - obj.value_and_grad(th - 1e-5 * v).grad) / 2e-5;
  BOOST_TEST(close(obj.hvp(th, v), fd_hv, 1e-7, 1e-10));
  const double fd_dir = (obj.value(th + 1e-6 * v) - obj.value(th - 1e-6 * v)) / 2e-6;
  BOOST_TEST(test::close_scalar(eos::inner(vg.grad, v), fd_dir, 1e-7));
}

BOOST_AUTO_TEST_CASE(model_data_mismatch_is_reported_at_construction) {
  const auto ds = small_clusters();  // 6 features, 3 classes
  BOOST_CHECK_THROW(nn::ModelObjective(nn::as_model(nn::mlp({7, {4}, nn::ActivationKind::Tanh, 3})), nn::Loss::CrossEntropy, ds), ShapeError);
  BOOST_CHECK_THROW(nn::ModelObjective(nn::as_model(nn::mlp({6, {4}, nn::ActivationKind::Tanh, 2})), nn::Loss::MSE, ds), ShapeError);
  data::Dataset unlabeled = data::teacher_student(10, 6, 4, 3, 0.0, 1);
  BOOST_CHECK_THROW(nn::ModelObjective(small_mlp(), nn::Loss::CrossEntropy, unlabeled), data::DataError);
  nn::ModelObjective ok(small_mlp(), nn::Loss::MSE, unlabeled);
  BOOST_CHECK_THROW(ok.value(xt::zeros<double>({3})), ShapeError);
  BOOST_TEST(!ok.accuracy(xt::zeros<double>({ok.dim()})).has_value());
}

BOOST_AUTO_TEST_CASE(init_schemes_are_seeded_and_bounded) {
  auto net = nn::mlp({20, {30}, nn::ActivationKind::ReLU, 5, true});
  const auto seg = net->parameter_slices();
  for (nn::Init scheme : {nn::Init::PyTorchDefault, nn::Init::Xavier, nn::Init::He}) {
    const Tensor a = nn::init_params(*net, scheme, 7), b = nn::init_params(*net, scheme, 7), c = nn::init_params(*net, scheme, 8);
    BOOST_TEST(close(a, b, 0.0));
    BOOST_TEST(test::max_abs(a - c) > 0.0);
    BOOST_TEST(a.size() == net->num_params());
  }
  const Tensor pt = nn::init_params(*net, nn::Init::PyTorchDefault, 1);
  // weight and bias of layer 0 within ±1/√20, of layer 2 within ±1/√30
  for (std::size_t i = 0; i < seg[1].offset + seg[1].size(); ++i) BOOST_TEST(std::abs(pt(i)) <= 1 / std::sqrt(20.0));
  for (std::size_t i = seg[2].offset; i < pt.size(); ++i) BOOST_TEST(std::abs(pt(i)) <= 1 / std::sqrt(30.0));
  const Tensor xv = nn::init_params(*net, nn::Init::Xavier, 1);
  for (std::size_t i = 0; i < seg[0].size(); ++i) BOOST_TEST(std::abs(xv(i)) <= std::sqrt(6.0 / 50.0));
  for (std::size_t i = seg[1].offset; i < seg[1].offset + seg[1].size(); ++i) BOOST_TEST(xv(i) == 0.0);
  // He: the weight variance of layer 0 is close to 2/fan_in = 0.1 (600 samples)
  const Tensor he = nn::init_params(*net, nn::Init::He, 1);
  double s2 = 0;
  for (std::size_t i = 0; i < seg[0].size(); ++i) s2 += he(i) * he(i);
  BOOST_TEST(std::abs(s2 / seg[0].size() - 0.1) < 0.02);
}

BOOST_AUTO_TEST_CASE(theta_files_round_trip_and_mismatches_are_clear) {
  std::mt19937_64 rng(5);
  const Tensor th = test::random_normal({17}, rng);
  const auto path = temp_file("theta.npy").string();
  write_npy(path, th);
  BOOST_TEST(close(read_npy_vector(path, 17), th, 0.0));
  try {
    read_npy_vector(path, 18);
    BOOST_FAIL("size mismatch must throw");
  } catch (const NpyError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find(path) != std::string::npos, m);
    BOOST_TEST(m.find("expected 18") != std::string::npos, m);
    BOOST_TEST(m.find("got 17") != std::string::npos, m);
  }
  // a float32 file is widened exactly (issue 21: θ saved from PyTorch's
  // float32 models); an integer one is refused, naming both dtypes
  for (const std::string descr : {"<f4", "<i4"}) {
  const auto f32 = temp_file("theta_" + descr.substr(1) + ".npy").string();
  {
    std::ofstream out(f32, std::ios::binary);
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }";
    header.append(128 - 10 - header.size() - 1, ' ');
    header += '\n';
    out.write("\x93NUMPY\x01\x00", 8);
    const char len[2] = {static_cast<char>(header.size()), 0};
    out.write(len, 2);
    out << header;
    const float data[2] = {1.f, 2.f};
    out.write(reinterpret_cast<const char*>(data), sizeof data);
  }
  if (descr == "<f4") {
    NpyInfo info;
    BOOST_TEST(close(read_npy(f32, &info), Tensor{1.0, 2.0}, 0.0));
    BOOST_TEST(info.dtype == "float32");
    continue;
  }
  try {
    read_npy(f32);
    BOOST_FAIL("dtype mismatch must throw");
  } catch (const NpyError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("'<i4'") != std::string::npos, m);
    BOOST_TEST(m.find("float64") != std::string::npos, m);
    BOOST_TEST(m.find("float32") != std::string::npos, m);
  }
  }
  BOOST_CHECK_THROW(read_npy(temp_file("does-not-exist.npy").string()), NpyError);
  // truncated data
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 8);
  BOOST_CHECK_THROW(read_npy(path), NpyError);
  // 2-D round trip
  const Tensor M = test::random_normal({3, 4}, rng);
  write_npy(path, M);
  BOOST_TEST(close(read_npy(path), M, 0.0));
}

BOOST_AUTO_TEST_SUITE_END()
