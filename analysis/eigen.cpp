#include "eigen.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include "../core/lanes.hpp"
#include "../core/random.hpp"

namespace eos::analysis {
namespace {

// The eigenvalue rule also needs r ≤ this × tol·|θ| (see LanczosStop).
constexpr double kValueRuleResidualGuard = 10.0;

void axpy(double alpha, const Tensor& x, Tensor& y) {  // y += αx
  const double* xs = x.data();
  double* ys = y.data();
  for (std::size_t i = 0, n = x.size(); i < n; ++i) ys[i] += alpha * xs[i];
}
// Full reorthogonalization of w against an orthonormal basis Q: a second
// pass only where the first cancelled much of w, ‖w′‖ < η‖w‖ (Daniel, Gragg,
// Kaufman and Stewart 1976; η = 1/√2, ARPACK's 0.717). Where it did not, the
// first pass's rounding, ~ε‖w‖ along Q, is already ~ε relative to ‖w′‖; a
// second pass is needed when w lay mostly in span Q. Returns ‖w‖ after.
constexpr double kSecondPassBelow = 0.7071067811865476;
double orthogonalize(const std::vector<Tensor>& Q, Tensor& w, double norm_before) {
  double after = norm_before;
  for (int pass = 0; pass < 2; ++pass) {
    const double before = after;
    for (const auto& q : Q) axpy(-inner(w, q), q, w);
    after = eos::norm(w);
    if (after >= kSecondPassBelow * before) break;  // false for NaN: the caller's check sees it
  }
  return after;
}
Tensor random_unit(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  Tensor v = Tensor::from_shape({n});
  for (auto& x : v) x = rng.normal();
  return v / eos::norm(v);
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
  // then orthogonalized against all of Q (orthogonalize: once, twice where
  // the first pass cancelled much); α_j is kept, ‖w‖ is returned. Non-finite
  // numbers are NumericalErrors naming `who`.
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
    const double b = orthogonalize(Q, w, eos::norm(w));
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

// The stopping rules of LanczosStop on Ritz values θ (ascending) with
// residual norms r: the error estimate min(r, r²/δ) of pair c, δ from the
// other Ritz values (r alone while there are no more than k of them), and
// whether the top k pairs meet the rule.
// δ of a value θ against the Ritz values θ_j other than `except`: min_j |θ − θ_j| − r_j.
double gap_to_others(double value, const std::vector<double>& theta, const std::vector<double>& r, std::size_t except) {
  double delta = INFINITY;
  for (std::size_t j = 0; j < theta.size(); ++j)
    if (j != except) delta = std::min(delta, std::abs(value - theta[j]) - r[j]);
  return delta;
}
double gap_of(const std::vector<double>& theta, const std::vector<double>& r, std::size_t c, std::size_t k) {
  if (theta.size() <= k) return 0.0;  // no other Ritz value to say how far the rest is: r alone
  return gap_to_others(theta[c], theta, r, c);
}
double error_from(double r, double delta) {
  if (!(delta > r)) return r;
  const double e = r * r / delta;
  // r² past float64's range (r beyond ~1e154, or below ~1e-135): r·(r/δ)
  return square_in_range(e) || (r == 0 && std::isfinite(e)) ? e : r * (r / delta);
}
double error_bound(const std::vector<double>& theta, const std::vector<double>& r, std::size_t c, std::size_t k) {
  return error_from(r[c], gap_of(theta, r, c, k));
}
// Whether a pair (θ, residual r, error estimate e) meets the rule.
bool meets_rule(double theta, double r, double error, const LanczosOptions& opt) {
  const double scale = opt.tol * std::abs(theta);
  return opt.stop == LanczosStop::Residual ? r <= scale : error <= scale && r <= kValueRuleResidualGuard * scale;
}
// How far pair c is from meeting the rule: ≤ 1 when it meets it.
double rule_ratio(const std::vector<double>& theta, const std::vector<double>& r, std::size_t c,
                  const LanczosOptions& opt) {
  const double scale = opt.tol * std::abs(theta[c]);
  if (opt.stop == LanczosStop::Residual) return r[c] / scale;
  return std::max(error_bound(theta, r, c, opt.k) / scale, r[c] / (kValueRuleResidualGuard * scale));
}

}  // namespace

void symmetric_eigen(const Tensor& A, Tensor& values, Tensor& vectors) {
  xt::xtensor<double, 2> M = A;
  // LAPACK on these small matrices gains nothing from OpenBLAS's pool, and
  // waking it leaves its thread spinning against the lanes' next HVP.
  SingleThreadedBlas one_thread;
  auto [w, V] = xt::linalg::eigh(M);
  values = w;
  vectors = V;
}

namespace {

// lanczos_top with WarmStart::Subspace (see eigen.hpp): V orthonormal, W = HV,
// G = VᵀW (symmetrized) and the Gram matrix WᵀW kept as the basis grows, so
// that a Ritz pair's residual ‖Wy − θVy‖² = yᵀWᵀWy − θ² costs no vector work;
// the k top pairs, which decide the stop, get theirs explicitly.
class SubspaceSolver {
 public:
  SubspaceSolver(HessianOperator& H, const LanczosOptions& opt) : H_(H), opt_(opt), n_(H.dim()) {}

