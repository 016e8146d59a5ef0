#include "optimizer.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include <fmt/format.h>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

namespace eos::optim {

namespace {
// A step size must be a positive finite number (NaN, ±inf, 0 and negatives
// are refused when the schedule is made, not discovered as a NaN run).
void check_rate(const char* schedule, const char* what, double v, bool zero_ok = false) {
  if (!std::isfinite(v) || v < 0.0 || (v == 0.0 && !zero_ok))
    throw std::invalid_argument(
        fmt::format("Schedule::{}: {} = {} (expected a {} finite number)", schedule, what, v, zero_ok ? "non-negative" : "positive"));
}
}  // namespace

Schedule Schedule::constant(double lr) {
  check_rate("constant", "lr", lr);
  return Schedule([lr](std::size_t) { return lr; }, fmt::format("constant({})", lr));
}
Schedule Schedule::step(double lr, std::size_t every, double gamma) {
  if (every == 0) throw std::invalid_argument("Schedule::step: 'every' must be positive");
  check_rate("step", "lr", lr);
  check_rate("step", "gamma", gamma);
  return Schedule([=](std::size_t t) { return lr * std::pow(gamma, double(t / every)); },
                  fmt::format("step({}, every={}, gamma={})", lr, every, gamma));
}
Schedule Schedule::cosine(double lr, std::size_t total, double lr_min) {
  if (total == 0) throw std::invalid_argument("Schedule::cosine: total_steps must be positive");
  check_rate("cosine", "lr", lr);
  check_rate("cosine", "lr_min", lr_min, /*zero_ok=*/true);
  return Schedule(
      [=](std::size_t t) {
        const double x = double(std::min(t, total)) / double(total);
        return lr_min + 0.5 * (lr - lr_min) * (1.0 + std::cos(std::numbers::pi * x));
      },
      fmt::format("cosine({}, T={}, min={})", lr, total, lr_min));
}
Schedule Schedule::linear_warmup(std::size_t w, Schedule after) {
  const std::string d = fmt::format("warmup({}) then {}", w, after.describe());
  return Schedule(
      [w, after = std::move(after)](std::size_t t) {
        return t < w ? after(t) * double(t + 1) / double(w + 1) : after(t);
      },
      d);
}

void Optimizer::step(Tensor& theta, const Tensor& grad) {
  if (theta.shape() != grad.shape())
    throw ShapeError(fmt::format("{}: gradient shape {} != θ shape {}", describe(), shape_str_of(grad.shape()),
                                 shape_str_of(theta.shape())));
  const double lr = lr_(t_);
  if (weight_decay_ != 0.0 && decoupled_weight_decay()) {
    theta *= (1.0 - lr * weight_decay_);
    update(theta, grad, lr);
  } else if (weight_decay_ != 0.0) {
    xt::noalias(g_) = grad + weight_decay_ * theta;
    update(theta, g_, lr);
  } else {
    update(theta, grad, lr);
  }
  ++t_;
}
void Optimizer::reset() { t_ = 0; }

void Optimizer::save_state(StateDict& into) const {
  into.put("kind", describe());
  into.put_integer("t", t_);
  if (t_ > 0) save_buffers(into);
}

void Optimizer::load_state(const StateDict& from, const Shape& theta_shape) {
  if (from.text("kind") != describe())
    throw StateError(fmt::format("state: saved by optimizer {}, not {}", from.text("kind"), describe()));
  reset();
  const std::size_t t = from.integer("t");
  if (t > 0) load_buffers(from, theta_shape);
  t_ = t;
}

void Momentum::save_buffers(StateDict& into) const { into.put("b", b_); }
void Momentum::load_buffers(const StateDict& from, const Shape& shape) { b_ = from.tensor("b", shape); }
void RMSProp::save_buffers(StateDict& into) const { into.put("s", s_); }
void RMSProp::load_buffers(const StateDict& from, const Shape& shape) { s_ = from.tensor("s", shape); }
void Adam::save_buffers(StateDict& into) const {
  into.put("m", m_);
  into.put("v", v_);
}
void Adam::load_buffers(const StateDict& from, const Shape& shape) {
  m_ = from.tensor("m", shape);
  v_ = from.tensor("v", shape);
}

std::string GradientDescent::describe() const {
  return fmt::format("GD(lr={}{})", lr_.describe(), weight_decay_ ? fmt::format(", wd={}", weight_decay_) : "");
}
void GradientDescent::update(Tensor& theta, const Tensor& g, double lr) { xt::noalias(theta) -= lr * g; }

Momentum::Momentum(Schedule lr, double mu, bool nesterov, double wd)
    : Optimizer(std::move(lr), wd), mu_(mu), nesterov_(nesterov) {}
std::string Momentum::describe() const {
  return fmt::format("{}(lr={}, mu={})", nesterov_ ? "Nesterov" : "Momentum", lr_.describe(), mu_);
}
void Momentum::reset() {
  Optimizer::reset();
  b_ = Tensor();
}
void Momentum::update(Tensor& theta, const Tensor& g, double lr) {
  if (t_ == 0) b_ = g;  // PyTorch: the first buffer is g itself
  else xt::noalias(b_) = mu_ * b_ + g;
  if (nesterov_) xt::noalias(theta) -= lr * (g + mu_ * b_);
  else xt::noalias(theta) -= lr * b_;
}

RMSProp::RMSProp(Schedule lr, double alpha, double eps, double wd)
    : Optimizer(std::move(lr), wd), alpha_(alpha), eps_(eps) {}
std::string RMSProp::describe() const {
  return fmt::format("RMSProp(lr={}, alpha={}, eps={})", lr_.describe(), alpha_, eps_);
}
void RMSProp::reset() {
  Optimizer::reset();
  s_ = Tensor();
}
void RMSProp::update(Tensor& theta, const Tensor& g, double lr) {
  if (t_ == 0) s_ = xt::zeros<double>(g.shape());
  xt::noalias(s_) = alpha_ * s_ + (1.0 - alpha_) * g * g;
  xt::noalias(theta) -= lr * g / (xt::sqrt(s_) + eps_);
}
std::optional<Tensor> RMSProp::preconditioner() const {
  if (t_ == 0) return std::nullopt;  // no step taken: no s yet (an empty xarray is 0-d, size 1)
  return Tensor(xt::sqrt(s_) + eps_);
}

Adam::Adam(Schedule lr, double beta1, double beta2, double eps, double wd, bool decoupled)
    : Optimizer(std::move(lr), wd), beta1_(beta1), beta2_(beta2), eps_(eps), decoupled_(decoupled) {}
std::string Adam::describe() const {
  return fmt::format("{}(lr={}, betas=({}, {}), eps={}{})", decoupled_ ? "AdamW" : "Adam", lr_.describe(), beta1_,
                     beta2_, eps_, weight_decay_ ? fmt::format(", wd={}", weight_decay_) : "");
}
void Adam::reset() {
  Optimizer::reset();
  m_ = Tensor();
  v_ = Tensor();
}
void Adam::update(Tensor& theta, const Tensor& g, double lr) {
  if (t_ == 0) {
    m_ = xt::zeros<double>(g.shape());
    v_ = xt::zeros<double>(g.shape());
  }
  const double t = double(t_ + 1);
  const double c1 = 1.0 - std::pow(beta1_, t), c2 = 1.0 - std::pow(beta2_, t);
  xt::noalias(m_) = beta1_ * m_ + (1.0 - beta1_) * g;
  xt::noalias(v_) = beta2_ * v_ + (1.0 - beta2_) * g * g;
  xt::noalias(theta) -= lr * (m_ / c1) / (xt::sqrt(v_ / c2) + eps_);
}
std::optional<Tensor> Adam::preconditioner() const {
  if (t_ == 0) return std::nullopt;  // no step taken: no v yet
  // The update is −η m̂ / (√v̂ + ε): P = √v̂ + ε with v̂ at the last step's bias correction.
  const double c2 = 1.0 - std::pow(beta2_, double(t_));
  return Tensor(xt::sqrt(v_ / c2) + eps_);
}

}  // namespace eos::optim
