// The ops a user composes. Each builds one tape node (running its forward
// rule now) and returns its Var. Every op's four derivative rules live in one
// OpDef next to its builder in ops_*.cpp; the list is autodiff/op_list.inc.
//
// Broadcasting (add, sub, mul, div) follows numpy: shapes are aligned on the
// right; a dimension of 1 stretches. Incompatible shapes throw ShapeError
// naming the op and both shapes.
#pragma once

#include <cstdint>
#include <span>

#include "tape.hpp"

namespace eos::ad {

// ---- elementwise binary, numpy broadcasting
Var add(Var a, Var b);
Var sub(Var a, Var b);
Var mul(Var a, Var b);
Var div(Var a, Var b);

// ---- with a constant
Var neg(Var x);
Var add_scalar(Var x, double c);  // x + c
Var scale(Var x, double c);       // c · x

// ---- elementwise unary, each declared by (f, f′, f″)
Var exp(Var x);
Var log(Var x);
Var sqrt(Var x);
Var square(Var x);
Var pow(Var x, double p);  // x^p for a constant p (x > 0 unless p is an integer)
Var tanh(Var x);
Var sigmoid(Var x);        // 1 / (1 + e^{−x})
Var relu(Var x);           // max(x, 0); derivative 0 at 0
Var elu(Var x, double alpha = 1.0);  // x if x > 0, else α(eˣ − 1)
Var softplus(Var x);       // log(1 + eˣ), evaluated stably
Var hardtanh(Var x);       // clamp(x, −1, 1); derivative 0 at ±1 (as PyTorch)
Var leaky_relu(Var x, double negative_slope = 0.01);  // x if x > 0, else slope·x; derivative slope at 0
Var selu(Var x);           // s·elu(x, α), PyTorch's s ≈ 1.0507 and α ≈ 1.6733
Var gelu(Var x);           // exact form x·Φ(x) with the normal CDF Φ (PyTorch's default)

// ---- linear algebra and shape
// op(A)·op(B) for 2-D A, B, with op(M) = Mᵀ when the flag is set. Runs as one
// BLAS dgemm with transpose flags: no transposed copy is made.
Var matmul(Var a, Var b, bool transpose_a = false, bool transpose_b = false);
Var transpose(Var x);                          // reverses all axes
Var reshape(Var x, const Shape& shape);        // same number of elements
Var broadcast_to(Var x, const Shape& shape);   // numpy broadcast to exactly `shape`
// Elements [offset, offset + prod(shape)) of x in row-major order, as `shape`:
// how a model reads one layer's weights out of the flat parameter vector θ.
Var slice(Var x, std::size_t offset, const Shape& shape);
Var dot(Var a, Var b);  // inner product Σᵢ aᵢbᵢ of equal shapes → scalar
// A dense layer reading its parameters in place from the flat θ: y = x·Wᵀ + b
// for x [n, in], W = θ[offset, offset + out·in) as [out, in] row-major, and
// (with bias) b = the next `out` entries. Same result as
// matmul(x, reshape(slice(θ…)), false, true) + slice(θ…), without the copies.
Var linear(Var x, Var theta, std::size_t offset, std::size_t out, std::size_t in, bool bias = true);

// ---- convolutional networks, over NCHW batches [n, c, h, w] (PyTorch's semantics)
// y = W ⋆ x + b: cross-correlation with W [out, in, kh, kw] row-major at
// θ[offset…) read in place, then (with a bias) b [out]; zero padding,
// output [n, out, (h + 2·pad_h − kh)/stride_h + 1, (w + 2·pad_w − kw)/stride_w + 1].
// θ is read as flat storage of any shape (a Conv2d's own [out, in, kh, kw]
// weight Var works with offset 0 and no bias).
Var conv2d(Var x, Var theta, const Conv2dParams& params);
// The maximum / mean of each kh×kw window taken every stride_h×stride_w
// (no padding, floor mode). Max pooling's derivative goes to the first
// maximum of a window in row-major order, as PyTorch's.
Var max_pool2d(Var x, const Pool2dParams& window);
Var avg_pool2d(Var x, const Pool2dParams& window);
Var max_pool2d(Var x, std::size_t kernel, std::size_t stride = 0);  // square window; stride 0 = kernel
Var avg_pool2d(Var x, std::size_t kernel, std::size_t stride = 0);
Var global_avg_pool2d(Var x);                  // [n, c, h, w] → [n, c], the mean over h·w
Var concat(Var a, Var b, int axis);            // joined along axis (other dimensions equal)

// ---- batch normalization (training mode), channels on axis 1 of [n, C] or [n, C, H, W]
// (Σx, Σx²) per channel over rows and pixels → [2, C]: the batch's sums, to be
// added across chunks or ranks when the batch is split.
Var bn_moments(Var x);
// (x − m)/√(v + ε) per channel with m = S₀/count, v = S₁/count − m² (biased):
// the sums S [2, C] were taken over `count` values.
Var bn_normalize(Var x, Var sums, double count, double eps = 1e-5);
// γ_c x + β_c with γ = θ[offset, offset + C) and β the next C (read in place).
Var channel_affine(Var x, Var theta, std::size_t offset);
// PyTorch's BatchNorm1d/2d in training mode on this batch alone:
// channel_affine(bn_normalize(x, bn_moments(x), n·H·W, eps), θ, offset).
Var batch_norm(Var x, Var theta, std::size_t offset, double eps = 1e-5);
// Σ of x over every part of a split batch (this tape is part `part`); its
// adjoint and tangent are summed the same way, so derivatives through
// statistics of the whole batch stay exact (see nn/batch.hpp).
Var all_reduce_sum(Var x, BatchReducer& reducer, std::size_t part);

// ---- reductions (axis may be negative, counted from the end)
Var sum(Var x);                                  // all elements → scalar
Var sum(Var x, int axis, bool keepdims = false);
Var mean(Var x);
Var mean(Var x, int axis, bool keepdims = false);

// ---- classification / regression
// Row-wise log-softmax along the last axis, shifted by the row max.
Var log_softmax(Var logits);
// (1/n) Σᵢ [logsumexp(zᵢ) − z_{i,yᵢ}] for logits z of shape [n, k] and
// labels yᵢ ∈ [0, k): PyTorch's cross_entropy with reduction='mean'.
Var cross_entropy(Var logits, std::span<const std::int64_t> labels);
// (1/n) Σᵢ ½‖ŷᵢ − yᵢ‖², n = the first dimension (Cohen et al.'s MSE).
Var mse(Var prediction, const Tensor& target);

// ---- operators
inline Var operator+(Var a, Var b) { return add(a, b); }
inline Var operator-(Var a, Var b) { return sub(a, b); }
inline Var operator*(Var a, Var b) { return mul(a, b); }
inline Var operator/(Var a, Var b) { return div(a, b); }
inline Var operator-(Var a) { return neg(a); }
inline Var operator+(Var a, double c) { return add_scalar(a, c); }
inline Var operator+(double c, Var a) { return add_scalar(a, c); }
inline Var operator-(Var a, double c) { return add_scalar(a, -c); }
inline Var operator-(double c, Var a) { return add_scalar(neg(a), c); }
inline Var operator*(Var a, double c) { return scale(a, c); }
inline Var operator*(double c, Var a) { return scale(a, c); }
inline Var operator/(Var a, double c) { return scale(a, 1.0 / c); }
inline Var operator/(double c, Var a) { return scale(pow(a, -1.0), c); }

}  // namespace eos::ad
