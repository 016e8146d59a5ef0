#include "quadrature.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace eos::analysis {

Quadrature gauss_legendre(std::size_t m) {
  if (m == 0) throw std::invalid_argument("gauss_legendre: need at least one node");
  Quadrature q;
  q.nodes.resize(m);
  q.weights.resize(m);
  // Newton on P_m from Chebyshev-like guesses; nodes on [−1, 1] mapped to [0, 1].
  for (std::size_t i = 0; i < (m + 1) / 2; ++i) {
    double x = std::cos(std::numbers::pi * (double(i) + 0.75) / (double(m) + 0.5)), dp = 0.0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1.0, p1 = 0.0;
      for (std::size_t j = 1; j <= m; ++j) {
        const double p2 = p1;
        p1 = p0;
        p0 = ((2.0 * double(j) - 1.0) * x * p1 - (double(j) - 1.0) * p2) / double(j);
      }
      dp = double(m) * (x * p0 - p1) / (x * x - 1.0);
      const double dx = p0 / dp;
      x -= dx;
      if (std::abs(dx) < 1e-16) break;
    }
    const double w = 2.0 / ((1.0 - x * x) * dp * dp);
    q.nodes[i] = 0.5 * (1.0 - x);
    q.nodes[m - 1 - i] = 0.5 * (1.0 + x);
    q.weights[i] = q.weights[m - 1 - i] = 0.5 * w;
  }
  return q;
}

Quadrature uniform_trapezoid(std::size_t m) {
  if (m == 0) throw std::invalid_argument("uniform_trapezoid: need at least one node");
  Quadrature q;
  const double h = 1.0 / double(m);
  for (std::size_t j = 1; j <= m; ++j) {
    q.nodes.push_back(double(j) / double(m));  // exactly 1 at j = m
    q.weights.push_back(j == m ? 0.5 * h : h);  // τ = 0 has weight h/2 and integrand 0
  }
  return q;
}

}  // namespace eos::analysis
