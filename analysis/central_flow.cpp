#include "central_flow.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <xtensor/xview.hpp>

namespace eos::analysis {
namespace {

std::size_t pair_index(std::size_t i, std::size_t j, std::size_t k) {
  if (i > j) std::swap(i, j);
  return i * k - i * (i - 1) / 2 + (j - i);  // rows (0, 0…k−1), (1, 1…k−1), …
}

// B(X)_ij = Σ_kl B[i, j, k, l]·X_kl
Tensor apply_operator(const Tensor& B, const Tensor& X) {
  const std::size_t k = X.shape()[0];
  Tensor Y = zeros({k, k});
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j) {
      double s = 0.0;
      for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = 0; b < k; ++b) s += B(i, j, a, b) * X(a, b);
      Y(i, j) = s;
    }
  return Y;
}

double frobenius_inner(const Tensor& X, const Tensor& Y) { return inner(X, Y); }

// The nearest PSD matrix in the Frobenius norm: negative eigenvalues set to 0.
Tensor project_psd(const Tensor& Y) {
  const std::size_t k = Y.shape()[0];
  Tensor S = 0.5 * (Y + xt::transpose(Y)), values, vectors;
  symmetric_eigen(S, values, vectors);
  Tensor P = zeros({k, k});
  for (std::size_t c = 0; c < k; ++c) {
    const double l = values(c);
    if (l <= 0) continue;
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < k; ++j) P(i, j) += l * vectors(i, c) * vectors(j, c);
  }
  return P;
}

double min_eigenvalue(const Tensor& Y) {
  Tensor S = 0.5 * (Y + xt::transpose(Y)), values, vectors;
  symmetric_eigen(S, values, vectors);
  return values(0);
}

}  // namespace

const Tensor& ThirdDerivatives::at(std::size_t i, std::size_t j) const {
  if (i >= k || j >= k) throw std::out_of_range(fmt::format("ThirdDerivatives::at({}, {}) with k = {}", i, j, k));
  return pairs[pair_index(i, j, k)];
}

ThirdDerivatives third_derivatives(Objective& f, const Tensor& w, const std::vector<Tensor>& directions, double h) {
  if (!(h > 0) || !std::isfinite(h))
    throw std::invalid_argument(fmt::format("third_derivatives: the step h = {} must be positive and finite", h));
  ThirdDerivatives T;
  T.k = directions.size();
  T.pairs.resize(T.k * (T.k + 1) / 2);
  for (std::size_t i = 0; i < T.k; ++i) {
    if (directions[i].size() != w.size())
      throw ShapeError(fmt::format("third_derivatives: direction {} has {} entries, θ has {}", i, directions[i].size(),
                                   w.size()));
    const Tensor wp = w + h * directions[i], wm = w - h * directions[i];
    auto Hp = f.hessian_at(wp);
    auto Hm = f.hessian_at(wm);
    Tensor a, b;
    for (std::size_t j = i; j < T.k; ++j) {
      Hp->apply(directions[j], a);
      Hm->apply(directions[j], b);
      T.pairs[pair_index(i, j, T.k)] = (a - b) / (2.0 * h);
      T.hvps += 2;
    }
  }
  return T;
}

double sdcp_scalar(double a, double b) {
  if (!(b > 0)) throw std::invalid_argument(fmt::format("sdcp_scalar: b = {} must be positive", b));
  return std::max(0.0, -a / b);
}

