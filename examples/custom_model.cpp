// A user's own model, no library code touched: a residual tanh MLP written as
// a forward function over its parameters by name. The layout declares each
// one (name, shape) and assigns θ's offsets; the model plugs into
// ModelObjective like a library MLP: full-batch loss, gradient and exact
// HVPs, minibatch gradients, accuracy. (examples/residual_cnn.cpp composes
// the library's modules instead.)
//
//   h₀ = tanh(x W₀ᵀ + b₀),  h₁ = h₀ + tanh(h₀ W₁ᵀ),  logits = h₁ W₂ᵀ
#include <cstdio>

#include <fmt/format.h>

#include <eoslab.hpp>

using namespace eos;

int main() {
  // OpenBLAS's Prescott fallback on a CPU it does not know costs ~4×: start
  // again on the CPU's kernel (core/blas_kernel.hpp), as eoslab does.
  eos::restart_with_cpu_blas_kernel();
  try {
    const std::size_t d = 8, h = 16, k = 3;
    nn::ParameterLayout layout;
    layout.add("W0", {h, d}).add("b0", {h}).add("W1", {h, h}).add("W2", {k, h});
    const nn::Model residual = nn::custom_model("residual tanh MLP", layout, [](const nn::Params& p, ad::Var x) {
      ad::Var h0 = ad::tanh(ad::matmul(x, p["W0"], false, true) + p["b0"]);
      ad::Var h1 = h0 + ad::tanh(ad::matmul(h0, p["W1"], false, true));
      return ad::matmul(h1, p["W2"], false, true);
    });

    const data::Dataset ds = data::gaussian_clusters(600, d, k, 1.5, 7);
    nn::ModelObjective objective(residual, nn::Loss::CrossEntropy, ds, {.chunk_size = 256});

    Rng rng(1);
    Tensor theta = Tensor::from_shape({residual.num_params});
    for (auto& w : theta) w = 0.3 * rng.normal();

    optim::Adam adam(optim::Schedule::constant(0.01));
    data::MinibatchSampler sampler(ds.size(), 64, data::MinibatchSampler::Replacement::Without, 2);
    fmt::print("{}\n", objective.describe());
    fmt::print("{:>6} {:>12} {:>10}\n", "epoch", "loss", "accuracy");
    for (std::size_t last = SIZE_MAX; sampler.epoch() < 20;) {
      adam.step(theta, objective.batch_value_and_grad(theta, sampler.next()).grad);
      if (sampler.epoch() % 5 == 0 && sampler.epoch() != last) {
        last = sampler.epoch();
        fmt::print("{:>6} {:>12.6f} {:>10.3f}\n", last, objective.value(theta), *objective.accuracy(theta));
      }
    }
    // Exact curvature along the gradient at the trained point.
    auto H = objective.hessian_at(theta);
    const Tensor& g = H->grad();
    const Tensor Hg = H->apply(g);
    fmt::print("gᵀHg / ‖g‖² = {:.6g} (curvature along the gradient)\n",
               xt::sum(g * Hg)() / xt::sum(g * g)());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_model: %s\n", e.what());
    return 1;
  }
}
