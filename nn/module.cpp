#include "module.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace eos::nn {

std::size_t Module::num_params() const {
  std::size_t n = 0;
  for (const auto& p : param_specs()) n += shape_size(p.shape);
  return n;
}

std::vector<ParameterSlice> Module::parameter_slices() const {
  std::vector<ParameterSlice> out;
  std::size_t o = 0;
  for (const auto& p : param_specs()) {
    out.push_back({p.name, o, p.shape});
    o += shape_size(p.shape);
  }
  return out;
}

Linear::Linear(std::size_t in, std::size_t out, bool bias) : in_(in), out_(out), bias_(bias) {
  if (in == 0 || out == 0) throw std::invalid_argument(fmt::format("Linear({}, {}): sizes must be positive", in, out));
}
std::string Linear::describe() const { return fmt::format("Linear({}, {}{})", in_, out_, bias_ ? "" : ", bias=False"); }
std::vector<ParamSpec> Linear::param_specs() const {
  std::vector<ParamSpec> p{{"weight", {out_, in_}, in_, out_, false}};
  if (bias_) p.push_back({"bias", {out_}, in_, out_, true});
  return p;
}
Shape Linear::output_shape(const Shape& in) const {
  if (in.size() != 1 || in[0] != in_)
    throw ShapeError(fmt::format("{} takes {} features per example, got an input of shape {}{}", describe(), in_,
                                 shape_str(in), in.size() > 1 ? " (add a Flatten before it)" : ""));
  return {out_};
}
ad::Var Linear::forward(ad::Var theta, ad::Var x, std::size_t offset) const {
  return ad::linear(x, theta, offset, out_, in_, bias_);  // x Wᵀ + b, W and b read in place from θ
}

ActivationKind parse_activation(const std::string& name) {
  if (name == "tanh") return ActivationKind::Tanh;
  if (name == "relu") return ActivationKind::ReLU;
  if (name == "elu") return ActivationKind::ELU;
  if (name == "softplus") return ActivationKind::Softplus;
  if (name == "gelu") return ActivationKind::GELU;
  if (name == "sigmoid") return ActivationKind::Sigmoid;
  if (name == "hardtanh") return ActivationKind::Hardtanh;
  if (name == "leaky_relu") return ActivationKind::LeakyReLU;
  if (name == "selu") return ActivationKind::SELU;
  if (name == "identity") return ActivationKind::Identity;
  throw std::invalid_argument(fmt::format("unknown activation '{}' (expected tanh, relu, elu, softplus, gelu, sigmoid, "
                                          "hardtanh, leaky_relu, selu or identity)",
                                          name));
}
std::string activation_name(ActivationKind k) {
  switch (k) {
    case ActivationKind::Tanh: return "tanh";
    case ActivationKind::ReLU: return "relu";
    case ActivationKind::ELU: return "elu";
    case ActivationKind::Softplus: return "softplus";
    case ActivationKind::GELU: return "gelu";
    case ActivationKind::Sigmoid: return "sigmoid";
    case ActivationKind::Hardtanh: return "hardtanh";
    case ActivationKind::LeakyReLU: return "leaky_relu";
    case ActivationKind::SELU: return "selu";
    case ActivationKind::Identity: return "identity";
  }
  return "?";
}
ad::Var activate(ActivationKind k, ad::Var x) {
  switch (k) {
    case ActivationKind::Tanh: return ad::tanh(x);
    case ActivationKind::ReLU: return ad::relu(x);
    case ActivationKind::ELU: return ad::elu(x, 1.0);
    case ActivationKind::Softplus: return ad::softplus(x);
    case ActivationKind::GELU: return ad::gelu(x);
    case ActivationKind::Sigmoid: return ad::sigmoid(x);
    case ActivationKind::Hardtanh: return ad::hardtanh(x);
    case ActivationKind::LeakyReLU: return ad::leaky_relu(x, 0.01);  // torch.nn.LeakyReLU's default slope
    case ActivationKind::SELU: return ad::selu(x);
    case ActivationKind::Identity: return x;
  }
  return x;
}

Sequential& Sequential::add(std::shared_ptr<const Module> m) {
  offsets_.push_back(total_params_);
  total_params_ += m->num_params();
  modules_.push_back(std::move(m));
  return *this;
}
std::string Sequential::describe() const {
  std::string s = "Sequential(";
  for (std::size_t i = 0; i < modules_.size(); ++i) s += (i ? ", " : "") + modules_[i]->describe();
  return s + ")";
}
std::vector<ParamSpec> Sequential::param_specs() const {
  std::vector<ParamSpec> out;
  for (std::size_t i = 0; i < modules_.size(); ++i)
    for (auto p : modules_[i]->param_specs()) {
      p.name = fmt::format("{}.{}", i, p.name);
      out.push_back(std::move(p));
    }
  return out;
}
bool Sequential::couples_batch() const {
  for (const auto& m : modules_)
    if (m->couples_batch()) return true;
  return false;
}
Shape Sequential::output_shape(const Shape& in) const {
  Shape s = in;
  for (const auto& m : modules_) s = m->output_shape(s);
  return s;
}
ad::Var Sequential::forward(ad::Var theta, ad::Var x, std::size_t offset) const {
  for (std::size_t i = 0; i < modules_.size(); ++i) x = modules_[i]->forward(theta, x, offset + offsets_[i]);
  return x;
}

std::shared_ptr<Sequential> mlp(const MlpSpec& spec) {
  if (spec.input_dim == 0 || spec.output_dim == 0)
    throw std::invalid_argument(fmt::format("mlp: input_dim ({}) and output_dim ({}) must be positive",
                                            spec.input_dim, spec.output_dim));
  auto net = std::make_shared<Sequential>();
  std::size_t prev = spec.input_dim;
  for (std::size_t h : spec.hidden) {
    net->add(std::make_shared<Linear>(prev, h, spec.bias));
    net->add(std::make_shared<Activation>(spec.activation));
    prev = h;
  }
  net->add(std::make_shared<Linear>(prev, spec.output_dim, spec.bias));
  return net;
}

Model as_model(std::shared_ptr<const Module> module, const Shape& input_shape) {
  Model m;
  m.name = module->describe();
  m.num_params = module->num_params();
  m.slices = module->parameter_slices();
  m.couples_batch = module->couples_batch();
  if (input_shape.size() <= 1) {
    m.forward = [module](ad::Var theta, ad::Var x) { return module->forward(theta, x, 0); };
    return m;
  }
  module->output_shape(input_shape);  // a ShapeError now, not at the first step
  m.forward = [module, input_shape](ad::Var theta, ad::Var x) {
    const Shape rows = x.shape();
    const std::size_t per_example = shape_size(input_shape);
    if (rows.size() != 2 || rows[1] != per_example)
      throw ShapeError(fmt::format("{}: rows of shape {} for examples of shape {} ({} values each)", module->describe(),
                                   shape_str(rows), shape_str(input_shape), per_example));
    Shape batched{rows[0]};
    batched.insert(batched.end(), input_shape.begin(), input_shape.end());
    return module->forward(theta, ad::reshape(x, batched), 0);
  };
  return m;
}

}  // namespace eos::nn
