// The paper's two-parameter examples as Objectives.
//   Example 1  quadratic        f = 20θ₁² + θ₂²            (L = 40)
//   Example 2  tanh_quadratic   f = tanh(20θ₁² + θ₂²)
//   Example 3  linear_neuron    f = (θ₁·θ₂)²               fitting (1, 0) with a linear unit
//              tanh_neuron      f = (θ₁·tanh θ₂)²          … with a tanh unit
#pragma once

#include <memory>

#include "../autodiff/function_objective.hpp"

namespace eos::analysis::toys {

std::unique_ptr<FunctionObjective> quadratic();
std::unique_ptr<FunctionObjective> tanh_quadratic();
std::unique_ptr<FunctionObjective> linear_neuron();
std::unique_ptr<FunctionObjective> tanh_neuron();
// By name: "quadratic", "tanh_quadratic", "linear_neuron", "tanh_neuron".
std::unique_ptr<FunctionObjective> by_name(const std::string& name);

}  // namespace eos::analysis::toys
