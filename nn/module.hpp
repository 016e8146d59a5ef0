// Models over ONE flat parameter vector θ. A module declares the parameters
// it owns (name, shape, fan-in) and its forward map reads them out of θ at
// the offset it is given; gradients and HVPs therefore come back flat in the
// same layout. Layout contract (PyTorch's): per Linear layer in order, the
// weight [out × in] row-major, then the bias, so a θ written by
// torch.cat([p.reshape(-1) for p in net.parameters()]) loads as is.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../autodiff/ops.hpp"
#include "../core/objective.hpp"

namespace eos::nn {

struct ParamSpec {
  std::string name;      // "weight", "bias" (a Sequential prefixes "i.")
  Shape shape;
  std::size_t fan_in = 0, fan_out = 0;
  bool is_bias = false;
  // Set: every init scheme fills the parameter with this value (BatchNorm's
  // weight 1 and bias 0, as PyTorch's).
  std::optional<double> fill;
};

using Segment [[deprecated("use eos::ParameterSlice")]] = ParameterSlice;

class Module {
 public:
  virtual ~Module() = default;
  virtual std::string describe() const = 0;
  virtual std::vector<ParamSpec> param_specs() const { return {}; }
  // The shape of one example's output for one example's input shape (without
  // the batch dimension); ShapeError when the module does not take `in`. The
  // default is the identity (elementwise modules).
  virtual Shape output_shape(const Shape& in) const { return in; }
  // True when an example's output depends on the other examples of the batch
  // (BatchNorm in training mode): the loss is then not a sum over examples.
  virtual bool couples_batch() const { return false; }
  // y = module(θ, x), reading this module's parameters from θ starting at
  // `offset` (the same argument order as Model::forward, which is offset 0).
  virtual ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const = 0;
  std::size_t num_params() const;
  std::vector<ParameterSlice> parameter_slices() const;  // offsets from 0
};

// y = x Wᵀ + b for x [n, in], W [out, in], b [out] (bias optional).
class Linear : public Module {
 public:
  Linear(std::size_t in, std::size_t out, bool bias = true);
  std::string describe() const override;
  std::vector<ParamSpec> param_specs() const override;
  Shape output_shape(const Shape& in) const override;
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;
  std::size_t in() const { return in_; }
  std::size_t out() const { return out_; }

 private:
  std::size_t in_, out_;
  bool bias_;
};

enum class ActivationKind { Tanh, ReLU, ELU, Softplus, GELU, Sigmoid, Hardtanh, LeakyReLU, SELU, Identity };
ActivationKind parse_activation(const std::string& name);  // "tanh", "relu", … (DataError-free: invalid_argument)
std::string activation_name(ActivationKind k);
ad::Var activate(ActivationKind k, ad::Var x);

class Activation : public Module {
 public:
  explicit Activation(ActivationKind kind) : kind_(kind) {}
  std::string describe() const override { return activation_name(kind_); }
  ad::Var forward(ad::Var, ad::Var x, std::size_t) const override { return activate(kind_, x); }

 private:
  ActivationKind kind_;
};

// Modules applied in order; parameters named "<index>.<name>" as in PyTorch.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential& add(std::shared_ptr<const Module> m);
  std::string describe() const override;
  std::vector<ParamSpec> param_specs() const override;
  Shape output_shape(const Shape& in) const override;
  bool couples_batch() const override;
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;
  const std::vector<std::shared_ptr<const Module>>& modules() const { return modules_; }

 private:
  std::vector<std::shared_ptr<const Module>> modules_;
  std::vector<std::size_t> offsets_;  // θ offset of each module, fixed at add(): forward allocates nothing
  std::size_t total_params_ = 0;
};

// Linear(in, h₁) act Linear(h₁, h₂) act … Linear(h_L, out).
struct MlpSpec {
  std::size_t input_dim = 0;
  std::vector<std::size_t> hidden;
  ActivationKind activation = ActivationKind::Tanh;
  std::size_t output_dim = 0;
  bool bias = true;
};
std::shared_ptr<Sequential> mlp(const MlpSpec& spec);

// What the objective needs of a model: a forward map over (θ, x) and the
// number of parameters. Any user function fits; as_model wraps a Module.
struct Model {
  std::string name;
  std::size_t num_params = 0;
  std::function<ad::Var(ad::Var theta, ad::Var x)> forward;
  std::vector<ParameterSlice> slices;  // θ's layout by name; may be empty for custom models
  // The loss is not a sum over examples (BatchNorm): a full-batch objective
  // then evaluates every chunk at once, with the whole batch's statistics.
  bool couples_batch = false;
};
// With an input shape of rank > 1 (images: [C, H, W]) the data's rows
// [n, C·H·W] reach the module as [n, C, H, W].
Model as_model(std::shared_ptr<const Module> module, const Shape& input_shape = {});

}  // namespace eos::nn
