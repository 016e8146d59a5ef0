// How an op is declared: ONE OpDef per op, holding all of its derivative rules.
//
// For y = op(x₀, x₁) the four rules are
//   forward      y  = op(x)
//   jvp          ẏ  = J ẋ                      (tangent, forward sweep)
//   vjp          x̄ += Jᵀ ȳ                     (adjoint, reverse sweep)
//   vjp_tangent  x̄̇ += Jᵀ ȳ̇ + (d/dε Jᵀ(x+εẋ)) ȳ   (tangent of the adjoint)
// The last one is what makes forward-over-reverse Hessian-vector products
// exact: seeding ẋ = v on the parameters gives θ̄̇ = H v.
//
// Rules that follow from an op's structure are derived by the tape, so an op
// declares only what is new about it (see RuleKind).
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "../core/tensor.hpp"

namespace eos::ad {

// Everything an op needs besides its inputs: one typed struct per kind of op,
// held in the tape node's OpParams. A node keeps its struct after
// Tape::clear(), so rebuilding the same graph each step reuses the buffers of
// labels and targets instead of allocating them again.
struct ScalarParams {  // scale, add_scalar: the constant; pow: the exponent; elu: α; leaky_relu: the slope
  double value = 0.0;
};
struct ReduceParams {  // sum, mean
  int axis = -1;       // -1: all axes
  bool keepdims = false;
};
struct MatmulParams {
  bool trans_a = false;  // use op(A) = Aᵀ
  bool trans_b = false;  // use op(B) = Bᵀ
};
struct ShapeParams {  // reshape, broadcast_to: the target shape
  Shape shape;
};
struct SliceParams {  // elements [offset, offset + prod(shape)) as `shape`
  std::size_t offset = 0;
  Shape shape;
};
// A layer reading its weights in place from the flat θ (PyTorch's layout:
// the weight row-major at `offset`, then the bias).
struct LinearParams {
  std::size_t offset = 0, out = 0, in = 0;
  bool bias = true;
};
// 2-D cross-correlation over NCHW: weight [out, in, kh, kw] at `offset`, then
// the bias [out]; zero padding; PyTorch's Conv2d (dilation 1, groups 1).
struct Conv2dParams {
  std::size_t offset = 0, out = 0, in = 0;
  std::size_t kh = 1, kw = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool bias = true;
  std::size_t block = 0;  // images per dgemm; 0: as many as keep a column matrix within 2 MB
};
// max_pool2d / avg_pool2d windows (no padding, PyTorch's floor mode).
struct Pool2dParams {
  std::size_t kh = 2, kw = 2, stride_h = 2, stride_w = 2;
};
// bn_normalize: the number of values each channel's sums were taken over,
// and ε (PyTorch's 1e-5).
struct BatchNormParams {
  double count = 0.0;
  double eps = 1e-5;
};
struct AffineParams {  // channel_affine: γ [C] at `offset` of θ, then β [C]
  std::size_t offset = 0, channels = 0;
};
// Sums a tensor over every part of a split batch (the chunks of one process,
// MPI ranks): each part calls sum() with its own values, in the same order of
// calls, and each gets back the total. Implemented by the objective that
// splits the batch (nn/batch.hpp); an op stores the reducer and its part.
class BatchReducer {
 public:
  virtual ~BatchReducer() = default;
  // values ← Σ over parts of each part's values (blocks until every part called).
  virtual void sum(std::size_t part, double* values, std::size_t count) = 0;
};
struct AllReduceParams {
  BatchReducer* reducer = nullptr;
  std::size_t part = 0;
};
struct ConcatParams {  // concat: the axis along which x₀ and x₁ are joined
  std::size_t axis = 1;
};
struct LabelParams {  // cross_entropy: the class index of each row
  std::vector<std::int64_t> labels;
};
struct TargetParams {  // mse: the regression targets
  Tensor target;
};
using OpParams = std::variant<std::monostate, ScalarParams, ReduceParams, MatmulParams, ShapeParams, SliceParams,
                              LinearParams, Conv2dParams, Pool2dParams, BatchNormParams, AffineParams, AllReduceParams, ConcatParams, LabelParams, TargetParams>;

// One call of a rule. Pointers that a rule does not use are null. A null
// input tangent dx[i] means "identically zero" (the input is a constant); a
// null gx[i] / gdx[i] means "this input needs no adjoint".
struct OpCall {
  const OpParams& p;
  const Tensor* x[2] = {nullptr, nullptr};  // input values
  const Tensor* y = nullptr;                // output value (null in forward)
  Tensor* cache = nullptr;                  // per-node scratch kept between sweeps
  // forward writes *out = y; jvp writes *out = ẏ (it must assign, not add).
  const Tensor* dx[2] = {nullptr, nullptr};
  Tensor* out = nullptr;
  // vjp accumulates into gx from gy.
  const Tensor* gy = nullptr;
  Tensor* gx[2] = {nullptr, nullptr};
  // vjp_tangent accumulates into gdx from gy, gdy and dx.
  const Tensor* dy = nullptr;
  const Tensor* gdy = nullptr;
  Tensor* gdx[2] = {nullptr, nullptr};
  // For ops with writes_fresh: this call is the first write to gx[i] / gdx[i]
  // in the sweep, whose buffer then has the input's shape but no values: the
  // rule must assign, not add (see detail::put). Never set for other ops.
  bool fresh_gx[2] = {false, false};
  bool fresh_gdx[2] = {false, false};

  // This op's parameters (the struct its builder set; a mismatch is a bug in
  // the op's own file and throws std::bad_variant_access).
  template <class P>
  const P& params() const { return std::get<P>(p); }
};

enum class RuleKind {
  // y = A x with A fixed (reshape, sum, transpose, ...): jvp is forward applied
  // to ẋ and vjp_tangent is vjp applied to ȳ̇. Declare forward + vjp.
  LinearUnary,
  // Jacobian independent of the inputs (add, sub, add_scalar): vjp_tangent is
  // vjp applied to ȳ̇. Declare forward + jvp + vjp.
  ConstantJacobian,
  // Linear in each argument separately (mul, matmul, dot): the Jacobian in x₀
  // is the vjp evaluated with x₁ replaced by ẋ₁, so vjp_tangent =
  // vjp(ȳ̇; x₀, x₁) + vjp(ȳ; ẋ₀, x₁)→x̄̇₁ + vjp(ȳ; x₀, ẋ₁)→x̄̇₀. vjp must not read y.
  // Declare forward + jvp + vjp.
  Bilinear,
  // Everything else: declare all four rules.
  General,
};

using Rule = void (*)(OpCall&);

struct OpDef {
  const char* name;
  int arity;
  RuleKind kind;
  Rule forward;
  Rule jvp;          // null for LinearUnary
  Rule vjp;
  Rule vjp_tangent;  // null unless General
  // The rules honour OpCall::fresh_gx / fresh_gdx, so the tape need not
  // zero-fill adjoint buffers before their first write (a memory pass saved
  // on every activation-sized node). Rules of other ops always accumulate
  // into buffers the tape has zeroed.
  bool writes_fresh = false;
};

// Every op of the library, for tests (a meta-test fails when one has no test
// entry) and documentation.
const std::vector<const OpDef*>& all_ops();

}  // namespace eos::ad
