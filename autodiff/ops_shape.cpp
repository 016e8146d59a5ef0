// Linear ops that move or reduce elements: transpose, reshape, broadcast_to,
// slice, sum, mean. Each is LinearUnary: its JVP is the op applied to the
// tangent and its adjoint-tangent rule is its VJP applied to ȳ̇ (both derived
// by the tape), so each declares forward + vjp only.
#include <xtensor/xmanipulation.hpp>

#include "op_util.hpp"
#include "ops.hpp"

namespace eos::ad {
using detail::to_shape;

namespace {
int normalize_axis(const char* op, int axis, std::size_t rank) {
  const int r = static_cast<int>(rank);
  if (axis < -r || axis >= r)
    throw ShapeError(fmt::format("{}: axis {} is out of range for a tensor of rank {}", op, axis, r));
  return axis < 0 ? axis + r : axis;
}
// Shape of x with the reduced axis (or all axes, axis = -1) set to 1.
Shape kept_shape(const Tensor& x, int axis) {
  Shape s = to_shape(x.shape());
  for (std::size_t i = 0; i < s.size(); ++i)
    if (axis < 0 || static_cast<int>(i) == axis) s[i] = 1;
  return s;
}
// y = Σ over `axis` (or all, axis = -1) of x, times `factor`.
void reduce_forward(OpCall& c, double factor) {
  const Tensor& x = *c.x[0];
  Tensor& out = *c.out;
  if (c.params<ReduceParams>().axis < 0) {
    out.resize(c.params<ReduceParams>().keepdims ? kept_shape(x, -1) : Shape{});
    out.data()[0] = factor * xt::sum(x)();
    return;
  }
  const std::array<std::size_t, 1> ax{static_cast<std::size_t>(c.params<ReduceParams>().axis)};
  Tensor r = xt::sum(x, ax);
  if (factor != 1.0) r *= factor;
  out.resize(c.params<ReduceParams>().keepdims ? kept_shape(x, c.params<ReduceParams>().axis) : to_shape(r.shape()));
  std::copy(r.begin(), r.end(), out.begin());
}
// x̄ += factor · ȳ broadcast back over the reduced axes.
void reduce_vjp(OpCall& c, double factor) {
  const Tensor& gy = *c.gy;
  const Shape ks = kept_shape(*c.x[0], c.params<ReduceParams>().axis);
  if (factor == 1.0) xt::noalias(*c.gx[0]) += detail::view_as(gy, ks);
  else xt::noalias(*c.gx[0]) += factor * detail::view_as(gy, ks);
}
double mean_factor(const OpCall& c) {
  const Tensor& x = *c.x[0];
  const std::size_t m = c.params<ReduceParams>().axis < 0 ? x.size() : x.shape()[c.params<ReduceParams>().axis];
  return 1.0 / static_cast<double>(m);
}
}  // namespace

// transpose: y = xᵀ (all axes reversed).
extern const OpDef op_transpose;
const OpDef op_transpose{
    "transpose", 1, RuleKind::LinearUnary,
    [](OpCall& c) { *c.out = xt::transpose(*c.x[0]); },
    nullptr,
    [](OpCall& c) { xt::noalias(*c.gx[0]) += xt::transpose(*c.gy); },
    nullptr};
Var transpose(Var x) { return tape_of(x, "transpose").apply(op_transpose, x); }

// reshape: same elements, row-major, another shape.
extern const OpDef op_reshape;
const OpDef op_reshape{
    "reshape", 1, RuleKind::LinearUnary,
    [](OpCall& c) {
      if (shape_size(c.params<ShapeParams>().shape) != c.x[0]->size())
        throw ShapeError(fmt::format("reshape: cannot reshape {} ({} elements) to {} ({} elements)",
                                     shape_str_of(c.x[0]->shape()), c.x[0]->size(),
                                     shape_str(c.params<ShapeParams>().shape), shape_size(c.params<ShapeParams>().shape)));
      c.out->resize(c.params<ShapeParams>().shape);
      std::copy(c.x[0]->begin(), c.x[0]->end(), c.out->begin());
    },
    nullptr,
    [](OpCall& c) { xt::noalias(*c.gx[0]) += detail::view_as(*c.gy, c.x[0]->shape()); },
    nullptr};
Var reshape(Var x, const Shape& shape) {
  return tape_of(x, "reshape").apply<ShapeParams>(op_reshape, x, Var(), [&](ShapeParams& p) { p.shape = shape; });
}

// broadcast_to: numpy broadcast to exactly `shape`; its adjoint sums back.
extern const OpDef op_broadcast_to;
const OpDef op_broadcast_to{
    "broadcast_to", 1, RuleKind::LinearUnary,
    [](OpCall& c) {
      const Shape xs = to_shape(c.x[0]->shape());
      if (detail::broadcast_shapes("broadcast_to", xs, c.params<ShapeParams>().shape) != c.params<ShapeParams>().shape)
        throw ShapeError(fmt::format("broadcast_to: shape {} does not broadcast to {}",
                                     shape_str(xs), shape_str(c.params<ShapeParams>().shape)));
      c.out->resize(c.params<ShapeParams>().shape);
      xt::noalias(*c.out) = xt::broadcast(*c.x[0], c.params<ShapeParams>().shape);
    },
    nullptr,
    [](OpCall& c) { detail::accumulate_into(*c.gx[0], *c.gy); },
    nullptr};
Var broadcast_to(Var x, const Shape& shape) {
  return tape_of(x, "broadcast_to").apply<ShapeParams>(op_broadcast_to, x, Var(), [&](ShapeParams& p) { p.shape = shape; });
}

// slice: y = x_flat[offset : offset + prod(shape)] as `shape`.
extern const OpDef op_slice;
const OpDef op_slice{
    "slice", 1, RuleKind::LinearUnary,
    [](OpCall& c) {
      const std::size_t n = shape_size(c.params<SliceParams>().shape);
      if (c.params<SliceParams>().offset + n > c.x[0]->size())
        throw ShapeError(fmt::format("slice: elements [{}, {}) requested from a tensor of shape {} "
                                     "({} elements)", c.params<SliceParams>().offset, c.params<SliceParams>().offset + n,
                                     shape_str_of(c.x[0]->shape()), c.x[0]->size()));
      c.out->resize(c.params<SliceParams>().shape);
      std::copy_n(c.x[0]->data() + c.params<SliceParams>().offset, n, c.out->data());
    },
    nullptr,
    [](OpCall& c) {
      double* g = c.gx[0]->data() + c.params<SliceParams>().offset;
      const double* gy = c.gy->data();
      for (std::size_t i = 0, n = c.gy->size(); i < n; ++i) g[i] += gy[i];
    },
    nullptr};
Var slice(Var x, std::size_t offset, const Shape& shape) {
  return tape_of(x, "slice").apply<SliceParams>(op_slice, x, Var(), [&](SliceParams& p) {
    p.offset = offset;
    p.shape = shape;
  });
}

// sum over all elements or one axis.
extern const OpDef op_sum;
const OpDef op_sum{
    "sum", 1, RuleKind::LinearUnary,
    [](OpCall& c) { reduce_forward(c, 1.0); },
    nullptr,
    [](OpCall& c) { reduce_vjp(c, 1.0); },
    nullptr};
// mean = sum / count.
extern const OpDef op_mean;
const OpDef op_mean{
    "mean", 1, RuleKind::LinearUnary,
    [](OpCall& c) { reduce_forward(c, mean_factor(c)); },
    nullptr,
    [](OpCall& c) { reduce_vjp(c, mean_factor(c)); },
    nullptr};

namespace {
Var reduce(const OpDef& op, Var x, int axis, bool all, bool keepdims) {
  Tape& t = tape_of(x, op.name);
  const int ax = all ? -1 : normalize_axis(op.name, axis, x.value().dimension());
  return t.apply<ReduceParams>(op, x, Var(), [&](ReduceParams& p) {
    p.axis = ax;
    p.keepdims = keepdims;
  });
}
}  // namespace
Var sum(Var x) { return reduce(op_sum, x, 0, true, false); }
Var sum(Var x, int axis, bool keepdims) { return reduce(op_sum, x, axis, false, keepdims); }
Var mean(Var x) { return reduce(op_mean, x, 0, true, false); }
Var mean(Var x, int axis, bool keepdims) { return reduce(op_mean, x, axis, false, keepdims); }

}  // namespace eos::ad
