// BatchNorm in training mode: the PyTorch fixture cnn_bn_relu to 1e-10, and
// the full-batch objective of a BatchNorm model is that of the whole batch
// however it is chunked (value, gradient, H·v with and without a kept
// linearization, outputs), while a minibatch uses its own statistics.
#include <eoslab.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include "support/check.hpp"

using namespace eos;
using eos::test::close;

namespace {
const std::string kRef = std::string(EOS_TEST_DATA) + "/reference/";
const std::string kBnModel = "conv(4,3,pad=1) relu bn maxpool(2) conv(4,3,pad=1) relu bn maxpool(2) flatten linear(10)";

nn::BuiltObjective fixture_objective(std::size_t chunk, bool cache = true, std::size_t threads = 1) {
  nn::ObjectiveSpec s;
  s.data.source = "fashion-mnist";
  s.data.n = 100;
  s.data.standardize = true;
  s.model = kBnModel;
  s.chunk_size = chunk;
  s.threads = threads;
  nn::BuiltObjective b = nn::build_objective(s);
  if (!cache) {  // the same objective without a kept linearization
    nn::ObjectiveOptions o = b.objective->options();
    o.cache_linearization = false;
    b.objective = std::make_unique<nn::ModelObjective>(b.objective->model(), nn::Loss::CrossEntropy,
                                                       data::build_dataset(s.data), o);
  }
  return b;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(batchnorm)

BOOST_AUTO_TEST_CASE(cnn_bn_relu_matches_pytorch_however_chunked) {
  std::ifstream in(kRef + "cnn_fixtures.json");
  const auto f = nlohmann::json::parse(in).at("cnn_bn_relu");
  struct Case {
    std::size_t chunk;
    bool cache;
    std::size_t threads;
  };
  for (const auto& [chunk, cache, threads] : std::vector<Case>{
           {100, true, 1}, {30, true, 1}, {7, true, 1}, {30, false, 1}, {100, true, 2}, {30, true, 3}, {30, false, 2}}) {
    BOOST_TEST_CONTEXT("chunks of " << chunk << (cache ? "" : ", no kept linearization") << ", " << threads
                                    << " threads") {
      nn::BuiltObjective b = fixture_objective(chunk, cache, threads);
      BOOST_REQUIRE_EQUAL(b.objective->dim(), 2174u);
      BOOST_TEST(b.objective->num_chunks() == threads * ((100 + chunk - 1) / chunk));  // (every chunk has ≥ 3 rows)
      const Tensor theta0 = read_npy_vector(kRef + "cnn_bn_relu_theta0.npy", 2174);
      const Tensor u = read_npy_vector(kRef + "cnn_bn_relu_u.npy", 2174);
      BOOST_TEST(test::close_scalar(b.objective->value(theta0), f.at("loss0").get<double>(), 1e-10));
      const auto vg = b.objective->value_and_grad(theta0);
      BOOST_TEST(test::close_scalar(vg.value, f.at("loss0").get<double>(), 1e-10));
      BOOST_TEST(close(vg.grad, read_npy_vector(kRef + "cnn_bn_relu_grad0.npy"), 1e-10));
      const Tensor Hu_ref = read_npy_vector(kRef + "cnn_bn_relu_Hu.npy");
      BOOST_TEST(close(b.objective->hvp(theta0, u), Hu_ref, 1e-10));
      auto H = b.objective->hessian_at(theta0);
      BOOST_TEST(close(H->apply(u), Hu_ref, 1e-10));
      BOOST_TEST(close(H->apply(u), Hu_ref, 1e-10), "a second application of the same operator");
      BOOST_TEST(test::close_scalar(H->value(), f.at("loss0").get<double>(), 1e-10));
      if (chunk == 30 && cache) {
        analysis::LanczosOptions o;
        o.k = 3;
        o.tol = 1e-11;
        o.max_iter = 400;
        const auto eig = analysis::lanczos_top(*H, o);
        const auto top3 = f.at("top3_eigenvalues").get<std::vector<double>>();
        for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(test::close_scalar(eig.values.at(i), top3[i], 1e-10));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_parameters_start_as_pytorchs) {
  nn::BuiltObjective b = fixture_objective(100);
  const auto slices = b.objective->parameter_slices();
  BOOST_REQUIRE_EQUAL(slices.size(), 10u);  // conv w, b; bn γ, β; conv w, b; bn γ, β; linear w, b
  BOOST_TEST(slices[2].name == "2.weight");
  for (std::size_t i = 0; i < 4; ++i) {
    BOOST_TEST(b.theta0(slices[2].offset + i) == 1.0);  // γ = 1
    BOOST_TEST(b.theta0(slices[3].offset + i) == 0.0);  // β = 0
  }
}

BOOST_AUTO_TEST_CASE(outputs_use_the_whole_batch_and_minibatches_their_own) {
  nn::BuiltObjective one = fixture_objective(100), split = fixture_objective(13);
  const Tensor theta = one.theta0;
  BOOST_TEST(close(split.objective->outputs(theta), one.objective->outputs(theta), 1e-12));
  BOOST_TEST(split.objective->accuracy(theta).value() == one.objective->accuracy(theta).value());
  // A minibatch is normalized by its own statistics: its loss is that of an
  // objective on those examples alone.
  const std::vector<std::size_t> batch = {3, 17, 42, 58, 99};
  nn::ObjectiveSpec s;
  s.data.source = "fashion-mnist";
  s.data.n = 100;
  s.data.standardize = true;
  data::Dataset all = data::build_dataset(s.data);
  nn::ModelObjective alone(split.objective->model(), nn::Loss::CrossEntropy, all.subset(batch), {});
  BOOST_TEST(test::close_scalar(split.objective->batch_value(theta, batch), alone.value(theta), 1e-13));
  Tensor g_batch, g_alone;
  split.objective->batch_value_and_grad(theta, batch, g_batch);
  alone.value_and_grad(theta, g_alone);
  BOOST_TEST(close(g_batch, g_alone, 1e-12));
  // and differs from the whole batch's loss on those rows (the statistics matter)
  BOOST_TEST(std::abs(split.objective->batch_value(theta, batch) - one.objective->value(theta)) > 1e-6);
}

BOOST_AUTO_TEST_CASE(a_failing_part_releases_the_others) {
  // Part 1 fails before its first sum: parts 0 and 2, waiting in it, are
  // released and the failure (not "another part failed") reaches the caller.
  nn::PartsReducer reducer(3, nullptr);
  std::atomic<int> released{0};
  BOOST_CHECK_EXCEPTION(nn::run_parts(3, reducer, [&](std::size_t p) {
    if (p == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      throw std::invalid_argument("part 1: bad data");
    }
    double v = 1.0;
    try {
      reducer.sum(p, &v, 1);
    } catch (...) {
      ++released;
      throw;
    }
  }), std::invalid_argument, [](const std::invalid_argument& e) { return std::string(e.what()) == "part 1: bad data"; });
  BOOST_TEST(released.load() == 2);
  // and the reducer works again afterwards, summing in part order
  std::vector<double> values = {1.0, 2.0, 4.0};
  nn::run_parts(3, reducer, [&](std::size_t p) { reducer.sum(p, &values[p], 1); });
  BOOST_TEST(values == (std::vector<double>{7.0, 7.0, 7.0}));
}

BOOST_AUTO_TEST_CASE(batchnorm1d_features_are_chunk_invariant_too) {
  nn::ObjectiveSpec s;
  s.data.source = "gaussian_clusters";
  s.data.n = 50;
  s.data.dim = 6;
  s.data.classes = 3;
  s.model = "linear(8) tanh bn linear(8) relu bn linear(3)";
  s.chunk_size = 50;
  nn::BuiltObjective one = nn::build_objective(s);
  s.chunk_size = 9;
  nn::BuiltObjective split = nn::build_objective(s);
  std::mt19937_64 rng(3);
  const Tensor theta = one.theta0 + 0.3 * test::random_normal({one.objective->dim()}, rng);
  const Tensor v = test::random_normal({one.objective->dim()}, rng);
  const auto a = one.objective->value_and_grad(theta), b = split.objective->value_and_grad(theta);
  BOOST_TEST(test::close_scalar(a.value, b.value, 1e-13));
  BOOST_TEST(close(a.grad, b.grad, 1e-12));
  BOOST_TEST(close(one.objective->hvp(theta, v), split.objective->hvp(theta, v), 1e-11));
  // and H·v against central differences of the gradient
  const double h = 1e-5;
  const Tensor fd = (split.objective->value_and_grad(theta + h * v).grad - split.objective->value_and_grad(theta - h * v).grad) / (2 * h);
  BOOST_TEST(close(split.objective->hvp(theta, v), fd, 1e-6, 1e-8));
}

BOOST_AUTO_TEST_SUITE_END()