SdcpSolution solve_sdcp(const Tensor& A_in, const Tensor& B, double tol, std::size_t max_iter) {
  if (A_in.dimension() != 2 || A_in.shape()[0] != A_in.shape()[1])
    throw ShapeError(fmt::format("solve_sdcp: A has shape {}, expected k × k", shape_str_of(A_in.shape())));
  const std::size_t k = A_in.shape()[0];
  if (B.dimension() != 4 || B.shape()[0] != k || B.shape()[1] != k || B.shape()[2] != k || B.shape()[3] != k)
    throw ShapeError(fmt::format("solve_sdcp: B has shape {}, expected [{}, {}, {}, {}]", shape_str_of(B.shape()), k, k,
                                 k, k));
  if (!all_finite(A_in) || !all_finite(B)) throw NumericalError("solve_sdcp: A or B has a non-finite entry");
  const Tensor A = 0.5 * (A_in + xt::transpose(A_in));
  SdcpSolution s;
  // L: the largest eigenvalue of B on symmetric matrices (B as a k² × k² matrix).
  Tensor M = zeros({k * k, k * k}), mv, mV;
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = 0; b < k; ++b) M(i * k + j, a * k + b) = 0.5 * (B(i, j, a, b) + B(a, b, i, j));
  symmetric_eigen(M, mv, mV);
  const double L = k ? mv(k * k - 1) : 0.0;
  const double scale = std::max({1.0, std::sqrt(inner(A, A))});
  auto residual = [&](const Tensor& X, const Tensor& S) {
    const Tensor d = X - project_psd(X - S);
    return std::sqrt(inner(d, d));
  };
  if (!(L > 1e-300 * scale)) {  // B = 0: X = 0 when A ⪰ 0, else no solution
    s.X = zeros({k, k});
    s.S = A;
    s.converged = k == 0 || min_eigenvalue(A) >= -tol * scale;
    s.unbounded = !s.converged;
    s.residual = residual(s.X, s.S);
    return s;
  }
  Tensor X = zeros({k, k}), Y = X, X_old;
  double t = 1.0;
  for (std::size_t it = 1; it <= max_iter; ++it) {
    const Tensor G = A + apply_operator(B, Y);
    X_old = X;
    X = project_psd(Y - G / L);
    const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
    if (frobenius_inner(G, X - X_old) > 0) {  // the momentum points uphill: restart
      t = 1.0;
      Y = X;
    } else {
      Y = X + ((t - 1.0) / t_next) * (X - X_old);
      t = t_next;
    }
    s.iterations = it;
    if (it % 8 == 0 || it == max_iter) {
      const Tensor S = A + apply_operator(B, X);
      if (residual(X, S) <= tol * scale) {
        s.converged = true;
        break;
      }
      if (!all_finite(X)) break;
    }
  }
  s.X = X;
  s.S = A + apply_operator(B, X);
  s.residual = residual(s.X, s.S);
  // No solution: the iterates run off along a PSD direction D with B(D) = 0
  // and ⟨A, D⟩ < 0, where S cannot be made PSD.
  if (!s.converged) {
    const double xn = std::sqrt(inner(X, X));
    s.unbounded = !all_finite(X) || (xn * L > 1e6 * scale && min_eigenvalue(s.S) < 0);
  }
  return s;
}

CentralFlow::CentralFlow(Objective& f, Tensor w0, CentralFlowOptions options)
    : f_(f), w_(std::move(w0)), opt_(std::move(options)) {
  if (w_.dimension() != 1 || w_.size() != f_.dim())
    throw ShapeError(fmt::format("central flow: w0 has shape {}, the objective has {} parameters",
                                 shape_str_of(w_.shape()), f_.dim()));
  if (opt_.substeps == 0) throw std::invalid_argument("central flow: substeps must be at least 1");
  if (opt_.k == 0) throw std::invalid_argument("central flow: k (eigenpairs tracked) must be at least 1");
  if (!(opt_.margin >= 0 && opt_.margin < 1))
    throw std::invalid_argument(fmt::format("central flow: margin = {} must lie in [0, 1)", opt_.margin));
  if (!(opt_.h > 0) || !std::isfinite(opt_.h))
    throw std::invalid_argument(fmt::format("central flow: h = {} must be positive", opt_.h));
}

