#include "function_objective.hpp"

#include <fmt/format.h>

namespace eos {

FunctionObjective::FunctionObjective(std::string name, std::size_t dim, ad::ScalarFunction f)
    : name_(std::move(name)), dim_(dim), f_(std::move(f)) {}

void FunctionObjective::check(const Tensor& theta) const {
  if (theta.dimension() != 1 || theta.size() != dim_)
    throw ShapeError(fmt::format("{}: θ has shape {}, expected [{}]", name_, shape_str_of(theta.shape()), dim_));
}
double FunctionObjective::value(const Tensor& theta) {
  check(theta);
  tape_.clear();
  return f_(tape_.variable(theta)).item();
}
double FunctionObjective::value_and_grad(const Tensor& theta, Tensor& grad) {
  check(theta);
  return ad::value_and_grad(tape_, f_, theta, grad);
}
Tensor FunctionObjective::hvp(const Tensor& theta, const Tensor& v) {
  check(theta);
  return ad::hvp(tape_, f_, theta, v).hvp;
}
std::unique_ptr<HessianOperator> FunctionObjective::hessian_at(const Tensor& theta) {
  check(theta);
  return std::make_unique<LinearizedOperator>(f_, theta);
}

}  // namespace eos
