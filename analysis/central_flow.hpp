// The central flow of gradient descent (Cohen, Damian, Talwalkar, Kolter &
// Lee, "Understanding Optimization in Deep Learning with Central Flows",
// 2024): an ODE for the time-averaged trajectory of GD at step size η, also
// at the edge of stability. Time t counts GD steps. With Σ(t) the covariance
// of GD's oscillation around the flow,
//
//   dw/dt = −η [ ∇f(w) + ½ ∇_w⟨Σ, ∇²f(w)⟩ ],
//
// Σ = U X Uᵀ lives on the span U of the top Hessian eigenvectors and is
// chosen at each time so that no eigenvalue there passes 2/η: with
// S = Uᵀ(2/η − ∇²f)U after the step, X ⪰ 0, S ⪰ 0 and ⟨X, S⟩ = 0 (a
// semidefinite complementarity problem, SDCP). Where X = 0 the flow is
// gradient flow; where the sharpness would pass 2/η, Σ > 0 and its
// third-derivative term holds the sharpness at 2/η. The time-averaged loss
// the theory predicts is f(w) + ½⟨Σ, ∇²f(w)⟩ = f(w) + tr(Σ)/η on the critical
// space, and the oscillation's size is √tr(Σ).
//
// Discretized as in the paper, forward Euler with `substeps` steps of
// dt = 1/substeps per GD step; each substep linearizes S(X) over dt:
//   S(X)_ij = (2/η − λ_i)δ_ij + dt·η⟨T_ij, ∇f⟩ + dt·(η/2) Σ_kl ⟨T_ij, T_kl⟩ X_kl,
// with T_ij = ∇_w(u_iᵀ∇²f(w)u_j) = ∇³f(w)[u_i, u_j, ·]. The linear part is a
// Gram operator (monotone), so the SDCP is the convex problem
//   min_X ½⟨X, B(X)⟩ + ⟨A, X⟩ over X ⪰ 0,
// whose KKT conditions it is; solve_sdcp solves that by accelerated
// projected gradient.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "../core/objective.hpp"
#include "../core/state_dict.hpp"
#include "eigen.hpp"

