// The eoslab half of bench/compare_torch_cnn.py: Cohen et al.'s cnn-relu
// (conv 3×3 pad 1 ×32, ReLU, max pool 2, twice; Linear(1568, 10)) on 200
// random 28×28 images (N(0, 1) pixels, uniform labels), mean cross-entropy,
// float64. Results as one JSON object on stdout.
//   bench_conv export DIR    X.npy [200, 784], y.npy (labels as float64), theta0.npy, v.npy
//   bench_conv time          gradient, linearized HVP, HVP from scratch (seconds per call, best of
//                            the repetitions after a warm-up; each chunk in one part per core, as
//                            `eoslab train` runs, and the same in one part), the FLOP floor at this machine's dgemm
//                            rate on the layers' own shapes, peak RSS; then λmax every step on 1000
//                            images (seconds per GD step with the sharpness plugin)
//   bench_conv repeat WHAT N     N calls of gradient | hvp_linearized | hvp_scratch and nothing
//                            else, for a profiler (perf record -g bench_conv repeat gradient 50)
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include <cblas.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <eoslab.hpp>

using namespace eos;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kImages = 200, kPixels = 784;

data::Dataset random_images(std::size_t n) {
  std::mt19937_64 rng(0);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> label(0, 9);
  data::Dataset ds;
  ds.X = Tensor::from_shape({n, kPixels});
  for (auto& x : ds.X) x = normal(rng);
  for (std::size_t i = 0; i < n; ++i) ds.labels.push_back(label(rng));
  ds.num_classes = 10;
  ds.source = "random 28×28 images";
  return ds;
}

// As `eoslab train` computes by default: every chunk in one part per core.
std::size_t default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

nn::BuiltObjective cnn_relu(std::size_t n, std::size_t threads = default_threads()) {
  nn::ObjectiveSpec spec;
  spec.arch = "cnn-relu";
  spec.data.source = "idx";  // (only its image shape is read: [1, 28, 28] for 784 values)
  spec.chunk_size = n;
  spec.threads = threads;
  return nn::build_objective_on(spec, random_images(n));
}

Tensor direction(std::size_t n) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  Tensor v = Tensor::from_shape({n});
  for (auto& x : v) x = normal(rng);
  return v;
}

template <class F>
double best_of(F&& f, int reps) {
  f();  // warm-up: buffers, BLAS threads
  double best = INFINITY;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// The matrix products of one image, per layer (conv as im2col GEMMs, PyTorch's
// algorithm too): conv1 32×9·784, conv2 32×288·196, linear 10×1568.
struct Gemm {
  std::size_t m, k, n;
  double flops() const { return 2.0 * double(m * k * n); }
};
const Gemm kConv1{32, 9, 784}, kConv2{32, 288, 196}, kLinear{10, 1568, 1};
// gradient: forward, weight adjoints, and input adjoints of conv2 and linear
double gradient_flops() { return kImages * (2 * kConv1.flops() + 3 * kConv2.flops() + 3 * kLinear.flops()); }
// tangent-only HVP: Ẇ x (+ W ẋ) forward, W̄̇ (two terms) and x̄̇ (two terms) backward
double linearized_flops() { return kImages * (2 * kConv1.flops() + 6 * kConv2.flops() + 6 * kLinear.flops()); }

double dgemm_rate() {  // FLOP/s of dgemm on conv2's shape, the bulk of the work
  std::vector<double> A(kConv2.m * kConv2.k, 0.5), B(kConv2.k * kConv2.n, 0.25), C(kConv2.m * kConv2.n);
  const auto once = [&] {
    for (std::size_t i = 0; i < kImages; ++i)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(kConv2.m), int(kConv2.n), int(kConv2.k), 1.0, A.data(),
                  int(kConv2.k), B.data(), int(kConv2.n), 0.0, C.data(), int(kConv2.n));
  };
  return kImages * kConv2.flops() / best_of(once, 5);
}

int export_data(const std::string& dir) {
  auto b = cnn_relu(kImages);
  const data::Dataset ds = random_images(kImages);
  write_npy(dir + "/X.npy", ds.X);
  Tensor y = Tensor::from_shape({kImages});
  for (std::size_t i = 0; i < kImages; ++i) y(i) = double(ds.labels[i]);
  write_npy(dir + "/y.npy", y);
  write_npy(dir + "/theta0.npy", b.theta0);
  write_npy(dir + "/v.npy", direction(b.theta0.size()));
  return 0;
}

