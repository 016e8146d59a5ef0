// autodiff_tour: the gradient and exact Hessian-vector product of two small
// functions, each printed next to its central-difference check.
//   1. the paper's single neuron f(θ) = (θ₁·tanh θ₂)² (Example 3) at θ = (13, 0.01)
//   2. a 2-layer tanh MLP with mean cross-entropy on random data
// and then Example 3 trained with analysis plugins attached.
#include <cstdio>
#include <random>

#include <fmt/format.h>

#include <eoslab.hpp>

using namespace eos;
using namespace eos::ad;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
  return m;
}
double max_abs(const Tensor& a) {
  double m = 0.0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

void report(const char* name, const ScalarFunction& f, const Tensor& theta, const Tensor& v) {
  const double h = 1e-5;
  const auto r = hvp(f, theta, v);
  // ∂f/∂θᵢ ≈ (f(θ + h eᵢ) − f(θ − h eᵢ)) / 2h
  Tensor fd_grad = Tensor::from_shape(theta.shape());
  for (std::size_t i = 0; i < theta.size(); ++i) {
    Tensor p = theta, m = theta;
    p(i) += h;
    m(i) -= h;
    fd_grad(i) = (value_and_grad(f, p).value - value_and_grad(f, m).value) / (2 * h);
  }
  // Hv ≈ (∇f(θ + hv) − ∇f(θ − hv)) / 2h
  const Tensor fd_hvp =
      (value_and_grad(f, theta + h * v).grad - value_and_grad(f, theta - h * v).grad) / (2 * h);
  fmt::print("== {} (n = {} parameters)\n", name, theta.size());
  fmt::print("f(θ) = {:.12g}\n", r.value);
  const std::size_t show = std::min<std::size_t>(theta.size(), 4);
  fmt::print("{:>4} {:>20} {:>20} {:>20} {:>20}\n", "i", "grad (AD)", "grad (FD)", "Hv (AD)", "Hv (FD)");
  for (std::size_t i = 0; i < show; ++i)
    fmt::print("{:>4} {:>20.12g} {:>20.12g} {:>20.12g} {:>20.12g}\n", i, r.grad(i), fd_grad(i),
               r.hvp(i), fd_hvp(i));
  if (show < theta.size()) fmt::print("   … ({} more)\n", theta.size() - show);
  fmt::print("max |grad AD − FD| / max|grad| = {:.2e}\n", max_abs_diff(r.grad, fd_grad) / max_abs(r.grad));
  fmt::print("max |Hv AD − FD|   / max|Hv|   = {:.2e}\n\n", max_abs_diff(r.hvp, fd_hvp) / max_abs(r.hvp));
}

}  // namespace

int main() {
  // OpenBLAS's Prescott fallback on a CPU it does not know costs ~4×: start
  // again on the CPU's kernel (core/blas_kernel.hpp), as eoslab does.
  eos::restart_with_cpu_blas_kernel();
  try {
    // Example 3 of the paper: a single tanh neuron.
    const ScalarFunction neuron = [](Var th) {
      return square(slice(th, 0, {}) * ad::tanh(slice(th, 1, {})));
    };
    report("single neuron (θ₁·tanh θ₂)² at θ = (13, 0.01), v = (1, 1)", neuron,
           Tensor{13.0, 0.01}, Tensor{1.0, 1.0});

    // A small tanh MLP, 10 → 8 → 3, mean cross-entropy on 32 random examples.
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal;
    const std::size_t n = 32, d = 10, hdim = 8, k = 3;
    Tensor X = Tensor::from_shape({n, d});
    for (auto& x : X) x = normal(rng);
    std::vector<std::int64_t> y(n);
    for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::int64_t>(i % k);
    const ScalarFunction mlp = [&](Var th) {
      Tape& t = *th.tape();
      std::size_t o = 0;
      Var W1 = slice(th, o, {hdim, d}); o += hdim * d;
      Var b1 = slice(th, o, {hdim}); o += hdim;
      Var W2 = slice(th, o, {k, hdim}); o += k * hdim;
      Var b2 = slice(th, o, {k});
      Var a1 = ad::tanh(matmul(t.constant_view(X), W1, false, true) + b1);
      return cross_entropy(matmul(a1, W2, false, true) + b2, y);
    };
    const std::size_t p = hdim * d + hdim + k * hdim + k;
    Tensor theta = Tensor::from_shape({p}), v = Tensor::from_shape({p});
    for (auto& x : theta) x = 0.3 * normal(rng);
    for (auto& x : v) x = normal(rng);
    report("tanh MLP 10-8-3, mean cross-entropy, 32 random examples", mlp, theta, v);

    // Example 3 trained with GD at η = 2/150: GD goes unstable, then settles
    // where L(θ; η∇f) ≈ 2/η and RP ≈ 0 while λmax climbs to just below 2/η.
    auto objective = analysis::toys::tanh_neuron();
    optim::GradientDescent gd(optim::Schedule::constant(2.0 / 150));
    analysis::TrainerOptions options;
    options.max_steps = 300;
    analysis::Trainer trainer(*objective, gd, options);
    auto& registry = analysis::PluginRegistry::global();
    for (const char* spec : {"loss", "rp", "sharpness:tol=1e-8"})
      trainer.attach(registry.create_from_spec(spec), analysis::When::every_k(30));
    const auto run = trainer.run(Tensor{13.0, 0.01});
    fmt::print("== {}, GD with η = 2/150 (2/η = 150): {}\n", objective->describe(), run.describe());
    fmt::print("{:>5} {:>12} {:>9} {:>10} {:>10}\n", "step", "loss", "RP", "L(θ;ηg)", "λmax");
    for (std::size_t r = 0; r < run.metrics.rows.size(); r += 30)
      fmt::print("{:>5} {:>12.4e} {:>9.4f} {:>10.3f} {:>10.3f}\n", r, run.metrics.at(r, "loss").value(),
                 run.metrics.at(r, "rp").value(), run.metrics.at(r, "L_dir").value(),
                 run.metrics.at(r, "lambda_max").value());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eoslab_demo: %s\n", e.what());
    return 1;
  }
}