CentralFlowPoint CentralFlow::evaluate(double eta, double dt, bool substep_start) {
  if (!(eta > 0) || !std::isfinite(eta))
    throw std::invalid_argument(fmt::format("central flow: step size η = {} must be positive", eta));
  CentralFlowPoint p;
  auto H = f_.hessian_at(w_);
  p.loss = H->value();
  p.grad = H->grad();
  if (!std::isfinite(p.loss) || !all_finite(p.grad))
    throw NumericalError(fmt::format("central flow: f or ∇f is not finite at t = {} (f = {})", time_, p.loss));
  const double threshold = 2.0 / eta;
  const std::size_t k = std::min(opt_.k, f_.dim());
  p.velocity = -eta * p.grad;
  // Later substeps of a GD step skip the eigen-solve (gradient flow, with the
  // step's first eigenvalues) when λ₁ at the step's start plus twice its
  // rise over the step before stays below the candidates' band: an
  // eigenvalue cannot reach 2/η within the step then. Without a step before
  // (the first step, or after a resume) every substep solves.
  if (!substep_start && step_start_lambda_ && previous_step_lambda_ &&
      *step_start_lambda_ + 2.0 * std::max(0.0, *step_start_lambda_ - *previous_step_lambda_) <
          (1.0 - opt_.margin) * threshold) {
    p.eigenvalues = last_eigenvalues_;
    p.X = zeros({0, 0});
    return p;
  }
  LanczosOptions lo = opt_.lanczos;
  lo.k = k;
  lo.warm_start = warm_;
  const EigenResult eig = lanczos_top(*H, lo);
  unconverged_.record(eig, time_);
  warm_ = eig.vectors;
  p.hvps = eig.hvps;
  p.eigenvalues.assign(eig.values.begin(), eig.values.begin() + std::ptrdiff_t(k));
  last_eigenvalues_ = p.eigenvalues;
  if (substep_start) {
    if (solved_at_ != time_) previous_step_lambda_ = time_ > 0 && solved_at_ + 1 == time_ ? step_start_lambda_ : std::nullopt;
    step_start_lambda_ = p.eigenvalues[0];
    solved_at_ = time_;
  }
  while (p.candidates < k && p.eigenvalues[p.candidates] >= (1.0 - opt_.margin) * threshold) ++p.candidates;
  const std::size_t c = p.candidates;
  p.X = zeros({c, c});
  if (c == 0) return p;

  p.U.assign(eig.vectors.begin(), eig.vectors.begin() + std::ptrdiff_t(c));
  const ThirdDerivatives T = third_derivatives(f_, w_, p.U, opt_.h);
  p.hvps += T.hvps;
  Tensor A = zeros({c, c}), B = zeros({c, c, c, c});
  for (std::size_t i = 0; i < c; ++i)
    for (std::size_t j = 0; j < c; ++j) {
      A(i, j) = (i == j ? threshold - p.eigenvalues[i] : 0.0) + dt * eta * inner(T.at(i, j), p.grad);
      for (std::size_t a = 0; a < c; ++a)
        for (std::size_t b = 0; b < c; ++b) B(i, j, a, b) = dt * 0.5 * eta * inner(T.at(i, j), T.at(a, b));
    }
  const SdcpSolution sol = solve_sdcp(A, B, 1e-10);
  // A solve stopped by the iteration cap short of 1e-10 is still used; only
  // a problem without a solution stops the flow.
  if (sol.unbounded) {
    p.solved = false;
    return p;
  }
  p.X = sol.X;
  // dw/dt = −η(∇f + ½ Σ_ij X_ij T_ij)
  for (std::size_t i = 0; i < c; ++i)
    for (std::size_t j = 0; j < c; ++j)
      if (sol.X(i, j) != 0.0) p.velocity -= (0.5 * eta * sol.X(i, j)) * T.at(i, j);
  Tensor xv, xV;
  symmetric_eigen(sol.X, xv, xV);
  for (std::size_t i = 0; i < c; ++i) p.trace_sigma += sol.X(i, i);
  const double top = xv(c - 1);
  for (std::size_t i = 0; i < c; ++i) p.critical += top > 0 && xv(i) > 1e-6 * top;
  return p;
}