  // Adds v (orthogonalized against V) to the basis and pays its HVP; false
  // when v is (nearly, `min_new` relative) in span V already.
  // in_float64: this product in float64 while the operator is on float32
  // products (LanczosOptions::float64_lead).
  bool add(Tensor v, double min_new, bool in_float64 = false) {
    const double before = eos::norm(v);
    if (!(before > 0) || !std::isfinite(before)) return false;
    const double after = orthogonalize(V_, v, before);
    if (!(after > min_new * before)) return false;
    v /= after;
    Tensor w;
    if (in_float64) {
      H_.float32_products(false);
      H_.apply(v, w);
      H_.float32_products(true);
    } else {
      H_.apply(v, w);
    }
    const double vw = inner(v, w);
    if (!std::isfinite(vw))
      throw NumericalError(fmt::format("lanczos_top: the operator returned a non-finite vector or one whose inner "
                                       "product overflows (HVP {} of this solve, v·Hv = {})",
                                       hvps_ + 1, vw));
    ++hvps_;
    if (V_.empty()) {  // the first product sets the scale of WᵀW (see products_inner)
      const double size = eos::norm(w);
      scale_exp_ = size > 0x1p400 || (size > 0 && size < 0x1p-400) ? std::ilogb(size) : 0;
    }
    const std::size_t m = V_.size();
    Tensor G = xt::zeros<double>({m + 1, m + 1}), M = xt::zeros<double>({m + 1, m + 1});
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < m; ++j) G(i, j) = G_(i, j), M(i, j) = M_(i, j);
    for (std::size_t i = 0; i < m; ++i) {
      G(i, m) = G(m, i) = 0.5 * (inner(V_[i], w) + inner(v, W_[i]));
      M(i, m) = M(m, i) = products_inner(W_[i], w);
    }
    G(m, m) = vw;
    M(m, m) = products_inner(w, w);
    G_ = std::move(G);
    M_ = std::move(M);
    V_.push_back(std::move(v));
    W_.push_back(std::move(w));
    return true;
  }
  std::size_t size() const { return V_.size(); }
  std::size_t hvps() const { return hvps_; }