int time_all(int reps, std::size_t lambda_steps) {
  auto b = cnn_relu(kImages);
  auto& obj = *b.objective;
  const Tensor& theta = b.theta0;
  const Tensor v = direction(theta.size());
  nlohmann::json j, t;
  Tensor g, out;
  j["loss"] = obj.value_and_grad(theta, g);
  j["grad_norm"] = std::sqrt(inner(g, g));
  t["gradient"] = best_of([&] { obj.value_and_grad(theta, g); }, reps);
  t["hvp_scratch"] = best_of([&] { out = obj.hvp(theta, v); }, reps);
  j["hvp_norm"] = std::sqrt(inner(out, out));
  {
    auto H = obj.hessian_at(theta);
    t["hvp_linearized"] = best_of([&] { H->apply(v, out); }, reps);
  }
  j["threads"] = obj.threads();
  if (obj.threads() > 1) {  // the same work in one part, BLAS on all threads (what the parts save)
    auto one = cnn_relu(kImages, 1);
    t["gradient_one_part"] = best_of([&] { one.objective->value_and_grad(theta, g); }, reps);
    auto H = one.objective->hessian_at(theta);
    t["hvp_linearized_one_part"] = best_of([&] { H->apply(v, out); }, reps);
  }
  const double rate = dgemm_rate();
  j["dgemm_gflops"] = rate * 1e-9;
  j["floor"] = {{"gradient", gradient_flops() / rate}, {"hvp_linearized", linearized_flops() / rate}};
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  j["peak_rss_mib_200"] = double(ru.ru_maxrss) / 1024.0;
  if (lambda_steps > 0) {  // λmax at every step of GD on 1000 images
    auto big = cnn_relu(1000);
    optim::GradientDescent gd(optim::Schedule::constant(2.0 / 30.0));
    analysis::TrainerOptions o;
    o.max_steps = lambda_steps;
    o.divergence_factor = INFINITY;
    analysis::Trainer trainer(*big.objective, gd, o);
    trainer.attach(analysis::PluginRegistry::global().create_from_spec("sharpness"));
    const auto t0 = Clock::now();
    const auto r = trainer.run(big.theta0);
    t["gd_step_with_lambda_1000"] = std::chrono::duration<double>(Clock::now() - t0).count() / double(lambda_steps + 1);
    double hvps = 0;
    for (std::size_t s = 0; s <= lambda_steps; ++s) hvps += r.metrics.at(s, "sharpness_hvps").value();
    j["hvps_per_step_1000"] = hvps / double(lambda_steps + 1);
    getrusage(RUSAGE_SELF, &ru);
    j["peak_rss_mib_1000"] = double(ru.ru_maxrss) / 1024.0;
  }
  j["seconds"] = t;
  fmt::print("{}\n", j.dump(2));
  return 0;
}

int repeat(const std::string& what, int n) {
  auto b = cnn_relu(kImages);
  auto& obj = *b.objective;
  const Tensor v = direction(b.theta0.size());
  Tensor g, out;
  auto H = obj.hessian_at(b.theta0);
  for (int i = 0; i < n; ++i) {
    if (what == "gradient") obj.value_and_grad(b.theta0, g);
    else if (what == "hvp_linearized") H->apply(v, out);
    else if (what == "hvp_scratch") out = obj.hvp(b.theta0, v);
    else throw std::invalid_argument(fmt::format("repeat: '{}', expected gradient, hvp_linearized or hvp_scratch", what));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  eos::restart_with_cpu_blas_kernel();  // as eoslab does: the CPU's kernel, not OpenBLAS's Prescott fallback
  try {
    if (argc == 3 && std::strcmp(argv[1], "export") == 0) return export_data(argv[2]);
    if (argc >= 2 && std::strcmp(argv[1], "time") == 0) {
      const int reps = argc >= 3 ? std::atoi(argv[2]) : 3;
      const std::size_t steps = argc >= 4 ? std::size_t(std::atoi(argv[3])) : 5;
      return time_all(std::max(reps, 1), steps);
    }
    if (argc == 4 && std::strcmp(argv[1], "repeat") == 0) return repeat(argv[2], std::max(std::atoi(argv[3]), 1));
    fmt::print(stderr, "usage: bench_conv export DIR | bench_conv time [REPS [LAMBDA_STEPS]] | bench_conv repeat WHAT N\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_conv: {}\n", e.what());
    return 1;
  }
}