const CentralFlowPoint& CentralFlow::point(double eta) {
  if (!cached_ || cached_eta_ != eta || cached_->eigenvalues.empty()) {  // (empty: restored, velocity only)
    cached_ = evaluate(eta, 1.0 / double(opt_.substeps), true);
    cached_eta_ = eta;
  }
  return *cached_;
}

void CentralFlow::advance(double eta) {
  const double dt = 1.0 / double(opt_.substeps);
  for (std::size_t s = 0; s < opt_.substeps; ++s) {
    if (s > 0 || !cached_ || cached_eta_ != eta) {
      cached_ = evaluate(eta, dt, s == 0);
      cached_eta_ = eta;
    }
    if (!cached_->solved)
      throw NumericalError(fmt::format("central flow: at t = {} no oscillation Σ ⪰ 0 holds the top eigenvalues at "
                                       "2/η = {:.6g} (λ₁ = {:.6g}; the third derivative gives no feedback there)",
                                       double(time_) + double(s) * dt, 2.0 / eta, cached_->eigenvalues.at(0)));
    w_ += dt * cached_->velocity;
    if (!all_finite(w_))
      throw NumericalError(fmt::format("central flow: w left the finite numbers at t = {}", double(time_) + (s + 1) * dt));
  }
  cached_.reset();
  ++time_;
}

void CentralFlow::save_state(StateDict& into) const {
  into.put("w", w_);
  into.put_integer("time", time_);
  Tensor all = zeros({warm_.size(), warm_.empty() ? 0 : warm_[0].size()});
  for (std::size_t i = 0; i < warm_.size(); ++i) xt::view(all, i, xt::all()) = warm_[i];
  into.put("warm", all);
  // what decides whether later substeps skip the eigen-solve (bit-for-bit resumes)
  into.put("lambda_history", Tensor{previous_step_lambda_ ? 1.0 : 0.0, previous_step_lambda_.value_or(0.0),
                                    step_start_lambda_ ? 1.0 : 0.0, step_start_lambda_.value_or(0.0)});
  into.put_integer("solved_at", solved_at_);
  // The current point's velocity, which the next advance starts with: solving
  // again after a resume would start Lanczos from later warm vectors.
  into.put_integer("cached", cached_ ? 1 : 0);
  into.put("cached_velocity", cached_ ? cached_->velocity : Tensor(zeros({0})));
  into.put("cached_eta", Tensor{cached_eta_});
  unconverged_.save_state(into);
}

void CentralFlow::load_state(const StateDict& from) {
  const Tensor& w = from.tensor("w", {f_.dim()});
  const Tensor& all = from.tensor("warm");
  if (all.dimension() != 2 || (all.shape()[0] > 0 && all.shape()[1] != f_.dim()))
    throw StateError(fmt::format("state: central flow warm-start vectors have shape {}, expected [count, {}]",
                                 shape_str_of(all.shape()), f_.dim()));
  w_ = w;
  time_ = from.integer("time");
  warm_.clear();
  for (std::size_t i = 0; i < all.shape()[0]; ++i) warm_.emplace_back(xt::view(all, i, xt::all()));
  last_eigenvalues_.clear();
  const Tensor& h = from.tensor("lambda_history", {4});
  previous_step_lambda_ = h(0) != 0.0 ? std::optional<double>(h(1)) : std::nullopt;
  step_start_lambda_ = h(2) != 0.0 ? std::optional<double>(h(3)) : std::nullopt;
  solved_at_ = from.integer("solved_at");
  cached_.reset();
  if (from.integer("cached")) {  // only advance() reads a restored point
    CentralFlowPoint p;
    p.velocity = from.tensor("cached_velocity", {f_.dim()});
    cached_ = std::move(p);
    cached_eta_ = from.tensor("cached_eta", {1})(0);
  }
  unconverged_.load_state(from);
}

}  // namespace eos::analysis
