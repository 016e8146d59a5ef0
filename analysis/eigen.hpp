// Eigen-solvers on Hessian-vector-product operators.
//   lanczos_top      the k largest algebraic eigenvalues: Lanczos with full
//                    reorthogonalization, stopped on the Ritz residual, warm-startable
//   power_iteration  the eigenvalue of largest magnitude (for comparison)
//   dense_top        all of H from n HVPs + LAPACK syevd (small n, tests)
#pragma once

#include <cstdint>
#include <vector>

#include "../autodiff/objective.hpp"

namespace eos::analysis {

struct EigenResult {
  std::vector<double> values;     // descending
  std::vector<Tensor> vectors;    // unit norm, vectors[i] for values[i]
  std::vector<double> residuals;  // ‖Hv − λv‖ of each pair
  std::size_t hvps = 0;           // HVPs used
  std::size_t iterations = 0;
  bool converged = false;
};

struct LanczosOptions {
  std::size_t k = 1;             // how many of the largest eigenvalues
  double tol = 1e-3;             // stop when ‖Hv − λv‖ ≤ tol·|λ| for all k pairs
  std::size_t max_iter = 200;    // Krylov dimension cap (= HVPs cap)
  std::uint64_t seed = 0;        // random start when there is no warm start
  std::vector<Tensor> warm_start;  // e.g. the previous step's eigenvectors
};

// Residuals are the Lanczos estimates |β_{m+1}·y_m| (equal to ‖Hv − λv‖ in
// exact arithmetic; reliable with full reorthogonalization).
EigenResult lanczos_top(HessianOperator& H, const LanczosOptions& options = {});

struct PowerOptions {
  double tol = 1e-3;  // stop when ‖Hv − λv‖ ≤ tol·|λ|
  std::size_t max_iter = 1000;
  std::uint64_t seed = 0;
  Tensor warm_start;  // optional (size 0: random)
};
EigenResult power_iteration(HessianOperator& H, const PowerOptions& options = {});

// The dense Hessian from n HVPs (symmetrized), its k largest eigenpairs by
// LAPACK dsyevd; residuals exact. n ≤ max_dim.
EigenResult dense_top(HessianOperator& H, std::size_t k, std::size_t max_dim = 4096);

// Symmetric eigen-decomposition of a small dense matrix (ascending values,
// eigenvectors in columns): the LAPACK path used by the solvers above.
void symmetric_eigen(const Tensor& A, Tensor& values, Tensor& vectors);

}  // namespace eos::analysis
