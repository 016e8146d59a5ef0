// The interface between models and everything that studies them: a scalar
// function f of a flat parameter vector θ with its gradient and exact
// Hessian-vector products, and, when f is a mean over examples, the same on a
// subset (minibatch). Optimizers and analysis/ see only this.
//
// Implementations: FunctionObjective (any ScalarFunction: the paper's toys)
// here; nn::ModelObjective (model + loss + dataset, evaluated in chunks).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "functional.hpp"
#include "tensor.hpp"

namespace eos {

// v ↦ ∇²f(θ)·v at one fixed θ (what an eigen-solver needs).
class HessianOperator {
 public:
  virtual ~HessianOperator() = default;
  virtual std::size_t dim() const = 0;
  virtual double value() const = 0;         // f(θ)
  virtual const Tensor& grad() const = 0;   // ∇f(θ)
  virtual void apply(const Tensor& v, Tensor& out) = 0;
  Tensor apply(const Tensor& v) {
    Tensor out;
    apply(v, out);
    return out;
  }
  std::size_t applications() const { return applications_; }

 protected:
  std::size_t applications_ = 0;
};

// A named slice θ[offset, offset + size) of the parameters, like an entry of
// a PyTorch state_dict ("0.weight", "0.bias", …).
struct ParameterBlock {
  std::string name;
  std::size_t offset = 0, size = 0;
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string describe() const = 0;
  virtual std::size_t dim() const = 0;
  virtual double value(const Tensor& theta) = 0;
  // f(θ), with ∇f(θ) written into `grad`. A buffer that already has θ's size
  // is reused, so a training loop that keeps its buffers allocates nothing.
  virtual double value_and_grad(const Tensor& theta, Tensor& grad) = 0;
  ad::ValueGrad value_and_grad(const Tensor& theta);  // the same, into a new tensor
  virtual Tensor hvp(const Tensor& theta, const Tensor& v) = 0;
  virtual std::unique_ptr<HessianOperator> hessian_at(const Tensor& theta) = 0;

  // Finite sums f = (1/n) Σᵢ ℓᵢ (+ a regularizer): n, and f and ∇f restricted
  // to the examples `batch` (mean over the batch, same regularizer).
  // num_examples() == 0 means f is not a finite sum; the batch calls then throw.
  virtual std::size_t num_examples() const { return 0; }
  virtual double batch_value(const Tensor& theta, std::span<const std::size_t> batch);
  virtual double batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch, Tensor& grad);
  ad::ValueGrad batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch);
  // Classification accuracy over all examples, where that means something.
  virtual std::optional<double> accuracy(const Tensor&) { return std::nullopt; }
  // θ's named blocks, in order, when the objective knows them (a model's
  // layers); none for a bare function.
  virtual std::vector<ParameterBlock> parameter_blocks() const { return {}; }
};

// An Objective for any scalar function of θ (no examples): the toys.
class FunctionObjective : public Objective {
 public:
  FunctionObjective(std::string name, std::size_t dim, ad::ScalarFunction f);
  std::string describe() const override { return name_; }
  std::size_t dim() const override { return dim_; }
  double value(const Tensor& theta) override;
  using Objective::value_and_grad;
  double value_and_grad(const Tensor& theta, Tensor& grad) override;
  Tensor hvp(const Tensor& theta, const Tensor& v) override;
  std::unique_ptr<HessianOperator> hessian_at(const Tensor& theta) override;

 private:
  void check(const Tensor& theta) const;
  std::string name_;
  std::size_t dim_;
  ad::ScalarFunction f_;
  ad::Tape tape_;
};

// A HessianOperator from one recorded Linearized tape.
class LinearizedOperator : public HessianOperator {
 public:
  LinearizedOperator(const ad::ScalarFunction& f, const Tensor& theta) : lin_(f, theta) {}
  std::size_t dim() const override { return lin_.dim(); }
  double value() const override { return lin_.value(); }
  const Tensor& grad() const override { return lin_.grad(); }
  void apply(const Tensor& v, Tensor& out) override {
    lin_.apply(v, out);
    ++applications_;
  }
  using HessianOperator::apply;

 private:
  ad::Linearized lin_;
};

}  // namespace eos
