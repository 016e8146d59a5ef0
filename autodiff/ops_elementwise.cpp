// Elementwise ops: binary with broadcasting, ops with a constant, and the
// unary functions declared by (f, f′, f″).
#include <cmath>
#include <numbers>

#include <xtensor/xoperation.hpp>

#include "op_util.hpp"
#include "ops.hpp"

namespace eos::ad {
using detail::accumulate_into;

namespace {

// Output shape of a broadcasting binary op, checked.
Shape binary_shape(const char* op, const OpCall& c) {
  return detail::broadcast_shapes(op, detail::to_shape(c.x[0]->shape()),
                                  detail::to_shape(c.x[1]->shape()));
}

// *out = e broadcast to `shape` (used when only one operand has a tangent).
template <class E>
void assign_broadcast(Tensor& out, const E& e, const Tensor& like) {
  out.resize(like.shape());
  xt::noalias(out) = xt::broadcast(e, like.shape());
}

}  // namespace

// ============================================================================
// add: y = a + b. Constant Jacobian.
extern const OpDef op_add;
const OpDef op_add{
    "add", 2, RuleKind::ConstantJacobian,
    /*forward*/ [](OpCall& c) {
      binary_shape("add", c);
      xt::noalias(*c.out) = *c.x[0] + *c.x[1];
    },
    /*jvp*/ [](OpCall& c) {
      if (c.dx[0] && c.dx[1]) xt::noalias(*c.out) = *c.dx[0] + *c.dx[1];
      else assign_broadcast(*c.out, c.dx[0] ? *c.dx[0] : *c.dx[1], *c.y);
    },
    /*vjp*/ [](OpCall& c) {
      if (c.gx[0]) detail::put(*c.gx[0], c.fresh_gx[0], *c.gy);
      if (c.gx[1]) detail::put(*c.gx[1], c.fresh_gx[1], *c.gy);
    },
    nullptr, /*writes_fresh=*/true};


// sub: y = a − b. Constant Jacobian.
extern const OpDef op_sub;
const OpDef op_sub{
    "sub", 2, RuleKind::ConstantJacobian,
    [](OpCall& c) {
      binary_shape("sub", c);
      xt::noalias(*c.out) = *c.x[0] - *c.x[1];
    },
    [](OpCall& c) {
      if (c.dx[0] && c.dx[1]) xt::noalias(*c.out) = *c.dx[0] - *c.dx[1];
      else if (c.dx[0]) assign_broadcast(*c.out, *c.dx[0], *c.y);
      else assign_broadcast(*c.out, -*c.dx[1], *c.y);
    },
    [](OpCall& c) {
      if (c.gx[0]) detail::put(*c.gx[0], c.fresh_gx[0], *c.gy);
      if (c.gx[1]) detail::put(*c.gx[1], c.fresh_gx[1], -*c.gy);
    },
    nullptr, /*writes_fresh=*/true};

// mul: y = a ⊙ b. Bilinear: ȧ ⊙ b + a ⊙ ḃ; ā += ȳ ⊙ b, b̄ += ȳ ⊙ a.
extern const OpDef op_mul;
const OpDef op_mul{
    "mul", 2, RuleKind::Bilinear,
    [](OpCall& c) {
      binary_shape("mul", c);
      xt::noalias(*c.out) = *c.x[0] * *c.x[1];
    },
    [](OpCall& c) {
      if (c.dx[0] && c.dx[1]) xt::noalias(*c.out) = *c.dx[0] * *c.x[1] + *c.x[0] * *c.dx[1];
      else if (c.dx[0]) xt::noalias(*c.out) = *c.dx[0] * *c.x[1];
      else xt::noalias(*c.out) = *c.x[0] * *c.dx[1];
    },
    [](OpCall& c) {
      if (c.gx[0]) detail::put(*c.gx[0], c.fresh_gx[0], *c.gy * *c.x[1]);
      if (c.gx[1]) detail::put(*c.gx[1], c.fresh_gx[1], *c.gy * *c.x[0]);
    },
    nullptr, /*writes_fresh=*/true};

// div: y = a / b.  ẏ = (ȧ − y ḃ)/b;  ā += ȳ/b;  b̄ −= ȳ a/b².
extern const OpDef op_div;
const OpDef op_div{
    "div", 2, RuleKind::General,
    [](OpCall& c) {
      binary_shape("div", c);
      xt::noalias(*c.out) = *c.x[0] / *c.x[1];
    },
    [](OpCall& c) {
      const Tensor &b = *c.x[1], &y = *c.y;
      if (c.dx[0] && c.dx[1]) xt::noalias(*c.out) = (*c.dx[0] - y * *c.dx[1]) / b;
      else if (c.dx[0]) xt::noalias(*c.out) = *c.dx[0] / b;
      else xt::noalias(*c.out) = -y * *c.dx[1] / b;
    },
    [](OpCall& c) {
      const Tensor &a = *c.x[0], &b = *c.x[1];
      if (c.gx[0]) accumulate_into(*c.gx[0], *c.gy / b);
      if (c.gx[1]) accumulate_into(*c.gx[1], -*c.gy * a / (b * b));
    },
    // d(ȳ/b) = ȳ̇/b − ȳ ḃ/b²;  d(−ȳ a/b²) = −ȳ̇ a/b² − ȳ ȧ/b² + 2 ȳ a ḃ/b³.
    [](OpCall& c) {
      const Tensor &a = *c.x[0], &b = *c.x[1], &gy = *c.gy, &gdy = *c.gdy;
      if (c.gdx[0]) {
        if (c.dx[1]) accumulate_into(*c.gdx[0], gdy / b - gy * *c.dx[1] / (b * b));
        else accumulate_into(*c.gdx[0], gdy / b);
      }
      if (c.gdx[1]) {
        Tensor t = -gdy * a / (b * b);
        if (c.dx[0]) t = t - gy * *c.dx[0] / (b * b);
        if (c.dx[1]) t = t + 2.0 * gy * a * *c.dx[1] / (b * b * b);
        accumulate_into(*c.gdx[1], t);
      }
    }};

// ============================================================================
// neg: y = −x. Linear.
extern const OpDef op_neg;
const OpDef op_neg{
    "neg", 1, RuleKind::LinearUnary,
    [](OpCall& c) { xt::noalias(*c.out) = -*c.x[0]; },
    nullptr,
    [](OpCall& c) { detail::put(*c.gx[0], c.fresh_gx[0], -*c.gy); },
    nullptr, /*writes_fresh=*/true};

// scale: y = s·x. Linear.
extern const OpDef op_scale;
const OpDef op_scale{
    "scale", 1, RuleKind::LinearUnary,
    [](OpCall& c) { xt::noalias(*c.out) = c.params<ScalarParams>().value * *c.x[0]; },
    nullptr,
    [](OpCall& c) { detail::put(*c.gx[0], c.fresh_gx[0], c.params<ScalarParams>().value * *c.gy); },
    nullptr, /*writes_fresh=*/true};

// add_scalar: y = x + s. Constant Jacobian (affine, so ẏ = ẋ, not forward(ẋ)).
extern const OpDef op_add_scalar;
const OpDef op_add_scalar{
    "add_scalar", 1, RuleKind::ConstantJacobian,
    [](OpCall& c) { xt::noalias(*c.out) = *c.x[0] + c.params<ScalarParams>().value; },
    [](OpCall& c) { xt::noalias(*c.out) = *c.dx[0]; },
    [](OpCall& c) { detail::put(*c.gx[0], c.fresh_gx[0], *c.gy); },
    nullptr, /*writes_fresh=*/true};

// ============================================================================
// Elementwise unary ops from (f, f′, f″). Fn provides, for input x, output
// y = f(x) and the op's constant a (exponent, α; unused by most), lazy
// expressions that must not refer to their own parameters (use prvalues):
//   f(x, a), d1(x, y, a) = f′(x), d2(x, y, a) = f″(x)
// and the four rules follow:
//   ẏ = f′ ẋ;  x̄ += f′ ȳ;  x̄̇ += f′ ȳ̇ + f″ ẋ ȳ.
// A piecewise-linear Fn (relu, hardtanh, leaky_relu) declares no f″ but
// `piecewise_linear = true`, and its last rule is x̄̇ += f′ ȳ̇.
namespace {
// The op's constant a: ScalarParams for pow, elu, leaky_relu; 0 for the
// ops without one (their builders set no parameters).
double constant_of(const OpCall& c) {
  const auto* p = std::get_if<ScalarParams>(&c.p);
  return p ? p->value : 0.0;
}
// The rules run on flat rank-1 views of the (equal-shaped) buffers: a static
// rank and unit stride let xtensor vectorize the loop, which it does not for
// the dynamic-rank Tensor itself (≈3× on activation-sized nodes).
using Flat = decltype(xt::adapt(static_cast<const double*>(nullptr), std::size_t{0}, xt::no_ownership(),
                                std::array<std::size_t, 1>{}));
Flat flat(const Tensor& t) { return xt::adapt(t.data(), t.size(), xt::no_ownership(), std::array<std::size_t, 1>{t.size()}); }
auto flat_out(Tensor& t) { return xt::adapt(t.data(), t.size(), xt::no_ownership(), std::array<std::size_t, 1>{t.size()}); }
// g = e when `fresh` (g has the input's shape but no values yet), else g += e.
template <class E>
void put_flat(Tensor& g, bool fresh, const E& e) {
  auto out = flat_out(g);
  if (fresh) xt::noalias(out) = e;
  else xt::noalias(out) += e;
}

template <class Fn>
struct Elementwise {
  static void forward(OpCall& c) {
    c.out->resize(c.x[0]->shape());
    xt::noalias(flat_out(*c.out)) = Fn::f(flat(*c.x[0]), constant_of(c));
  }
  static void jvp(OpCall& c) {
    c.out->resize(c.x[0]->shape());
    xt::noalias(flat_out(*c.out)) = Fn::d1(flat(*c.x[0]), flat(*c.y), constant_of(c)) * flat(*c.dx[0]);
  }
  static void vjp(OpCall& c) {
    put_flat(*c.gx[0], c.fresh_gx[0], Fn::d1(flat(*c.x[0]), flat(*c.y), constant_of(c)) * flat(*c.gy));
  }
  static void vjp_tangent(OpCall& c) {
    const Flat x = flat(*c.x[0]), y = flat(*c.y);
    const double a = constant_of(c);
    if constexpr (requires { Fn::piecewise_linear; }) {
      put_flat(*c.gdx[0], c.fresh_gdx[0], Fn::d1(x, y, a) * flat(*c.gdy));
      return;
    } else if (c.dx[0])
      put_flat(*c.gdx[0], c.fresh_gdx[0], Fn::d1(x, y, a) * flat(*c.gdy) + Fn::d2(x, y, a) * flat(*c.dx[0]) * flat(*c.gy));
    else
      put_flat(*c.gdx[0], c.fresh_gdx[0], Fn::d1(x, y, a) * flat(*c.gdy));
  }
  static constexpr OpDef def(const char* name) {
    return OpDef{name, 1, RuleKind::General, &forward, &jvp, &vjp, &vjp_tangent, /*writes_fresh=*/true};
  }
};

using T = Flat;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

struct ExpFn {
  static auto f(const T& x, double) { return xt::exp(x); }
  static auto d1(const T&, const T& y, double) { return y; }
  static auto d2(const T&, const T& y, double) { return y; }
};
struct LogFn {
  static auto f(const T& x, double) { return xt::log(x); }
  static auto d1(const T& x, const T&, double) { return 1.0 / x; }
  static auto d2(const T& x, const T&, double) { return -1.0 / (x * x); }
};
struct SqrtFn {  // f′ = 1/(2y), f″ = −1/(4y³)
  static auto f(const T& x, double) { return xt::sqrt(x); }
  static auto d1(const T&, const T& y, double) { return 0.5 / y; }
  static auto d2(const T&, const T& y, double) { return -0.25 / (y * y * y); }
};
struct SquareFn {
  static auto f(const T& x, double) { return x * x; }
  static auto d1(const T& x, const T&, double) { return 2.0 * x; }
  static auto d2(const T& x, const T&, double) { return xt::broadcast(2.0, x.shape()); }
};
// x^a: a x^{a−1}, a(a−1) x^{a−2}. Scalar std::pow, which is exact for
// integer a on negative x (xsimd's batch pow returns NaN there).
struct PowFn {
  static auto f(const T& x, double a) {
    return xt::make_lambda_xfunction([a](double v) { return std::pow(v, a); }, x);
  }
  static auto d1(const T& x, const T&, double a) {
    return xt::make_lambda_xfunction([a](double v) { return a * std::pow(v, a - 1.0); }, x);
  }
  static auto d2(const T& x, const T&, double a) {
    return xt::make_lambda_xfunction([a](double v) { return a * (a - 1.0) * std::pow(v, a - 2.0); }, x);
  }
};
struct TanhFn {  // f′ = 1 − y², f″ = −2y(1 − y²)
  static auto f(const T& x, double) { return xt::tanh(x); }
  static auto d1(const T&, const T& y, double) { return 1.0 - y * y; }
  static auto d2(const T&, const T& y, double) { return -2.0 * y * (1.0 - y * y); }
};
struct SigmoidFn {  // f′ = y(1 − y), f″ = y(1 − y)(1 − 2y)
  static auto f(const T& x, double) { return 1.0 / (1.0 + xt::exp(-x)); }
  static auto d1(const T&, const T& y, double) { return y * (1.0 - y); }
  static auto d2(const T&, const T& y, double) { return y * (1.0 - y) * (1.0 - 2.0 * y); }
};
struct ReluFn {  // f′ = [x > 0] (0 at the kink), f″ = 0
  static auto f(const T& x, double) { return xt::maximum(x, 0.0); }
  static auto d1(const T& x, const T&, double) { return xt::where(x > 0.0, 1.0, 0.0); }
  static constexpr bool piecewise_linear = true;  // f″ = 0: the tangent of the adjoint has no f″ term
};
struct EluFn {  // x > 0: x, 1, 0;  else α(eˣ−1), αeˣ = y + α, αeˣ
  // double(a): a prvalue is stored in the expression; the parameter would dangle.
  static auto f(const T& x, double a) { return xt::where(x > 0.0, x, double(a) * (xt::exp(x) - 1.0)); }
  static auto d1(const T& x, const T& y, double a) { return xt::where(x > 0.0, 1.0, y + double(a)); }
  static auto d2(const T& x, const T& y, double a) { return xt::where(x > 0.0, 0.0, y + double(a)); }
};
// PyTorch's constants for SELU (Klambauer et al. 2017).
constexpr double kSeluAlpha = 1.6732632423543772848170429916717, kSeluScale = 1.0507009873554804934193349852946;
struct HardtanhFn {  // clamp(x, −1, 1); f′ = [−1 < x < 1] (0 at the kinks, as PyTorch), f″ = 0
  static auto f(const T& x, double) { return xt::clip(x, -1.0, 1.0); }
  static auto d1(const T& x, const T&, double) { return xt::where(x > -1.0 && x < 1.0, 1.0, 0.0); }
  static constexpr bool piecewise_linear = true;  // f″ = 0: the tangent of the adjoint has no f″ term
};
struct LeakyReluFn {  // x > 0: x, 1;  else a·x, a (a at the kink, as PyTorch); f″ = 0
  static auto f(const T& x, double a) { return xt::where(x > 0.0, x, double(a) * x); }
  static auto d1(const T& x, const T&, double a) { return xt::where(x > 0.0, 1.0, double(a)); }
  static constexpr bool piecewise_linear = true;  // f″ = 0: the tangent of the adjoint has no f″ term
};
struct SeluFn {  // s·x for x > 0, else s·α(eˣ − 1); f′ = s or y + sα, f″ = 0 or y + sα
  static auto f(const T& x, double) { return kSeluScale * xt::where(x > 0.0, x, kSeluAlpha * (xt::exp(x) - 1.0)); }
  static auto d1(const T& x, const T& y, double) { return xt::where(x > 0.0, kSeluScale, y + kSeluScale * kSeluAlpha); }
  static auto d2(const T& x, const T& y, double) { return xt::where(x > 0.0, 0.0, y + kSeluScale * kSeluAlpha); }
};
struct SoftplusFn {  // max(x,0) + log1p(e^{−|x|}); f′ = σ(x), f″ = σ(1−σ)
  static auto f(const T& x, double) { return xt::maximum(x, 0.0) + xt::log1p(xt::exp(-xt::abs(x))); }
  static auto d1(const T& x, const T&, double) { return 1.0 / (1.0 + xt::exp(-x)); }
  static auto d2(const T& x, const T&, double) {
    return 1.0 / (1.0 + xt::exp(-x)) * (1.0 - 1.0 / (1.0 + xt::exp(-x)));
  }
};
struct GeluFn {  // xΦ(x); f′ = Φ + xφ, f″ = φ(2 − x²); φ(x) = e^{−x²/2}/√(2π)
  static auto f(const T& x, double) { return 0.5 * x * (1.0 + xt::erf(x * kInvSqrt2)); }
  static auto d1(const T& x, const T&, double) {
    return 0.5 * (1.0 + xt::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * xt::exp(-0.5 * x * x);
  }
  static auto d2(const T& x, const T&, double) {
    return kInvSqrt2Pi * xt::exp(-0.5 * x * x) * (2.0 - x * x);
  }
};
}  // namespace

#define EOS_ELEMENTWISE(name, Fn)                                      \
  extern const OpDef op_##name;                                        \
  const OpDef op_##name = Elementwise<Fn>::def(#name);                 \
  Var name(Var x) {                                                    \
    return tape_of(x, #name).apply(op_##name, x);                      \
  }
EOS_ELEMENTWISE(exp, ExpFn)
EOS_ELEMENTWISE(log, LogFn)
EOS_ELEMENTWISE(sqrt, SqrtFn)
EOS_ELEMENTWISE(square, SquareFn)
EOS_ELEMENTWISE(tanh, TanhFn)
EOS_ELEMENTWISE(sigmoid, SigmoidFn)
EOS_ELEMENTWISE(relu, ReluFn)
EOS_ELEMENTWISE(softplus, SoftplusFn)
EOS_ELEMENTWISE(gelu, GeluFn)
EOS_ELEMENTWISE(hardtanh, HardtanhFn)
EOS_ELEMENTWISE(selu, SeluFn)
#undef EOS_ELEMENTWISE

extern const OpDef op_pow;
const OpDef op_pow = Elementwise<PowFn>::def("pow");
extern const OpDef op_elu;
const OpDef op_elu = Elementwise<EluFn>::def("elu");
extern const OpDef op_leaky_relu;
const OpDef op_leaky_relu = Elementwise<LeakyReluFn>::def("leaky_relu");

// ---- builders of the ops above that take a constant or two inputs ----------
namespace {
Var with_scalar(const OpDef& op, Var x, double s) {
  return tape_of(x, op.name).apply<ScalarParams>(op, x, Var(), [s](ScalarParams& p) { p.value = s; });
}
}  // namespace

Var add(Var a, Var b) { return tape_of(a, "add").apply(op_add, a, b); }
Var sub(Var a, Var b) { return tape_of(a, "sub").apply(op_sub, a, b); }
Var mul(Var a, Var b) { return tape_of(a, "mul").apply(op_mul, a, b); }
Var div(Var a, Var b) { return tape_of(a, "div").apply(op_div, a, b); }
Var neg(Var x) { return tape_of(x, "neg").apply(op_neg, x); }
Var scale(Var x, double c) { return with_scalar(op_scale, x, c); }
Var add_scalar(Var x, double c) { return with_scalar(op_add_scalar, x, c); }
Var pow(Var x, double p) { return with_scalar(op_pow, x, p); }
Var elu(Var x, double alpha) { return with_scalar(op_elu, x, alpha); }
Var leaky_relu(Var x, double negative_slope) { return with_scalar(op_leaky_relu, x, negative_slope); }

}  // namespace eos::ad
