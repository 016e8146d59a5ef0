// Optimizers that update a flat parameter vector θ from a gradient g. They
// know nothing of models: whoever calls step() chose g (full-batch or
// minibatch). Conventions follow PyTorch's (torch.optim) so results compare.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "../core/state_dict.hpp"
#include "../core/tensor.hpp"

namespace eos::optim {

// η as a function of the step index t = 0, 1, 2, …
class Schedule {
 public:
  static Schedule constant(double lr);
  // lr · gamma^⌊t / every⌋
  static Schedule step(double lr, std::size_t every, double gamma);
  // lr_min + ½(lr − lr_min)(1 + cos(π·min(t, T)/T))
  static Schedule cosine(double lr, std::size_t total_steps, double lr_min = 0.0);
  // after(t)·(t+1)/(w+1) for the first w steps, then after(t)
  static Schedule linear_warmup(std::size_t warmup_steps, Schedule after);
  double operator()(std::size_t t) const { return f_(t); }
  const std::string& describe() const { return desc_; }

 private:
  Schedule(std::function<double(std::size_t)> f, std::string d) : f_(std::move(f)), desc_(std::move(d)) {}
  std::function<double(std::size_t)> f_;
  std::string desc_;
};

class Optimizer {
 public:
  explicit Optimizer(Schedule lr, double weight_decay = 0.0) : lr_(std::move(lr)), weight_decay_(weight_decay) {}
  virtual ~Optimizer() = default;
  virtual std::string describe() const = 0;
  // θ ← update(θ, g) at the current step, then step += 1.
  void step(Tensor& theta, const Tensor& grad);
  std::size_t steps_taken() const { return t_; }
  double current_lr() const { return lr_(t_); }
  double weight_decay() const { return weight_decay_; }
  // The diagonal preconditioner P of the next step (θ ← θ − η P⁻¹ m), for
  // adaptive methods; none for GD-like methods.
  virtual std::optional<Tensor> preconditioner() const { return std::nullopt; }
  // The sharpness (of P^{-1/2} H P^{-1/2} for adaptive methods) above which
  // the method is unstable on a quadratic: 2/η for GD and RMSProp,
  // (2 + 2μ)/η for momentum μ, (2 + 2β₁)/((1 − β₁)η) for Adam (Cohen et al.).
  virtual double stability_threshold(double lr) const { return 2.0 / lr; }
  // Whether step(θ, g) is exactly θ − η_t g and nothing else (GD without
  // weight decay). Fed the full-batch gradient, θ_{t+1} is then the probe
  // point θ_t − η_t∇f(θ_t) of RP and L, bit for bit, and they come free.
  virtual bool is_plain_gradient_step() const { return false; }
  virtual void reset();
  // Step counter and buffers (momentum, s, m and v), for checkpoints: a
  // restored optimizer continues bit for bit. load_state refuses a state
  // saved by another optimizer or settings (compared by describe()) and
  // buffers whose shape is not θ's.
  void save_state(StateDict& into) const;
  void load_state(const StateDict& from, const Shape& theta_shape);

 protected:
  // The method's buffers, present once a step has been taken (t > 0).
  virtual void save_buffers(StateDict&) const {}
  virtual void load_buffers(const StateDict&, const Shape&) {}
  // g already includes coupled weight decay (g + wd·θ) where the method uses it.
  virtual void update(Tensor& theta, const Tensor& g, double lr) = 0;
  virtual bool decoupled_weight_decay() const { return false; }
  Schedule lr_;
  double weight_decay_;
  std::size_t t_ = 0;

 private:
  Tensor g_;  // g + wd·θ buffer
};

// θ ← θ − η g   (GD with full-batch g, SGD with minibatch g)
class GradientDescent : public Optimizer {
 public:
  using Optimizer::Optimizer;
  std::string describe() const override;
  bool is_plain_gradient_step() const override { return weight_decay_ == 0.0; }

 protected:
  void update(Tensor& theta, const Tensor& g, double lr) override;
};

// Heavy ball (PyTorch SGD momentum, no dampening): b ← μ b + g; θ ← θ − η b.
// Nesterov: b ← μ b + g; θ ← θ − η (g + μ b).
class Momentum : public Optimizer {
 public:
  Momentum(Schedule lr, double mu, bool nesterov = false, double weight_decay = 0.0);
  std::string describe() const override;
  double stability_threshold(double lr) const override { return (2.0 + 2.0 * mu_) / lr; }
  void reset() override;

 protected:
  void update(Tensor& theta, const Tensor& g, double lr) override;
  void save_buffers(StateDict& into) const override;
  void load_buffers(const StateDict& from, const Shape& shape) override;

 private:
  double mu_;
  bool nesterov_;
  Tensor b_;
};

// s ← α s + (1−α) g²; θ ← θ − η g / (√s + ε)
class RMSProp : public Optimizer {
 public:
  RMSProp(Schedule lr, double alpha = 0.99, double eps = 1e-8, double weight_decay = 0.0);
  std::string describe() const override;
  std::optional<Tensor> preconditioner() const override;  // √s + ε
  void reset() override;

 protected:
  void update(Tensor& theta, const Tensor& g, double lr) override;
  void save_buffers(StateDict& into) const override;
  void load_buffers(const StateDict& from, const Shape& shape) override;

 private:
  double alpha_, eps_;
  Tensor s_;
};

// m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − η m̂ / (√v̂ + ε) with
// m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). AdamW: decoupled decay θ ← θ(1 − η λ) first.
class Adam : public Optimizer {
 public:
  Adam(Schedule lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0.0,
       bool decoupled = false);
  std::string describe() const override;
  // P = (√v̂ + ε)/(1 − β₁ᵗ)-free form: the denominator √v̂ + ε of the next step.
  std::optional<Tensor> preconditioner() const override;
  double stability_threshold(double lr) const override { return (2.0 + 2.0 * beta1_) / ((1.0 - beta1_) * lr); }
  void reset() override;

 protected:
  void update(Tensor& theta, const Tensor& g, double lr) override;
  bool decoupled_weight_decay() const override { return decoupled_; }
  void save_buffers(StateDict& into) const override;
  void load_buffers(const StateDict& from, const Shape& shape) override;

 private:
  double beta1_, beta2_, eps_;
  bool decoupled_;
  Tensor m_, v_;
};

inline std::unique_ptr<Optimizer> make_adamw(Schedule lr, double weight_decay = 0.01, double beta1 = 0.9,
                                             double beta2 = 0.999, double eps = 1e-8) {
  return std::make_unique<Adam>(std::move(lr), beta1, beta2, eps, weight_decay, true);
}

}  // namespace eos::optim
