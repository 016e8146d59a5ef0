// Eigen-solvers on Hessian-vector-product operators.
//   lanczos_top      the k largest algebraic eigenvalues: Lanczos with full
//                    reorthogonalization, stopped on the Ritz residual, warm-startable
//   power_iteration  the eigenvalue of largest magnitude (for comparison)
//   dense_top        all of H from n HVPs + LAPACK syevd (small n, tests)
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "../core/objective.hpp"
#include "../core/state_dict.hpp"

namespace eos::analysis {

struct EigenResult {
  std::vector<double> values;     // descending
  std::vector<Tensor> vectors;    // unit norm, vectors[i] for values[i]
  std::vector<double> residuals;  // ‖Hv − λv‖ of each pair
  std::vector<double> errors;     // estimate of |λ − θ| of each pair: min(r, r²/δ) (see LanczosStop)
  std::vector<double> gaps;       // the δ of each pair (0: none known, the error is r)
  // H·vectors[i], where the solver has them without further HVPs (the
  // Subspace start, and the float64 check of a mixed solve), else empty.
  std::vector<Tensor> products;
  std::size_t hvps = 0;           // HVPs used
  std::size_t float32_hvps = 0;   // of which with float32 products (LanczosOptions::float32_products)
  std::size_t check_hvps = 0;     // of which the float64 check of a mixed solve's pairs
  // A mixed solve whose float32 products left float32's range (non-finite):
  // the pairs are a float64 solve's, the float32 HVPs spent before it counted.
  bool float32_out_of_range = false;
  bool on_assumed_gap = false;    // stopped on LanczosOptions::assumed_gap, the rest of the start unpaid
  std::size_t iterations = 0;
  bool converged = false;
};

// When lanczos_top stops, for each of the k top Ritz pairs (θ, v) with
// residual r = ‖Hv − θv‖:
//   Residual  r ≤ tol·|θ|: θ is within r of an eigenvalue, and the vector is
//             good to about r/gap.
//   Value     the eigenvalue itself is good to tol: θ is within r²/δ of an
//             eigenvalue when the rest of the spectrum is at least δ away
//             (Kato–Temple), with δ estimated from the other Ritz values,
//             δ = min_j (|θ − θ_j| − r_j); where δ ≤ r (a small gap) the bound
//             is r itself. Stops on min(r, r²/δ) ≤ tol·|θ| and r ≤ 10·tol·|θ|,
//             and only uses δ once there are k + 1 Ritz values.
//             The estimate of δ cannot see an eigenvalue that the Krylov space
//             has not yet split from θ: inside a cluster narrower than about
//             10·tol·|θ| the error can reach the cluster's width (the residual
//             guard keeps it there). Needs a few HVPs less than Residual when
//             the top eigenvalue is separated; tests/analysis/test_eigen.cpp
//             measures both on random spectra.
// `errors` holds min(r, r²/δ) for each returned pair.
enum class LanczosStop { Residual, Value };

// How lanczos_top uses warm_start:
//   Sum       Lanczos from one start vector, the sum of the unit warm-start
//             vectors (their span seeds the Krylov space; 1 HVP per step);
//   Subspace  the warm-start vectors span the first subspace (one HVP each,
//             after orthogonalization; nearly dependent ones are dropped), and
//             Rayleigh–Ritz on it; each further HVP adds the residual
//             Hx − θx of the least converged of the k top Ritz pairs
//             (Davidson with the identity preconditioner: from one vector it
//             is Lanczos), with a thick restart to the best k + extra + 1
//             Ritz pairs when the basis reaches `restart_size`. The residuals
//             are computed explicitly from the stored products HV.
enum class WarmStart { Sum, Subspace };

struct LanczosOptions {
  std::size_t k = 1;             // how many of the largest eigenvalues
  double tol = 1e-3;             // relative tolerance of the stopping rule
  LanczosStop stop = LanczosStop::Residual;
  std::size_t max_iter = 200;    // Krylov dimension cap (= HVPs cap)
  std::uint64_t seed = 0;        // random start when there is no warm start
  std::vector<Tensor> warm_start;  // e.g. the previous step's eigenvectors
  // Ritz pairs returned beyond the k that the stopping rule checks (not
  // converged; good warm-start material for the next call).
  std::size_t extra = 0;
  WarmStart start = WarmStart::Sum;
  // Mixed precision: the solve's HVPs with float32 matrix products (where
  // the operator has them, HessianOperator::float32_products), the basis,
  // orthogonalization and Ritz values in float64; then each of the k top
  // pairs is checked with one float64 HVP — its Rayleigh quotient is the value
  // returned, its residual the one reported — and where the check fails the
  // rule, a float64 solve continues from the vectors found. Where a float32
  // product is not finite (float32 ends at ~3.4e38, float64 at ~1.8e308: a
  // run on its way to diverging gets there first in float32), the solve is
  // done again in float64, and only a non-finite float64 product is a
  // NumericalError.
  bool float32_products = false;
  // With float32_products and the Subspace start: the first k warm-start
  // vectors (the predicted top pairs) take float64 products, the rest (the
  // extra vectors that guard against crossing eigenvalues, and each further
  // HVP) float32. Where Rayleigh–Ritz on the first k alone meets the rule —
  // δ from the Ritz values of the whole start, and the whole start's top k
  // Ritz values above theirs by no more than tol·|θ| (more is a crossing, or
  // a prediction the guards improve on) — those pairs are returned as they
  // are: their products are float64, so they need no check (the error
  // reported is the larger of min(r, r²/δ) and that excess). Else the solve
  // goes on in float32 and is checked as above. Where the start is good the
  // solve costs k float64 and `extra` float32 HVPs, and no check.
  bool float64_lead = false;
  // A gap assumed between the top k eigenvalues and the rest of the spectrum
  // (0: none), e.g. from an earlier solve's Ritz values (the sharpness plugin's
  // guard_every). With the Subspace start and more than k warm-start vectors:
  // the first k are paid first, and where Rayleigh–Ritz on them alone meets
  // the rule with δ = assumed_gap (Kato–Temple: θ within r²/δ of an eigenvalue
  // when the rest is at least δ away), the solve stops there, k HVPs, without
  // the rest of the start (the guard against a crossing eigenvalue) and
  // returns only those pairs; else it goes on from them as without it. Not
  // with float32 products unless float64_lead (the lead is then float64).
  // Whether the gap holds is the caller's assumption; the solve cannot see it.
  double assumed_gap = 0.0;
  std::size_t restart_size = 24;  // Subspace: basis size that triggers a thick restart (at least 3(k + extra + 1))
};

// LanczosOptions::assumed_gap along a run of warm-started solves (the
// sharpness plugin's guard_every): the extra warm-start vectors guard against
// an eigenvalue crossing into the top k, and a solve that assumes a gap may
// go without them. At the edge of stability H oscillates with period two and
// the gap below the top differs between the phases (along the 1000-step
// benchmark by up to 36 % of λ from one step to the next: a gap carried to
// the next step would have been more than the truth at 69 steps), so the
// schedule measures both phases: two guarded solves in a row, then the next
// 2·(every − 1) solves may each assume a third (kAssumed) of the smaller of
// their two gaps δ (each from its Ritz values, and at least kFrom·|θ| for
// each of its top k pairs), while the caller calls the run calm (the
// sharpness plugin: its last two solves took fewer than 3 HVPs); then two
// guarded ones again. The gaps are Ritz estimates, and the guard's Ritz value
// is at most λ₂, so they can be too large where the guard vector misses the
// second eigenvector: on that benchmark (guard_every = 2) with the guard from
// step t − 1 the assumed gap was below the true one at 235 of the 236 solves
// on the lead alone, and 1.7× above it at one (step 424, where λmax was still
// within 5.1e-4; replayed on the true gaps, a third leaves 1.5× and a half
// 1.007× there); with the sharpness plugin's guard from the same phase, below
// it at all 227 (true/assumed ≥ 1.13), and from t − 2 even before the onset,
// where it had gone stale, above it at 6 (down to 0.83). Where it is
// above, the error bound r²/δ is low by that factor — and an eigenvalue that
// crossed in between is found by the next guarded solve (docs/PERFORMANCE.md).
struct GuardSchedule {
  std::uint64_t every = 1;
  std::array<double, 2> gaps{};        // of the last two guarded solves, newer first (0: none, or too small)
  std::uint64_t guarded_in_a_row = 0;    // up to 2
  std::uint64_t unguarded_in_a_row = 0;  // solves that stopped on the assumed gap
  static constexpr double kFrom = 0.1;
  static constexpr double kAssumed = 1.0 / 3.0;
  // The assumed_gap of the next solve (0: it pays its guard).
  double next(bool calm) const;
  // After each solve (k: its LanczosOptions::k).
  void record(const EigenResult& r, std::size_t k);
};

// The solves along a run that stopped before their stopping rule (out of
// HVPs at max_iter): the value of one is the Ritz value reached, not one
// good to tol. Each eigen-plugin (and the central flow) counts its own over
// the whole run as checkpoint state, so that a resumed run counts from step
// 0, and reports them in summary.json, where `eoslab train` and `analyze`
// look to warn.
struct UnconvergedSolves {
  std::uint64_t solves = 0, unconverged = 0;
  std::uint64_t first_step = 0;    // where the first unconverged one was
  double largest_residual = 0.0;   // ‖Hv − θv‖/|θ| of the top pair, largest over the unconverged (inf: not finite)
  void record(const EigenResult& r, std::uint64_t step);
  void save_state(StateDict& into) const;
  void load_state(const StateDict& from);  // checkpoints before 2026-12-06 hold none: counted from there
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

// Gauss quadrature of the spectral measure μ_v = Σᵢ (uᵢᵀv)² δ_λᵢ of H seen
// from a unit vector v (Golub–Meurant; the building block of stochastic
// Lanczos quadrature): m Lanczos steps from v with full reorthogonalization,
// nodes = the Ritz values of T_m, weights = the squared first components of
// its eigenvectors (they sum to 1). Exact for polynomials of degree < 2m, so
// vᵀ H v = Σ w·node. Stops early (fewer nodes) when the Krylov space closes.
struct Quadrature1D {
  std::vector<double> nodes, weights;
};
Quadrature1D lanczos_quadrature(HessianOperator& H, const Tensor& v, std::size_t m);

// Symmetric eigen-decomposition of a small dense matrix (ascending values,
// eigenvectors in columns): the LAPACK path used by the solvers above.
void symmetric_eigen(const Tensor& A, Tensor& values, Tensor& vectors);

}  // namespace eos::analysis
