#include "toys.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace eos::analysis::toys {
namespace {
ad::Var th1(ad::Var th) { return ad::slice(th, 0, {}); }
ad::Var th2(ad::Var th) { return ad::slice(th, 1, {}); }
ad::Var quad(ad::Var th) { return 20.0 * ad::square(th1(th)) + ad::square(th2(th)); }
}  // namespace

std::unique_ptr<FunctionObjective> quadratic() {
  return std::make_unique<FunctionObjective>("quadratic 20θ₁²+θ₂²", 2, quad);
}
std::unique_ptr<FunctionObjective> tanh_quadratic() {
  return std::make_unique<FunctionObjective>("tanh(20θ₁²+θ₂²)", 2, [](ad::Var th) { return ad::tanh(quad(th)); });
}
std::unique_ptr<FunctionObjective> linear_neuron() {
  return std::make_unique<FunctionObjective>("linear neuron (θ₁θ₂)²", 2,
                                             [](ad::Var th) { return ad::square(th1(th) * th2(th)); });
}
std::unique_ptr<FunctionObjective> tanh_neuron() {
  return std::make_unique<FunctionObjective>("tanh neuron (θ₁·tanh θ₂)²", 2,
                                             [](ad::Var th) { return ad::square(th1(th) * ad::tanh(th2(th))); });
}
std::unique_ptr<FunctionObjective> by_name(const std::string& name) {
  if (name == "quadratic") return quadratic();
  if (name == "tanh_quadratic") return tanh_quadratic();
  if (name == "linear_neuron") return linear_neuron();
  if (name == "tanh_neuron") return tanh_neuron();
  throw std::invalid_argument(fmt::format(
      "unknown toy '{}' (expected quadratic, tanh_quadratic, linear_neuron or tanh_neuron)", name));
}

}  // namespace eos::analysis::toys