  // Rayleigh–Ritz on span V: Ritz values (ascending), their residual norms.
  void ritz() {
    symmetric_eigen(G_, evals_, evecs_);
    const std::size_t m = V_.size();
    theta_.assign(m, 0.0);
    res_.assign(m, 0.0);
    for (std::size_t c = 0; c < m; ++c) {
      theta_[c] = evals_(c);
      double yMy = 0.0;
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < m; ++j) yMy += evecs_(i, c) * M_(i, j) * evecs_(j, c);
      const double scaled_theta = std::ldexp(theta_[c], -scale_exp_);
      res_[c] = std::ldexp(std::sqrt(std::max(0.0, yMy - scaled_theta * scaled_theta)), scale_exp_);
    }
    residual_.clear();
    for (std::size_t i = 0; i < std::min(opt_.k, m); ++i) {  // explicit for the pairs that decide the stop
      const std::size_t c = m - 1 - i;
      Tensor x = combine(V_, c), R = combine(W_, c);
      axpy(-theta_[c], x, R);
      res_[c] = eos::norm(R);
      residual_.push_back(std::move(R));
    }
  }
  const std::vector<double>& theta() const { return theta_; }
  const std::vector<double>& residuals() const { return res_; }
  const Tensor& residual_of_top(std::size_t i) const { return residual_[i]; }
  Tensor vector(std::size_t c) const { return combine(V_, c); }
  Tensor product(std::size_t c) const { return combine(W_, c); }  // H·vector(c), from the stored products
  // Ritz pair c into `into`: unit vector, its product, residual, error and gap (k: as the rule counts).
  void append_pair(std::size_t c, std::size_t k, EigenResult& into) const {
    Tensor v = vector(c), hv = product(c);
    const double norm = eos::norm(v);
    into.values.push_back(theta_[c]);
    into.vectors.push_back(v / norm);
    into.products.push_back(hv / norm);
    into.residuals.push_back(res_[c]);
    into.errors.push_back(error_bound(theta_, res_, c, k));
    into.gaps.push_back(gap_of(theta_, res_, c, k));
  }

  // Rayleigh–Ritz on the first `lead` basis vectors alone: their top pairs,
  // largest first, each with its product and explicit residual.
  struct Pair {
    double theta, residual;
    Tensor vector, product;
  };
  std::vector<Pair> leading_pairs(std::size_t lead) const {
    Tensor G = xt::view(G_, xt::range(0, lead), xt::range(0, lead)), values, y;
    symmetric_eigen(G, values, y);
    std::vector<Pair> pairs;
    for (std::size_t i = 0; i < lead; ++i) {
      const std::size_t c = lead - 1 - i;
      Pair p{values(c), 0.0, xt::zeros<double>({n_}), xt::zeros<double>({n_})};
      for (std::size_t j = 0; j < lead; ++j) axpy(y(j, c), V_[j], p.vector), axpy(y(j, c), W_[j], p.product);
      Tensor R = p.product;
      axpy(-p.theta, p.vector, R);
      p.residual = eos::norm(R);
      pairs.push_back(std::move(p));
    }
    return pairs;
  }

  // Thick restart: the basis becomes the `keep` top Ritz vectors (their
  // products HV follow without HVPs).
  void restart(std::size_t keep) {
    const std::size_t m = V_.size();
    keep = std::min(keep, m);
    std::vector<Tensor> V, W;
    for (std::size_t i = 0; i < keep; ++i) {
      V.push_back(combine(V_, m - 1 - i));
      W.push_back(combine(W_, m - 1 - i));
    }
    V_ = std::move(V);
    W_ = std::move(W);
    G_ = xt::zeros<double>({keep, keep});
    M_ = xt::zeros<double>({keep, keep});
    for (std::size_t i = 0; i < keep; ++i)
      for (std::size_t j = 0; j < keep; ++j) {
        G_(i, j) = 0.5 * (inner(V_[i], W_[j]) + inner(V_[j], W_[i]));
        M_(i, j) = products_inner(W_[i], W_[j]);
      }
  }

 private:
  // M = WᵀW in units of 2^(2·scale_exp_): 0 (inner itself) unless the first
  // product's norm lay past 2^±400, where the squares would leave float64's
  // range (‖H‖ beyond ~1e120 or below ~1e-120); powers of two scale exactly.
  double products_inner(const Tensor& a, const Tensor& b) const {
    if (scale_exp_ == 0) return inner(a, b);
    const double s = std::ldexp(1.0, -scale_exp_);
    double sum = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) sum += (a.data()[i] * s) * (b.data()[i] * s);
    return sum;
  }
  Tensor combine(const std::vector<Tensor>& B, std::size_t c) const {  // Σᵢ y_c[i]·Bᵢ
    Tensor x = xt::zeros<double>({n_});
    for (std::size_t i = 0; i < B.size(); ++i) axpy(evecs_(i, c), B[i], x);
    return x;
  }
  HessianOperator& H_;
  const LanczosOptions& opt_;
  std::size_t n_;
  std::vector<Tensor> V_, W_;
  Tensor G_ = xt::zeros<double>({std::size_t(0), std::size_t(0)}), M_ = G_;
  Tensor evals_, evecs_;
  std::vector<double> theta_, res_;
  std::vector<Tensor> residual_;  // of the k top pairs, largest first
  std::size_t hvps_ = 0;
  int scale_exp_ = 0;
};

