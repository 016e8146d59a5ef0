// A user's own model without offsets: declare each parameter by name and
// shape, then write the forward map over them by name. The layout assigns
// the offsets (in declaration order: PyTorch's parameters() order when the
// declarations follow the module's), and the Model it gives plugs into
// ModelObjective like a library network.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "module.hpp"

namespace eos::nn {

class ParameterLayout {
 public:
  // Declares the next parameter; std::invalid_argument for a repeated name or an empty shape.
  ParameterLayout& add(const std::string& name, const Shape& shape);
  const std::vector<ParameterSlice>& slices() const { return slices_; }
  std::size_t size() const { return size_; }
  const ParameterSlice& at(const std::string& name) const;  // std::invalid_argument naming the known ones

 private:
  std::vector<ParameterSlice> slices_;
  std::map<std::string, std::size_t> index_;
  std::size_t size_ = 0;
};

// The parameters of one forward evaluation, by name: p["W0"] is θ's slice
// with the declared shape (differentiable, as a view of θ).
class Params {
 public:
  Params(ad::Var theta, const ParameterLayout& layout) : theta_(theta), layout_(&layout) {}
  ad::Var operator[](const std::string& name) const;
  ad::Var theta() const { return theta_; }  // for ops that read θ in place (linear, conv2d)
  std::size_t offset(const std::string& name) const { return layout_->at(name).offset; }

 private:
  ad::Var theta_;
  const ParameterLayout* layout_;
};

Model custom_model(std::string name, ParameterLayout layout,
                   std::function<ad::Var(const Params& params, ad::Var x)> forward);

}  // namespace eos::nn
