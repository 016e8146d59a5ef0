// The interface between models and everything that studies them: a scalar
// function f of a flat parameter vector θ with its gradient and exact
// Hessian-vector products, and, when f is a mean over examples, the same on a
// subset (minibatch). Optimizers and analysis/ see only this.
//
// The interface sits in core/, below autodiff: analysis/ and optim/ depend on
// it without depending on how f is computed. Implementations:
// FunctionObjective (any ScalarFunction on the tape: the paper's toys,
// autodiff/function_objective.hpp), nn::ModelObjective (model + loss +
// dataset, evaluated in chunks), mpi::DistributedObjective.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

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
  // Mixed precision (autodiff/float32_products.hpp): asks for products whose
  // matrix multiplications run in float32 (on) or float64 (off, the default);
  // returns whether the products are float32 now. Operators that cannot
  // (the default) stay float64 and say so.
  virtual bool float32_products(bool on) {
    (void)on;
    return false;
  }
  Tensor apply(const Tensor& v) {
    Tensor out;
    apply(v, out);
    return out;
  }
  std::size_t applications() const { return applications_; }

 protected:
  std::size_t applications_ = 0;
};

// f and ∇f at one θ.
struct ValueGrad {
  double value = 0.0;
  Tensor grad;
};

// A named slice θ[offset, offset + size()) of the parameters, holding one
// parameter of the given shape (row-major), like an entry of a PyTorch
// state_dict ("0.weight" [200, 784], "0.bias" [200]). Models declare their
// layout with these; block-wise analysis (block_sharpness) reads them.
struct ParameterSlice {
  std::string name;
  std::size_t offset = 0;
  Shape shape;
  std::size_t size() const { return shape_size(shape); }
  std::size_t end() const { return offset + size(); }
};
using ParameterBlock [[deprecated("use eos::ParameterSlice")]] = ParameterSlice;

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string describe() const = 0;
  virtual std::size_t dim() const = 0;
  virtual double value(const Tensor& theta) = 0;
  // f(θ), with ∇f(θ) written into `grad`. A buffer that already has θ's size
  // is reused, so a training loop that keeps its buffers allocates nothing.
  virtual double value_and_grad(const Tensor& theta, Tensor& grad) = 0;
  ValueGrad value_and_grad(const Tensor& theta);  // the same, into a new tensor
  virtual Tensor hvp(const Tensor& theta, const Tensor& v) = 0;
  virtual std::unique_ptr<HessianOperator> hessian_at(const Tensor& theta) = 0;

  // Finite sums f = (1/n) Σᵢ ℓᵢ (+ a regularizer): n, and f and ∇f restricted
  // to the examples `batch` (mean over the batch, same regularizer).
  // num_examples() == 0 means f is not a finite sum; the batch calls then throw.
  virtual std::size_t num_examples() const { return 0; }
  virtual double batch_value(const Tensor& theta, std::span<const std::size_t> batch);
  virtual double batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch, Tensor& grad);
  ValueGrad batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch);
  // Classification accuracy over all examples, where that means something.
  virtual std::optional<double> accuracy(const Tensor&) { return std::nullopt; }
  // θ's named slices, in order, when the objective knows them (a model's
  // parameters); none for a bare function.
  virtual std::vector<ParameterSlice> parameter_slices() const { return {}; }
  // A fingerprint of the examples f is a mean over (features, labels,
  // targets; core/hash.hpp), so that a resumed run or an analysis can tell
  // that its data are the ones a checkpoint or a trajectory was made on;
  // empty for an objective without data (a function of θ alone).
  virtual std::string data_fingerprint() const { return {}; }
};

}  // namespace eos
