#include "custom.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace eos::nn {

ParameterLayout& ParameterLayout::add(const std::string& name, const Shape& shape) {
  if (index_.count(name)) throw std::invalid_argument(fmt::format("ParameterLayout: '{}' is declared twice", name));
  if (shape.empty() || shape_size(shape) == 0)
    throw std::invalid_argument(fmt::format("ParameterLayout: '{}' has shape {}; it needs at least one value", name,
                                            shape_str(shape)));
  index_[name] = slices_.size();
  slices_.push_back({name, size_, shape});
  size_ += shape_size(shape);
  return *this;
}

const ParameterSlice& ParameterLayout::at(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    std::string known;
    for (const auto& s : slices_) known += (known.empty() ? "" : ", ") + s.name;
    throw std::invalid_argument(fmt::format("no parameter '{}' (declared: {})", name, known));
  }
  return slices_[it->second];
}

ad::Var Params::operator[](const std::string& name) const {
  const ParameterSlice& s = layout_->at(name);
  return ad::slice(theta_, s.offset, s.shape);
}

Model custom_model(std::string name, ParameterLayout layout, std::function<ad::Var(const Params&, ad::Var)> forward) {
  if (layout.size() == 0) throw std::invalid_argument(fmt::format("custom_model '{}': no parameters declared", name));
  if (!forward) throw std::invalid_argument(fmt::format("custom_model '{}': no forward function", name));
  Model m;
  m.name = std::move(name);
  m.num_params = layout.size();
  m.slices = layout.slices();
  auto shared = std::make_shared<const ParameterLayout>(std::move(layout));
  m.forward = [shared, forward = std::move(forward)](ad::Var theta, ad::Var x) { return forward(Params(theta, *shared), x); };
  return m;
}

}  // namespace eos::nn