// A warm-start vector adding less than this (relative) to the span of those
// before it is dropped rather than paid an HVP.
constexpr double kNewDirection = 1e-3;

// What LanczosOptions::float64_lead did in a mixed solve.
struct LeadOutcome {
  std::size_t float64_hvps = 0;  // the lead vectors' products
  bool certified = false;        // the lead pairs were returned: they need no float64 check
};

// The lead test of LanczosOptions::float64_lead, after Rayleigh–Ritz on the
// whole start, and of assumed_gap, on the lead alone: where each of the k
// lead pairs (Rayleigh–Ritz on the first k basis vectors alone) meets the
// rule against the basis's Ritz values (the lead alone: δ = assumed_gap), r
// becomes those pairs (and the basis's extra ones) and it is true.
bool lead_pairs_meet_the_rule(const SubspaceSolver& S, const LanczosOptions& opt, EigenResult& r) {
  const std::vector<double>& theta = S.theta();
  const std::vector<double>& res = S.residuals();
  const std::size_t m = theta.size();
  std::vector<SubspaceSolver::Pair> lead = S.leading_pairs(opt.k);
  EigenResult out;
  for (std::size_t i = 0; i < opt.k; ++i) {
    const SubspaceSolver::Pair& p = lead[i];
    const std::size_t partner = m - 1 - i;  // its Ritz value in the whole start (interlacing: ≥ p.theta)
    // no other Ritz value while the basis holds the lead alone: the gap assumed, if any
    const double delta = m > opt.k ? gap_to_others(p.theta, theta, res, partner) : opt.assumed_gap;
    // λ ≥ theta[partner]: an excess over p.theta is error the pair has for sure.
    const double excess = std::max(0.0, theta[partner] - p.theta);
    const double error = std::max(error_from(p.residual, delta), excess);
    if (excess > opt.tol * std::abs(p.theta) || !meets_rule(p.theta, p.residual, error, opt)) return false;
    out.values.push_back(p.theta);
    out.vectors.push_back(p.vector);
    out.products.push_back(p.product);
    out.residuals.push_back(p.residual);
    out.errors.push_back(error);
    out.gaps.push_back(delta);
  }
  for (std::size_t e = 0; e < opt.extra && opt.k + e < m; ++e)  // warm-start material, as the solve returns it
    S.append_pair(m - 1 - opt.k - e, opt.k, out);
  out.converged = true;
  out.on_assumed_gap = m <= opt.k && opt.assumed_gap > 0;
  out.iterations = S.hvps();
  r = std::move(out);
  return true;
}

