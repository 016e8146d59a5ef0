// Uses the installed library: the gradient and HVP of f(θ) = Σ tanh(θᵢ)².
#include <cmath>
#include <cstdio>

#include <eoslab.hpp>

double legacy_headers_work();  // legacy_headers.cpp

int main() {
  using namespace eos::ad;
  const ScalarFunction f = [](Var th) { return sum(square(eos::ad::tanh(th))); };
  const eos::Tensor theta = {0.3, -0.7};
  const eos::Tensor v = {1.0, 0.0};
  const auto r = hvp(f, theta, v);
  // ∂/∂θ tanh² = 2 t (1 − t²);  ∂² = 2(1 − t²)(1 − 3t²)
  const double t = std::tanh(0.3);
  const double g0 = 2 * t * (1 - t * t), h00 = 2 * (1 - t * t) * (1 - 3 * t * t);
  const bool ok = std::abs(r.grad(0) - g0) < 1e-14 && std::abs(r.hvp(0) - h00) < 1e-14 &&
                  std::abs(r.hvp(1)) < 1e-15;
  std::printf("consumer: grad0 = %.15g (expected %.15g), Hv0 = %.15g (expected %.15g): %s\n",
              r.grad(0), g0, r.hvp(0), h00, ok ? "ok" : "MISMATCH");
  const bool legacy = std::isfinite(legacy_headers_work());
  if (!legacy) std::printf("consumer: the forwarding headers gave a non-finite value\n");
  return ok && legacy ? 0 : 1;
}
