#include "eigen.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "../core/random.hpp"

namespace eos::analysis {
namespace {

// The eigenvalue rule also needs r ≤ this × tol·|θ| (see LanczosStop).
constexpr double kValueRuleResidualGuard = 10.0;

double vec_norm(const Tensor& a) { return std::sqrt(inner(a, a)); }
void axpy(double alpha, const Tensor& x, Tensor& y) {  // y += αx
  const double* xs = x.data();
  double* ys = y.data();
  for (std::size_t i = 0, n = x.size(); i < n; ++i) ys[i] += alpha * xs[i];
}
Tensor random_unit(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  Tensor v = Tensor::from_shape({n});
  for (auto& x : v) x = rng.normal();
  return v / vec_norm(v);
}
void check_dim(const HessianOperator& H, const Tensor& v, const char* what) {
  if (v.dimension() != 1 || v.size() != H.dim())
    throw ShapeError(fmt::format("{}: start vector has shape {}, the operator has dimension {}", what,
                                 shape_str_of(v.shape()), H.dim()));
}

// The Lanczos recurrence with full reorthogonalization, shared by lanczos_top
// and lanczos_quadrature: an orthonormal Krylov basis Q and the tridiagonal
// T = QᵀHQ (diagonal α, off-diagonal β).
struct LanczosBasis {
  std::vector<Tensor> Q;
  std::vector<double> alpha, beta;

  // One step from the newest basis vector q_j: w ← Hq_j − α_j q_j − β_{j−1} q_{j−1},
  // orthogonalized against all of Q twice ("twice is enough"); α_j is kept,
  // ‖w‖ is returned. Non-finite numbers are NumericalErrors naming `who`.
  double step(HessianOperator& H, Tensor& w, const char* who) {
    const std::size_t j = Q.size() - 1;
    H.apply(Q[j], w);
    const double a = inner(w, Q[j]);  // non-finite iff w has a NaN/inf entry, or the sum overflowed
    if (!std::isfinite(a))
      throw NumericalError(fmt::format("{}: the operator returned a non-finite vector or one whose inner product "
                                       "overflows (HVP {} of this solve, q·Hq = {})",
                                       who, j + 1, a));
    alpha.push_back(a);
    axpy(-a, Q[j], w);
    if (j > 0) axpy(-beta[j - 1], Q[j - 1], w);
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& qi : Q) axpy(-inner(w, qi), qi, w);
    const double b = vec_norm(w);
    if (!std::isfinite(b))
      throw NumericalError(fmt::format("{}: the Lanczos residual norm overflowed (HVP {} of this solve)", who, j + 1));
    return b;
  }
  // Continues the basis with w/b (b = ‖w‖ > 0 from step).
  void extend(const Tensor& w, double b) {
    beta.push_back(b);
    Q.push_back(w / b);
  }
  // T_m: the leading m × m block of the tridiagonal matrix, m ≤ alpha.size().
  Tensor tridiagonal(std::size_t m) const {
    Tensor T = xt::zeros<double>({m, m});
    for (std::size_t i = 0; i < m; ++i) {
      T(i, i) = alpha[i];
      if (i + 1 < m) T(i, i + 1) = T(i + 1, i) = beta[i];
    }
    return T;
  }
};

}  // namespace

void symmetric_eigen(const Tensor& A, Tensor& values, Tensor& vectors) {
  xt::xtensor<double, 2> M = A;
  auto [w, V] = xt::linalg::eigh(M);
  values = w;
  vectors = V;
}

EigenResult lanczos_top(HessianOperator& H, const LanczosOptions& opt) {
  const std::size_t n = H.dim();
  if (opt.k == 0 || opt.k > n)
    throw std::invalid_argument(fmt::format("lanczos_top: k = {} for an operator of dimension {}", opt.k, n));
  const std::size_t max_m = std::min(opt.max_iter, n);
  if (max_m < opt.k)
    throw std::invalid_argument(fmt::format("lanczos_top: max_iter = {} is less than k = {}", opt.max_iter, opt.k));

  // Start: the sum of the warm-start vectors (their span seeds the Krylov
  // space), else a seeded random vector.
  Tensor q = xt::zeros<double>({n});
  for (const auto& w : opt.warm_start) {
    check_dim(H, w, "lanczos_top");
    axpy(1.0 / std::max(vec_norm(w), 1e-300), w, q);
  }
  if (opt.warm_start.empty() || vec_norm(q) < 1e-12) q = random_unit(n, opt.seed);
  else q /= vec_norm(q);

  LanczosBasis K;
  K.Q.push_back(q);
  Tensor w;
  EigenResult r;
  Tensor evals, evecs;
  const std::size_t hvps_before = H.applications();
  for (std::size_t j = 0; j < max_m; ++j) {
    const double b = K.step(H, w, "lanczos_top");
    const std::size_t m = j + 1;
    symmetric_eigen(K.tridiagonal(m), evals, evecs);  // Ritz pairs of T_m
    const bool exhausted = b <= 1e-12 * std::max(1.0, std::abs(evals(m - 1)));
    auto residual = [&](std::size_t c) { return exhausted ? 0.0 : std::abs(b * evecs(m - 1, c)); };
    // min(r, r²/δ) for Ritz value c, δ from the other Ritz values; r while there is no other.
    auto error_bound = [&](std::size_t c) {
      const double r = residual(c);
      if (m <= opt.k) return r;
      double delta = INFINITY;
      for (std::size_t j = 0; j < m; ++j)
        if (j != c) delta = std::min(delta, std::abs(evals(c) - evals(j)) - residual(j));
      return delta > r ? r * r / delta : r;
    };
    bool done = exhausted;
    if (m >= opt.k && !exhausted) {
      done = true;
      for (std::size_t i = 0; i < opt.k; ++i) {
        const std::size_t c = m - 1 - i;  // ascending order: largest last
        const double scale = opt.tol * std::abs(evals(c));
        const double r = residual(c);
        const bool ok = opt.stop == LanczosStop::Residual
                            ? r <= scale
                            : error_bound(c) <= scale && r <= kValueRuleResidualGuard * scale;
        if (!ok) done = false;
      }
    }
    r.iterations = m;
    if (done || m == max_m) {
      r.converged = done;
      const std::size_t kk = std::min(opt.k + opt.extra, m);
      for (std::size_t i = 0; i < kk; ++i) {
        const std::size_t c = m - 1 - i;
        Tensor v = xt::zeros<double>({n});
        for (std::size_t l = 0; l < m; ++l) axpy(evecs(l, c), K.Q[l], v);
        v /= vec_norm(v);
        r.values.push_back(evals(c));
        r.vectors.push_back(std::move(v));
        r.residuals.push_back(residual(c));
        r.errors.push_back(exhausted ? 0.0 : error_bound(c));
      }
      break;
    }
    K.extend(w, b);
  }
  r.hvps = H.applications() - hvps_before;
  return r;
}