// `lead`: the operator is on float32 products and LanczosOptions::float64_lead
// is asked for (null: neither).
EigenResult subspace_top(HessianOperator& H, const LanczosOptions& opt, std::size_t max_m, LeadOutcome* lead) {
  const std::size_t n = H.dim();
  SubspaceSolver S(H, opt);
  EigenResult r;
  for (const Tensor& v : opt.warm_start) check_dim(H, v, "lanczos_top");
  // The lead tests: Rayleigh–Ritz on the k lead vectors (the first in the
  // basis, all of them there, on float64 products) against the basis so far.
  auto lead_answers = [&] {
    S.ritz();
    if (!lead_pairs_meet_the_rule(S, opt, r)) return false;
    if (lead) lead->certified = true;
    return true;
  };
  const bool lead_in_float64 = lead || !opt.float32_products;
  auto lead_complete = [&] { return S.size() >= opt.k && (!lead || lead->float64_hvps == opt.k); };
  for (std::size_t i = 0; i < opt.warm_start.size(); ++i) {
    // assumed_gap: the lead alone first, the rest of the start only where it does not answer
    if (i == opt.k && opt.assumed_gap > 0 && lead_in_float64 && S.size() == opt.k && lead_complete() && lead_answers())
      return r;
    const bool in_float64 = lead && i < opt.k;
    if (S.size() < max_m && S.add(opt.warm_start[i], kNewDirection, in_float64) && in_float64) ++lead->float64_hvps;
  }
  // float64_lead: the lead against the whole start
  if (lead && lead_complete() && lead_answers()) return r;
  if (S.size() == 0) S.add(random_unit(n, opt.seed), 0.0);
  const std::size_t keep = std::max<std::size_t>(opt.k + opt.extra + 1, 2);
  const std::size_t restart_at = std::max(opt.restart_size, 3 * keep);
  while (true) {
    S.ritz();
    const std::vector<double>& theta = S.theta();
    const std::size_t m = theta.size();
    // The top pair furthest from the rule; done when none is.
    std::size_t worst = 0;
    double worst_ratio = 0.0;
    for (std::size_t i = 0; i < std::min(opt.k, m); ++i) {
      const double q = rule_ratio(theta, S.residuals(), m - 1 - i, opt);
      if (q > worst_ratio) worst_ratio = q, worst = i;
    }
    const bool done = m >= opt.k && worst_ratio <= 1.0;
    bool expanded = false;
    if (!done && S.hvps() < max_m) {
      if (m >= restart_at) S.restart(keep), S.ritz();
      expanded = S.add(S.residual_of_top(std::min(worst, S.size() - 1)), 1e-12);
      if (expanded) continue;
    }
    // Done, out of HVPs, or the residual lies in the basis (an invariant subspace).
    r.converged = done || (!expanded && S.hvps() < max_m && m >= opt.k);
    const std::size_t kk = std::min(opt.k + opt.extra, m);
    for (std::size_t i = 0; i < kk; ++i) S.append_pair(m - 1 - i, opt.k, r);
    r.iterations = S.hvps();
    break;
  }
  return r;
}

// lanczos_top in the operator's present precision (`lead`: see subspace_top).
EigenResult lanczos_top_as_it_is(HessianOperator& H, const LanczosOptions& opt, std::size_t max_m,
                                 LeadOutcome* lead = nullptr) {
  const std::size_t n = H.dim();
  const std::size_t hvps_before = H.applications();
  if (opt.start == WarmStart::Subspace && !opt.warm_start.empty()) {
    EigenResult r = subspace_top(H, opt, max_m, lead);
    r.hvps = H.applications() - hvps_before;
    return r;
  }

  // Start: the sum of the warm-start vectors (their span seeds the Krylov
  // space), else a seeded random vector.
  Tensor q = xt::zeros<double>({n});
  for (const auto& w : opt.warm_start) {
    check_dim(H, w, "lanczos_top");
    axpy(1.0 / std::max(eos::norm(w), 1e-300), w, q);
  }
  if (opt.warm_start.empty() || eos::norm(q) < 1e-12) q = random_unit(n, opt.seed);
  else q /= eos::norm(q);

  LanczosBasis K;
  K.Q.push_back(q);
  Tensor w;
  EigenResult r;
  Tensor evals, evecs;
  std::vector<double> theta, res;
  for (std::size_t j = 0; j < max_m; ++j) {
    const double b = K.step(H, w, "lanczos_top");
    const std::size_t m = j + 1;
    symmetric_eigen(K.tridiagonal(m), evals, evecs);  // Ritz pairs of T_m
    // relative to ‖T‖ ≥ the largest |Ritz value| (0 only for H = 0, where b is 0 too)
    const bool exhausted = b <= 1e-12 * std::max(std::abs(evals(0)), std::abs(evals(m - 1)));
    theta.assign(m, 0.0);
    res.assign(m, 0.0);
    for (std::size_t c = 0; c < m; ++c) {
      theta[c] = evals(c);
      res[c] = exhausted ? 0.0 : std::abs(b * evecs(m - 1, c));
    }
    bool done = exhausted;
    if (m >= opt.k && !exhausted) {
      done = true;
      for (std::size_t i = 0; i < opt.k; ++i)
        if (rule_ratio(theta, res, m - 1 - i, opt) > 1.0) done = false;  // ascending order: largest last
    }
    r.iterations = m;
    if (done || m == max_m) {
      r.converged = done;
      const std::size_t kk = std::min(opt.k + opt.extra, m);
      for (std::size_t i = 0; i < kk; ++i) {
        const std::size_t c = m - 1 - i;
        Tensor v = xt::zeros<double>({n});
        for (std::size_t l = 0; l < m; ++l) axpy(evecs(l, c), K.Q[l], v);
        v /= eos::norm(v);
        r.values.push_back(evals(c));
        r.vectors.push_back(std::move(v));
        r.residuals.push_back(res[c]);
        r.errors.push_back(exhausted ? 0.0 : error_bound(theta, res, c, opt.k));
        r.gaps.push_back(gap_of(theta, res, c, opt.k));
      }
      break;
    }
    K.extend(w, b);
  }
  r.hvps = H.applications() - hvps_before;
  return r;
}

