// Derivatives of scalar functions of a flat parameter vector θ (rank 1):
//   value_and_grad   f(θ), ∇f(θ)                          1 forward + 1 reverse sweep
//   jvp              f(θ), ∇f(θ)·v                         1 forward with tangents
//   hvp              f(θ), ∇f(θ), ∇²f(θ)·v  (forward-over-reverse, exact)
//   linearize        an operator v ↦ ∇²f(θ)·v at a fixed θ that re-runs only
//                    the tangent sweeps (primal values and adjoints are kept)
//   hessian          the dense n×n ∇²f(θ) from n linearized HVPs (small n)
// f receives θ as a variable Var on a tape and returns a one-element Var on
// the same tape. Overloads taking a Tape reuse its memory across calls.
#pragma once

#include <functional>
#include <memory>

#include "../core/objective.hpp"
#include "float32_products.hpp"
#include "ops.hpp"
#include "tape.hpp"

namespace eos::ad {

using ScalarFunction = std::function<Var(Var theta)>;

using ValueGrad = eos::ValueGrad;  // f(θ), ∇f(θ) (core/objective.hpp)
struct ValueDerivative {
  double value = 0.0;
  double derivative = 0.0;  // ∇f(θ)·v
};
struct ValueGradHvp {
  double value = 0.0;
  Tensor grad;
  Tensor hvp;  // ∇²f(θ)·v
};

ValueGrad value_and_grad(const ScalarFunction& f, const Tensor& theta);
ValueGrad value_and_grad(Tape& tape, const ScalarFunction& f, const Tensor& theta);
// f(θ), with ∇f(θ) written into `grad` (its buffer reused when it has θ's
// size): with a reused tape, a step that allocates nothing.
double value_and_grad(Tape& tape, const ScalarFunction& f, const Tensor& theta, Tensor& grad);
ValueDerivative jvp(const ScalarFunction& f, const Tensor& theta, const Tensor& v);
ValueGradHvp hvp(const ScalarFunction& f, const Tensor& theta, const Tensor& v);
ValueGradHvp hvp(Tape& tape, const ScalarFunction& f, const Tensor& theta, const Tensor& v);

// v ↦ ∇²f(θ)·v at one θ. Construction costs one forward and one reverse sweep
// (and gives f(θ), ∇f(θ)); each apply() costs one tangent sweep forward and
// one adjoint-tangent sweep backward.
class Linearized {
 public:
  // `tape`: a tape to record on (e.g. one released by an earlier Linearized):
  // its buffers are reused, so linearizing at every step does not fault in
  // fresh memory each time.
  Linearized(ScalarFunction f, const Tensor& theta, std::unique_ptr<Tape> tape = nullptr);
  std::unique_ptr<Tape> release_tape() { return std::move(tape_); }  // leaves this Linearized unusable
  double value() const { return value_; }
  const Tensor& grad() const { return grad_; }
  std::size_t dim() const { return grad_.size(); }
  std::size_t applications() const { return applications_; }  // HVPs computed so far
  Tensor apply(const Tensor& v);
  void apply(const Tensor& v, Tensor& out);  // out = ∇²f(θ)·v, reusing out's memory
  // Mixed precision: the tangent sweeps' matrix products in float32 (the
  // tape's values and adjoints rounded once), or float64 again.
  void float32_products(bool on);
  bool float32_products() const { return float32_on_; }

 private:
  std::unique_ptr<Tape> tape_;
  ScalarFunction f_;
  Var theta_, out_;
  double value_ = 0.0;
  Tensor grad_;
  Tensor one_, zero_;  // seeds
  bool constant_ = false;  // f does not depend on θ: H = 0
  std::size_t applications_ = 0;
  std::unique_ptr<Float32Products> float32_;  // the rounded copies, made on the first float32 apply
  bool float32_on_ = false;
};

Linearized linearize(const ScalarFunction& f, const Tensor& theta);

// Dense Hessian (n×n) by n linearized HVPs with unit vectors; n ≤ max_dim.
Tensor hessian(const ScalarFunction& f, const Tensor& theta, std::size_t max_dim = 4096);

}  // namespace eos::ad
