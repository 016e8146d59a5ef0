// Gradient, HVP and linearized HVP of a 784-200-200-10 tanh MLP with mean
// cross-entropy on 5000×784 inputs (float64), next to dgemm GFLOP/s on the
// same shapes measured in the same run. At exit, each time is printed with
// its ratio to the floor: the matrix-product FLOPs divided by dgemm's rate.
//   gradient: forward 3 products + 3 weight adjoints + 2 input adjoints ≈ 4.4 GFLOP
//   tangent-only HVP: 1+2+2 tangent products forward, 1+2+2 weight and
//   2+2 input adjoint-tangent products ≈ 5.7 GFLOP
//   HVP from scratch: both of the above ≈ 10.1 GFLOP
#include <map>
#include <random>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <xtensor-blas/xblas.hpp>

#include <eoslab.hpp>

using namespace eos;
using namespace eos::ad;

namespace {

constexpr std::size_t N = 5000, D = 784, H = 200, K = 10;
constexpr std::size_t kDims[4] = {D, H, H, K};

double gemm_flops(std::size_t m, std::size_t k, std::size_t n) { return 2.0 * m * k * n; }
// Products of one pass over the three layers (fan_in × fan_out each).
double layer_flops(bool include_first) {
  double f = 0;
  for (int l = include_first ? 0 : 1; l < 3; ++l) f += gemm_flops(N, kDims[l], kDims[l + 1]);
  return f;
}
const double kGradFlops = 2 * layer_flops(true) + layer_flops(false);
const double kTangentHvpFlops = 2 * layer_flops(true) + 3 * layer_flops(false);

struct Problem {
  Tensor X, theta, v;
  std::vector<std::int64_t> y;
  Problem() {
    std::mt19937_64 rng(0);
    std::normal_distribution<double> normal;
    X = Tensor::from_shape({N, D});
    for (auto& x : X) x = normal(rng);
    std::uniform_int_distribution<int> label(0, K - 1);
    for (std::size_t i = 0; i < N; ++i) y.push_back(label(rng));
    std::size_t p = 0;
    for (int l = 0; l < 3; ++l) p += kDims[l + 1] * kDims[l] + kDims[l + 1];
    theta = Tensor::from_shape({p});
    v = Tensor::from_shape({p});
    // PyTorch's default init: U(±1/√fan_in) for weights and biases.
    std::size_t o = 0;
    for (int l = 0; l < 3; ++l) {
      std::uniform_real_distribution<double> u(-1.0 / std::sqrt(double(kDims[l])), 1.0 / std::sqrt(double(kDims[l])));
      for (std::size_t i = 0; i < kDims[l + 1] * (kDims[l] + 1); ++i) theta(o++) = u(rng);
    }
    for (auto& x : v) x = normal(rng);
  }
  // The library's MLP (nn::mlp: linear ops reading W, b in place from θ).
  nn::Model model = nn::as_model(nn::mlp({D, {H, H}, nn::ActivationKind::Tanh, K, true}));
  ScalarFunction loss() const {
    return [this](Var th) { return cross_entropy(model.forward(th, th.tape()->constant_view(X)), y); };
  }
};
const Problem& problem() {
  static const Problem p;
  return p;
}

std::map<std::string, double> g_seconds;  // benchmark name → seconds per iteration

// dgemm on the forward shapes (5000×fan_in)·(fan_out×fan_in)ᵀ, as the model runs them.
void BM_dgemm_forward_shapes(benchmark::State& state) {
  std::vector<Tensor> A, W, C;
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  for (int l = 0; l < 3; ++l) {
    A.push_back(Tensor::from_shape({N, kDims[l]}));
    W.push_back(Tensor::from_shape({kDims[l + 1], kDims[l]}));
    C.push_back(Tensor::from_shape({N, kDims[l + 1]}));
    for (auto& x : A.back()) x = normal(rng);
    for (auto& x : W.back()) x = normal(rng);
  }
  for (auto _ : state)
    for (int l = 0; l < 3; ++l) xt::blas::gemm(A[l], W[l], C[l], false, true);
  state.counters["GFLOP/s"] = benchmark::Counter(layer_flops(true) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The floor measured directly: exactly the dgemm calls an operation makes
// (shapes, transposes, β as autodiff/ops_blas.cpp's linear issues them), on
// their own, back to back. Row-major C = op(A)·op(B), M×N, inner K.
struct GemmCall {
  bool ta, tb;
  std::size_t M, N, K;
};
std::vector<GemmCall> gradient_gemms() {
  std::vector<GemmCall> g;
  for (int l = 0; l < 3; ++l) g.push_back({false, true, N, kDims[l + 1], kDims[l]});  // Z = A Wᵀ
  for (int l = 2; l >= 0; --l) {
    g.push_back({true, false, kDims[l + 1], kDims[l], N});        // W̄ += Z̄ᵀ A
    if (l > 0) g.push_back({false, false, N, kDims[l], kDims[l + 1]});  // Ā = Z̄ W
  }
  return g;
}
std::vector<GemmCall> linearized_hvp_gemms() {
  std::vector<GemmCall> g;
  for (int l = 0; l < 3; ++l)  // Ż = Ȧ Wᵀ + A Ẇᵀ (Ȧ = 0 for the input layer)
    for (int k = 0; k < (l ? 2 : 1); ++k) g.push_back({false, true, N, kDims[l + 1], kDims[l]});
  for (int l = 2; l >= 0; --l)  // W̄̇ += Ż̄ᵀ A + Z̄ᵀ Ȧ;  Ā̇ = Ż̄ W + Z̄ Ẇ
    for (int k = 0; k < (l ? 2 : 1); ++k) {
      g.push_back({true, false, kDims[l + 1], kDims[l], N});
      if (l > 0) g.push_back({false, false, N, kDims[l], kDims[l + 1]});
    }
  return g;
}
void run_gemms(benchmark::State& state, const std::vector<GemmCall>& calls) {
  std::vector<std::vector<double>> A, B, C;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  double flops = 0;
  for (const auto& c : calls) {
    A.emplace_back(c.M * c.K);
    B.emplace_back(c.K * c.N);
    C.emplace_back(c.M * c.N, 0.0);
    for (auto& x : A.back()) x = normal(rng);
    for (auto& x : B.back()) x = normal(rng);
    flops += gemm_flops(c.M, c.K, c.N);
  }
  for (auto _ : state)
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const auto& c = calls[i];
      cblas_dgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans, c.tb ? CblasTrans : CblasNoTrans, int(c.M),
                  int(c.N), int(c.K), 1.0, A[i].data(), int(c.ta ? c.M : c.K), B[i].data(), int(c.tb ? c.K : c.N),
                  c.ta ? 1.0 : 0.0, C[i].data(), int(c.N));
    }
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
void BM_gemms_of_gradient(benchmark::State& state) { run_gemms(state, gradient_gemms()); }
void BM_gemms_of_linearized_hvp(benchmark::State& state) { run_gemms(state, linearized_hvp_gemms()); }

void BM_gradient(benchmark::State& state) {
  const auto& p = problem();
  const auto f = p.loss();
  Tape tape;
  for (auto _ : state) benchmark::DoNotOptimize(value_and_grad(tape, f, p.theta).value);
  state.counters["GFLOP/s"] = benchmark::Counter(kGradFlops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_hvp_from_scratch(benchmark::State& state) {
  const auto& p = problem();
  const auto f = p.loss();
  Tape tape;
  for (auto _ : state) benchmark::DoNotOptimize(hvp(tape, f, p.theta, p.v).value);
  state.counters["GFLOP/s"] = benchmark::Counter((kGradFlops + kTangentHvpFlops) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_linearized_hvp(benchmark::State& state) {
  const auto& p = problem();
  Linearized op(p.loss(), p.theta);
  Tensor out;
  for (auto _ : state) {
    op.apply(p.v, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(kTangentHvpFlops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The same with float32 matrix products (LanczosOptions::float32_products):
// sgemm on float32 copies, the tape's values and adjoints rounded once.
void BM_linearized_hvp_float32_products(benchmark::State& state) {
  const auto& p = problem();
  Linearized op(p.loss(), p.theta);
  op.float32_products(true);
  Tensor out;
  for (auto _ : state) {
    op.apply(p.v, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(kTangentHvpFlops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_dgemm_forward_shapes)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_gemms_of_gradient)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_gemms_of_linearized_hvp)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_gradient)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_hvp_from_scratch)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_linearized_hvp)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_linearized_hvp_float32_products)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Console output as usual, plus the per-iteration time of each benchmark.
class Recorder : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs)
      if (r.run_type == Run::RT_Iteration && r.iterations > 0)
        g_seconds[r.run_name.function_name] = r.real_accumulated_time / static_cast<double>(r.iterations);
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  eos::restart_with_cpu_blas_kernel();  // as eoslab does: the CPU's kernel, not OpenBLAS's Prescott fallback
  benchmark::Initialize(&argc, argv);
  Recorder rec;
  benchmark::RunSpecifiedBenchmarks(&rec);
  benchmark::Shutdown();
  const auto g = g_seconds.find("BM_dgemm_forward_shapes");
  if (g == g_seconds.end()) return 0;
  const double rate = layer_flops(true) / g->second;  // FLOP/s of dgemm on these shapes
  fmt::print("\ndgemm on the model's shapes: {:.1f} GFLOP/s\n", rate * 1e-9);
  fmt::print("{:<24} {:>10} {:>10} {:>8}\n", "benchmark", "time ms", "floor ms", "ratio");
  const std::pair<const char*, double> rows[] = {{"BM_gradient", kGradFlops},
                                                 {"BM_hvp_from_scratch", kGradFlops + kTangentHvpFlops},
                                                 {"BM_linearized_hvp", kTangentHvpFlops}};
  for (const auto& [name, flops] : rows) {
    const auto it = g_seconds.find(name);
    if (it == g_seconds.end()) continue;
    const double floor = flops / rate;
    fmt::print("{:<24} {:>10.1f} {:>10.1f} {:>8.2f}\n", name, it->second * 1e3, floor * 1e3, it->second / floor);
  }
  // Against the same dgemm calls timed alone: what the tape adds beyond its products.
  const std::pair<const char*, const char*> own[] = {{"BM_gradient", "BM_gemms_of_gradient"},
                                                     {"BM_linearized_hvp", "BM_gemms_of_linearized_hvp"}};
  fmt::print("\n{:<24} {:>10} {:>15} {:>8}\n", "benchmark", "time ms", "its dgemms ms", "ratio");
  for (const auto& [name, gemms] : own) {
    const auto a = g_seconds.find(name), b = g_seconds.find(gemms);
    if (a == g_seconds.end() || b == g_seconds.end()) continue;
    fmt::print("{:<24} {:>10.1f} {:>15.1f} {:>8.2f}\n", name, a->second * 1e3, b->second * 1e3, a->second / b->second);
  }
  return 0;
}
