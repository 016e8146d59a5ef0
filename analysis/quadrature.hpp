// Quadrature rules on [0, 1] for the Theorem 2 integral 2∫₀¹ τ L(θ; ητ∇f) dτ.
#pragma once

#include <vector>

namespace eos::analysis {

struct Quadrature {
  std::vector<double> nodes, weights;  // Σ wᵢ g(τᵢ) ≈ ∫₀¹ g
};
// m-point Gauss–Legendre on [0, 1] (exact for polynomials of degree 2m − 1).
Quadrature gauss_legendre(std::size_t m);
// The paper's grid τ = 1/m, 2/m, …, 1 with trapezoid weights, plus the
// endpoint τ = 0 where the Theorem 2 integrand τ·L vanishes (so it carries no node).
Quadrature uniform_trapezoid(std::size_t m);

}  // namespace eos::analysis
