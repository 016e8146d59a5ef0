// Objectives recorded on the tape: FunctionObjective turns any ScalarFunction
// of θ into an eos::Objective (the paper's toys are such), and
// LinearizedOperator is the HessianOperator of one linearized tape.
#pragma once

#include <memory>
#include <string>

#include "../core/objective.hpp"
#include "functional.hpp"

namespace eos {

// An Objective for any scalar function of θ (no examples): the toys.
class FunctionObjective : public Objective {
 public:
  FunctionObjective(std::string name, std::size_t dim, ad::ScalarFunction f);
  std::string describe() const override { return name_; }
  std::size_t dim() const override { return dim_; }
  double value(const Tensor& theta) override;
  using Objective::value_and_grad;
  double value_and_grad(const Tensor& theta, Tensor& grad) override;
  Tensor hvp(const Tensor& theta, const Tensor& v) override;
  std::unique_ptr<HessianOperator> hessian_at(const Tensor& theta) override;

 private:
  void check(const Tensor& theta) const;
  std::string name_;
  std::size_t dim_;
  ad::ScalarFunction f_;
  ad::Tape tape_;
};

// A HessianOperator from one recorded Linearized tape.
class LinearizedOperator : public HessianOperator {
 public:
  LinearizedOperator(const ad::ScalarFunction& f, const Tensor& theta) : lin_(f, theta) {}
  std::size_t dim() const override { return lin_.dim(); }
  double value() const override { return lin_.value(); }
  const Tensor& grad() const override { return lin_.grad(); }
  void apply(const Tensor& v, Tensor& out) override {
    lin_.apply(v, out);
    ++applications_;
  }
  using HessianOperator::apply;
  bool float32_products(bool on) override {
    lin_.float32_products(on);
    return lin_.float32_products();
  }

 private:
  ad::Linearized lin_;
};

}  // namespace eos