// The float64 check of a float32 solve: each returned top pair's Rayleigh
// quotient and residual from one float64 product, its error against the gap
// the solve saw; whether all k still meet the rule.
bool check_in_float64(HessianOperator& H, EigenResult& r, const LanczosOptions& opt) {
  bool all = true;
  Tensor Hx;
  for (std::size_t i = 0; i < std::min(opt.k, r.values.size()); ++i) {
    const Tensor& x = r.vectors[i];
    H.apply(x, Hx);
    const double theta = inner(x, Hx);
    if (!std::isfinite(theta))
      throw NumericalError(fmt::format("lanczos_top: the float64 check's product is not finite (x·Hx = {})", theta));
    if (i < r.products.size()) r.products[i] = Hx;
    axpy(-theta, x, Hx);
    const double res = eos::norm(Hx);
    r.values[i] = theta;
    r.residuals[i] = res;
    r.errors[i] = error_from(res, r.gaps[i]);
    all = all && meets_rule(theta, res, r.errors[i], opt);
  }
  return all;
}

// Switches an operator to float32 products for a scope, back to float64 after.
class Float32Scope {
 public:
  explicit Float32Scope(HessianOperator& H) : H_(H), on_(H.float32_products(true)) {}
  ~Float32Scope() { H_.float32_products(false); }
  bool on() const { return on_; }

 private:
  HessianOperator& H_;
  bool on_;
};

}  // namespace

EigenResult lanczos_top(HessianOperator& H, const LanczosOptions& opt) {
  const std::size_t n = H.dim();
  if (opt.k == 0 || opt.k > n)
    throw std::invalid_argument(fmt::format("lanczos_top: k = {} for an operator of dimension {}", opt.k, n));
  const std::size_t max_m = std::min(opt.max_iter, n);
  if (max_m < opt.k)
    throw std::invalid_argument(fmt::format("lanczos_top: max_iter = {} is less than k = {}", opt.max_iter, opt.k));
  if (!opt.float32_products) return lanczos_top_as_it_is(H, opt, max_m);
  // Mixed precision: the solve on float32 products (float64_lead: the lead
  // vectors' on float64 ones, and the lead pairs returned where they meet
  // the rule), then the float64 check; where it fails, a float64 solve from
  // the float32 solve's vectors.
  const std::size_t before = H.applications();
  // The solve again in float64 from `again`'s start, within the HVPs left.
  auto in_float64 = [&](LanczosOptions again) {
    again.float32_products = false;
    const std::size_t used = H.applications() - before;
    again.max_iter = std::max(max_m > used ? max_m - used : 0, opt.k);
    return lanczos_top_as_it_is(H, again, std::min(again.max_iter, n));
  };
  EigenResult r;
  LeadOutcome lead;
  bool out_of_range = false;
  {
    Float32Scope f32(H);
    if (!f32.on()) return lanczos_top_as_it_is(H, opt, max_m);  // the operator has none: float64
    try {
      r = lanczos_top_as_it_is(H, opt, max_m, opt.float64_lead ? &lead : nullptr);
      r.float32_hvps = r.hvps - lead.float64_hvps;
    } catch (const NumericalError&) {
      // A product past float32's range, which the same product in float64 may
      // not be: the float64 solve below decides (a NumericalError there is real).
      out_of_range = true;
    }
  }
  if (out_of_range) {
    const std::size_t float32_hvps = H.applications() - before - lead.float64_hvps;
    r = in_float64(opt);
    r.float32_hvps = float32_hvps;
    r.float32_out_of_range = true;
    r.hvps = H.applications() - before;
    return r;
  }
  if (lead.certified) return r;  // the lead pairs: float64 products already
  const std::size_t before_check = H.applications();
  const bool checked = r.converged && check_in_float64(H, r, opt);
  r.check_hvps = H.applications() - before_check;
  if (!checked) {
    LanczosOptions again = opt;
    again.start = WarmStart::Subspace;
    again.warm_start = r.vectors;
    again.assumed_gap = 0.0;  // the vectors found are all paid again
    const std::size_t float32_hvps = r.float32_hvps, check_hvps = r.check_hvps;
    r = in_float64(std::move(again));
    r.float32_hvps = float32_hvps;
    r.check_hvps = check_hvps;
  }
  r.hvps = H.applications() - before;
  return r;
}

