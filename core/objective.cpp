#include "objective.hpp"

#include <fmt/format.h>

namespace eos {

double Objective::batch_value(const Tensor&, std::span<const std::size_t>) {
  throw std::logic_error(fmt::format("{}: not a sum over examples, so it has no minibatch value", describe()));
}
double Objective::batch_value_and_grad(const Tensor&, std::span<const std::size_t>, Tensor&) {
  throw std::logic_error(fmt::format("{}: not a sum over examples, so it has no minibatch gradient", describe()));
}
ValueGrad Objective::value_and_grad(const Tensor& theta) {
  ValueGrad r;
  r.value = value_and_grad(theta, r.grad);
  return r;
}
ValueGrad Objective::batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch) {
  ValueGrad r;
  r.value = batch_value_and_grad(theta, batch, r.grad);
  return r;
}

}  // namespace eos
