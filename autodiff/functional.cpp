#include "functional.hpp"

#include <fmt/format.h>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

namespace eos::ad {
namespace {

void check_theta(const char* what, const Tensor& theta) {
  if (theta.dimension() != 1)
    throw ShapeError(fmt::format("{}: θ must be a flat vector (rank 1), got shape {}", what,
                                 shape_str_of(theta.shape())));
}
void check_direction(const char* what, const Tensor& theta, const Tensor& v) {
  if (!std::equal(v.shape().begin(), v.shape().end(), theta.shape().begin(), theta.shape().end()))
    throw ShapeError(fmt::format("{}: direction shape {} != θ shape {}", what,
                                 shape_str_of(v.shape()), shape_str_of(theta.shape())));
}

// Runs f on a cleared tape with θ as its variable and checks the result.
// by_reference: the tape reads the caller's θ in place (the tape is used only
// within the call); otherwise it keeps a copy (Linearized outlives the call).
Var record(const char* what, Tape& tape, const ScalarFunction& f, const Tensor& theta, Var& th,
           bool by_reference = true) {
  check_theta(what, theta);
  tape.clear();
  th = by_reference ? tape.variable_view(theta) : tape.variable(theta);
  Var out = f(th);
  if (out.tape() != &tape)
    throw TapeError(fmt::format("{}: f returned a Var that is not on the tape it was given", what));
  tape.check(out, what);
  if (out.value().size() != 1)
    throw TapeError(fmt::format("{}: f returned shape {}; a scalar function must return one "
                                "element (reduce with sum or mean first)",
                                what, shape_str_of(out.value().shape())));
  return out;
}

Tensor seed_like(const Tensor& y, double v) {
  Tensor s = Tensor::from_shape(y.shape());
  s.fill(v);
  return s;
}

}  // namespace

double value_and_grad(Tape& tape, const ScalarFunction& f, const Tensor& theta, Tensor& grad) {
  Var th;
  Var out = record("value_and_grad", tape, f, theta, th);
  const double value = out.item();
  if (!tape.requires_grad(out)) {
    grad.resize(theta.shape());
    grad.fill(0.0);
    return value;
  }
  tape.backward(out);
  tape.take_adjoint(th, grad);
  return value;
}
ValueGrad value_and_grad(Tape& tape, const ScalarFunction& f, const Tensor& theta) {
  ValueGrad r;
  r.value = value_and_grad(tape, f, theta, r.grad);
  return r;
}
ValueGrad value_and_grad(const ScalarFunction& f, const Tensor& theta) {
  Tape tape;
  return value_and_grad(tape, f, theta);
}

ValueDerivative jvp(const ScalarFunction& f, const Tensor& theta, const Tensor& v) {
  Tape tape;
  Var th;
  Var out = record("jvp", tape, f, theta, th);
  check_direction("jvp", theta, v);
  ValueDerivative r;
  r.value = out.item();
  tape.seed_tangent(th, v);
  tape.propagate_tangents();
  r.derivative = tape.has_tangent(out) ? tape.tangent(out).data()[0] : 0.0;
  return r;
}

ValueGradHvp hvp(Tape& tape, const ScalarFunction& f, const Tensor& theta, const Tensor& v) {
  Var th;
  Var out = record("hvp", tape, f, theta, th);
  check_direction("hvp", theta, v);
  ValueGradHvp r;
  r.value = out.item();
  if (!tape.requires_grad(out)) {
    r.grad = xt::zeros<double>(theta.shape());
    r.hvp = xt::zeros<double>(theta.shape());
    return r;
  }
  tape.seed_tangent(th, v);
  tape.propagate_tangents();
  const Tensor& y = out.value();
  tape.backward_tangents(out, seed_like(y, 1.0), seed_like(y, 0.0), /*with_adjoints=*/true);
  r.grad = tape.adjoint(th);
  r.hvp = tape.adjoint_tangent(th);
  return r;
}
ValueGradHvp hvp(const ScalarFunction& f, const Tensor& theta, const Tensor& v) {
  Tape tape;
  return hvp(tape, f, theta, v);
}

Linearized::Linearized(ScalarFunction f, const Tensor& theta, std::unique_ptr<Tape> tape)
    : tape_(tape ? std::move(tape) : std::make_unique<Tape>()), f_(std::move(f)) {
  out_ = record("linearize", *tape_, f_, theta, theta_, /*by_reference=*/false);
  value_ = out_.item();
  constant_ = !tape_->requires_grad(out_);
  if (constant_) {
    grad_ = xt::zeros<double>(theta.shape());
    return;
  }
  tape_->backward(out_);
  grad_ = tape_->adjoint(theta_);
  one_ = seed_like(out_.value(), 1.0);
  zero_ = seed_like(out_.value(), 0.0);
}

void Linearized::apply(const Tensor& v, Tensor& out) {
  check_direction("Linearized::apply", grad_, v);
  ++applications_;
  if (!tape_) throw TapeError("Linearized::apply: its tape was released");
  if (constant_) {
    out = xt::zeros<double>(grad_.shape());
    return;
  }
  Float32Products::Scope precision(float32_on_ ? float32_.get() : nullptr);
  tape_->seed_tangent(theta_, v);
  tape_->propagate_tangents();
  tape_->backward_tangents(out_, one_, zero_, /*with_adjoints=*/false);
  copy_into(out, tape_->adjoint_tangent(theta_));
}

void Linearized::float32_products(bool on) {
  if (on && !float32_ && tape_) {
    float32_ = std::make_unique<Float32Products>();
    tape_->keep_fixed_buffers(*float32_);
  }
  float32_on_ = on && float32_ != nullptr;
}
Tensor Linearized::apply(const Tensor& v) {
  Tensor out;
  apply(v, out);
  return out;
}

Linearized linearize(const ScalarFunction& f, const Tensor& theta) { return Linearized(f, theta); }

Tensor hessian(const ScalarFunction& f, const Tensor& theta, std::size_t max_dim) {
  check_theta("hessian", theta);
  const std::size_t n = theta.size();
  if (n > max_dim)
    throw ShapeError(fmt::format("hessian: θ has {} entries, more than max_dim = {} (a dense "
                                 "Hessian would need {} HVPs and {:.1f} MB)",
                                 n, max_dim, n, 8.0 * n * n / 1e6));
  Linearized op(f, theta);
  Tensor H = xt::zeros<double>({n, n});
  Tensor e = xt::zeros<double>({n});
  Tensor col;
  for (std::size_t j = 0; j < n; ++j) {
    e(j) = 1.0;
    op.apply(e, col);
    e(j) = 0.0;
    xt::view(H, xt::all(), j) = col;
  }
  return H;
}

}  // namespace eos::ad