void UnconvergedSolves::record(const EigenResult& r, std::uint64_t step) {
  ++solves;
  if (r.converged) return;
  if (unconverged++ == 0) first_step = step;
  const double relative = r.values.empty() ? INFINITY : r.residuals[0] / std::abs(r.values[0]);
  largest_residual = std::max(largest_residual, std::isnan(relative) ? INFINITY : relative);
}
void UnconvergedSolves::save_state(StateDict& into) const {
  into.put_integer("solves", solves);
  into.put_integer("unconverged_solves", unconverged);
  into.put_integer("first_unconverged_step", first_step);
  into.put_number("largest_unconverged_residual", largest_residual);
}
void UnconvergedSolves::load_state(const StateDict& from) {
  *this = {};
  if (!from.contains("solves")) return;
  solves = from.integer("solves");
  unconverged = from.integer("unconverged_solves");
  first_step = from.integer("first_unconverged_step");
  largest_residual = from.number("largest_unconverged_residual");
  if (unconverged > solves || !(largest_residual >= 0))
    throw StateError(fmt::format("state: {} unconverged solves of {}, largest residual {}: expected at most as many "
                                 "as solves and a residual ≥ 0",
                                 unconverged, solves, largest_residual));
}

double GuardSchedule::next(bool calm) const {
  if (every <= 1 || !calm) return 0.0;
  // both phases just measured, or within the run of unguarded solves they allow
  const bool allowed = unguarded_in_a_row == 0 ? guarded_in_a_row >= 2 : unguarded_in_a_row < 2 * (every - 1);
  if (!allowed || !(gaps[0] > 0 && gaps[1] > 0)) return 0.0;
  return kAssumed * std::min(gaps[0], gaps[1]);
}

void GuardSchedule::record(const EigenResult& r, std::size_t k) {
  if (r.on_assumed_gap) {
    ++unguarded_in_a_row;
    guarded_in_a_row = 0;
    return;
  }
  unguarded_in_a_row = 0;
  guarded_in_a_row = std::min<std::uint64_t>(guarded_in_a_row + 1, 2);
  double gap = r.converged && r.gaps.size() >= k ? INFINITY : 0.0;
  for (std::size_t i = 0; i < k && gap > 0; ++i)
    gap = r.gaps[i] >= kFrom * std::abs(r.values[i]) ? std::min(gap, r.gaps[i]) : 0.0;  // NaN: 0
  gaps = {gap, gaps[0]};
}

EigenResult power_iteration(HessianOperator& H, const PowerOptions& opt) {
  const std::size_t n = H.dim();
  Tensor v;
  if (opt.warm_start.size() == n && opt.warm_start.dimension() == 1 && eos::norm(opt.warm_start) > 0)
    v = opt.warm_start / eos::norm(opt.warm_start);
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
    res = eos::norm(resid);
    r.iterations = it + 1;
    if (res <= opt.tol * std::abs(lambda)) {
      r.converged = true;
      break;
    }
    const double nh = eos::norm(Hv);
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
    r.residuals.push_back(eos::norm(resid));
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
  const double nv = eos::norm(v);
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