namespace eos::analysis {

// ∇³f(w)[u_i, u_j, ·] for every pair i ≤ j of `directions`, each as a
// central difference of two exact Hessian-vector products along u_i:
//   (∇²f(w + h·u_i) − ∇²f(w − h·u_i))·u_j / (2h)  (error O(h²·‖∇⁴f‖·‖u_i‖²)).
// The tape has one tangent level (forward-over-reverse), so the third
// derivative is not exact; with unit directions, h = 1e-4 leaves a truncation
// error of ~1e-9 relative on the tests' models and a rounding error of
// ~1e-12·‖∇²f‖/h. Costs 2 linearizations per direction and k(k+1) HVPs.
struct ThirdDerivatives {
  std::size_t k = 0;
  std::vector<Tensor> pairs;  // T_ij for i ≤ j, row by row: (0,0), (0,1), …, (0,k−1), (1,1), …
  std::size_t hvps = 0;
  const Tensor& at(std::size_t i, std::size_t j) const;  // either order
};
ThirdDerivatives third_derivatives(Objective& f, const Tensor& w, const std::vector<Tensor>& directions, double h);

// The SDCP for a k × k symmetric X:
//   X ⪰ 0,  S = A + B(X) ⪰ 0,  ⟨X, S⟩ = 0,  B(X)_ij = Σ_kl B[i, j, k, l]·X_kl,
// for B symmetric ((ij) ↔ (kl), i ↔ j) and positive semidefinite on symmetric
// matrices; A symmetric. Solved as min ½⟨X, B(X)⟩ + ⟨A, X⟩ over X ⪰ 0 (FISTA
// with restarts, the projection onto the PSD cone by an eigendecomposition).
// When A has a negative direction that B cannot lift (B's null space), there
// is no solution: `converged` is false and `unbounded` true.
struct SdcpSolution {
  Tensor X, S;            // k × k
  double residual = 0.0;  // ‖X − Π₊(X − S)‖_F: 0 at a solution
  std::size_t iterations = 0;
  bool converged = false;
  bool unbounded = false;
};
SdcpSolution solve_sdcp(const Tensor& A, const Tensor& B, double tol = 1e-12, std::size_t max_iter = 20000);

// k = 1: x = max(0, −a/b) (b > 0); the σ² that keeps one eigenvalue at the
// threshold: with a = 2/η − λ + dt·η⟨∇λ, ∇f⟩ and b = dt·(η/2)‖∇λ‖².
double sdcp_scalar(double a, double b);

struct CentralFlowOptions {
  std::size_t substeps = 4;   // Euler steps per GD step
  std::size_t k = 3;          // top eigenpairs tracked (the critical space is among them)
  double margin = 0.05;       // eigenvalues below (1 − margin)·2/η are not critical candidates
  double h = 1e-4;            // central-difference step of the third derivative (unit directions)
  LanczosOptions lanczos;     // k is set from `k`; warm-started along the flow
};

// The flow at one point w(t) and what the next substep takes from it.
struct CentralFlowPoint {
  double loss = 0.0;                 // f(w)
  Tensor grad;                       // ∇f(w)
  std::vector<double> eigenvalues;   // the top k of ∇²f(w), descending
  std::size_t candidates = 0;        // eigenpairs within the margin of 2/η
  std::vector<Tensor> U;             // their eigenvectors: Σ = U X Uᵀ
  Tensor X;                          // candidates × candidates: Σ = U X Uᵀ
  double trace_sigma = 0.0;          // tr Σ = tr X
  std::size_t critical = 0;          // rank of X: eigenvalues held at 2/η
  Tensor velocity;                   // dw/dt
  std::size_t hvps = 0;              // HVPs this point cost
  bool solved = true;                // false: the SDCP has no solution (see solve_sdcp)
  double predicted_loss(double eta) const { return loss + trace_sigma / eta; }
};

class CentralFlow {
 public:
  CentralFlow(Objective& f, Tensor w0, CentralFlowOptions options);
  const Tensor& w() const { return w_; }
  std::uint64_t time() const { return time_; }  // in GD steps
  // The flow's state at the current time for step size η (computed once per
  // point and η). Throws NumericalError when f or ∇f is not finite there.
  const CentralFlowPoint& point(double eta);
  // Integrates one GD step of time at step size η (`substeps` Euler steps).
  // Throws NumericalError when the flow leaves the finite numbers or its
  // SDCP has no solution (the sharpness cannot be held at 2/η).
  void advance(double eta);
  // Its eigen-solves that max_iter stopped before their rule (step: the flow's time).
  const UnconvergedSolves& unconverged() const { return unconverged_; }
  // w, time, the warm-start vectors and the count of unconverged solves, for checkpoints.
  void save_state(StateDict& into) const;
  void load_state(const StateDict& from);

 private:
  // substep_start: the first substep of a GD step (always solves for the eigenpairs)
  CentralFlowPoint evaluate(double eta, double dt, bool substep_start);
  Objective& f_;
  Tensor w_;
  CentralFlowOptions opt_;
  std::uint64_t time_ = 0;
  std::vector<Tensor> warm_;
  std::vector<double> last_eigenvalues_;  // of the last eigen-solve
  // λ₁ at the start of this GD step and of the one before (when solved):
  // whether later substeps may skip the eigen-solve
  std::optional<double> step_start_lambda_, previous_step_lambda_;
  std::uint64_t solved_at_ = std::uint64_t(-1);
  std::optional<CentralFlowPoint> cached_;  // at w_, for cached_eta_
  double cached_eta_ = 0.0;
  UnconvergedSolves unconverged_;
};

}  // namespace eos::analysis
