#include "objective.hpp"

#include <fmt/format.h>

namespace eos {

double Objective::batch_value(const Tensor&, std::span<const std::size_t>) {
  throw std::logic_error(fmt::format("{}: not a sum over examples, so it has no minibatch value", describe()));
}
double Objective::batch_value_and_grad(const Tensor&, std::span<const std::size_t>, Tensor&) {
  throw std::logic_error(fmt::format("{}: not a sum over examples, so it has no minibatch gradient", describe()));
}
ad::ValueGrad Objective::value_and_grad(const Tensor& theta) {
  ad::ValueGrad r;
  r.value = value_and_grad(theta, r.grad);
  return r;
}
ad::ValueGrad Objective::batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch) {
  ad::ValueGrad r;
  r.value = batch_value_and_grad(theta, batch, r.grad);
  return r;
}

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