EigenResult power_iteration(HessianOperator& H, const PowerOptions& opt) {
  const std::size_t n = H.dim();
  Tensor v;
  if (opt.warm_start.size() == n && opt.warm_start.dimension() == 1 && vec_norm(opt.warm_start) > 0)
    v = opt.warm_start / vec_norm(opt.warm_start);
  else v = random_unit(n, opt.seed);
  EigenResult r;
  const std::size_t before = H.applications();
  Tensor Hv;
  double lambda = 0.0, res = INFINITY;
  for (std::size_t it = 0; it < opt.max_iter; ++it) {
    H.apply(v, Hv);
    lambda = inner(v, Hv);
    if (!std::isfinite(lambda))
      throw NumericalError(fmt::format("power_iteration: the operator returned a non-finite vector (HVP {})", it + 1));
    Tensor resid = Hv - lambda * v;
    res = vec_norm(resid);
    r.iterations = it + 1;
    if (res <= opt.tol * std::abs(lambda)) {
      r.converged = true;
      break;
    }
    const double nh = vec_norm(Hv);
    if (nh == 0.0) break;
    v = Hv / nh;
  }
  r.values = {lambda};
  r.vectors = {v};
  r.residuals = {res};
  r.hvps = H.applications() - before;
  return r;
}

EigenResult dense_top(HessianOperator& H, std::size_t k, std::size_t max_dim) {
  const std::size_t n = H.dim();
  if (n > max_dim)
    throw std::invalid_argument(fmt::format("dense_top: dimension {} exceeds max_dim = {}", n, max_dim));
  if (k == 0 || k > n) throw std::invalid_argument(fmt::format("dense_top: k = {} for dimension {}", k, n));
  const std::size_t before = H.applications();
  Tensor M = xt::zeros<double>({n, n});
  Tensor e = xt::zeros<double>({n}), col;
  for (std::size_t j = 0; j < n; ++j) {
    e(j) = 1.0;
    H.apply(e, col);
    e(j) = 0.0;
    for (std::size_t i = 0; i < n; ++i) M(i, j) = col(i);
  }
  for (const double x : M)
    if (!std::isfinite(x)) throw NumericalError("dense_top: the operator returned a non-finite entry");
  Tensor S = 0.5 * (M + xt::transpose(M));
  Tensor evals, evecs;
  symmetric_eigen(S, evals, evecs);
  EigenResult r;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t c = n - 1 - i;
    Tensor v = Tensor::from_shape({n});
    for (std::size_t l = 0; l < n; ++l) v(l) = evecs(l, c);
    Tensor resid = Tensor(xt::linalg::dot(M, v)) - evals(c) * v;
    r.values.push_back(evals(c));
    r.vectors.push_back(v);
    r.residuals.push_back(vec_norm(resid));
  }
  r.hvps = H.applications() - before;
  r.iterations = n;
  r.converged = true;
  return r;
}

Quadrature1D lanczos_quadrature(HessianOperator& H, const Tensor& v, std::size_t m) {
  check_dim(H, v, "lanczos_quadrature");
  const std::size_t n = H.dim();
  m = std::min(m, n);
  if (m == 0) throw std::invalid_argument("lanczos_quadrature: m must be at least 1");
  const double nv = vec_norm(v);
  if (!(nv > 0) || !std::isfinite(nv)) throw std::invalid_argument("lanczos_quadrature: the start vector is zero or not finite");
  LanczosBasis K;
  K.Q.push_back(v / nv);
  Tensor w;
  for (std::size_t j = 0; j < m; ++j) {
    const double b = K.step(H, w, "lanczos_quadrature");
    if (j + 1 == m || b <= 1e-12 * std::max(std::abs(K.alpha[j]), 1e-300)) break;  // done, or an invariant subspace
    K.extend(w, b);
  }
  const std::size_t k = K.alpha.size();
  Tensor values, vectors;
  symmetric_eigen(K.tridiagonal(k), values, vectors);
  Quadrature1D q;
  for (std::size_t i = 0; i < k; ++i) {
    q.nodes.push_back(values(i));
    q.weights.push_back(vectors(0, i) * vectors(0, i));
  }
  return q;
}

}  // namespace eos::analysis
