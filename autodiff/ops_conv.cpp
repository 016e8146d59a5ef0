// The ops of convolutional networks over NCHW batches: conv2d (im2col + one
// dgemm per image), max_pool2d, avg_pool2d, and concat. PyTorch's semantics
// throughout (cross-correlation, zero padding, floor-mode windows, max
// pooling through the first maximum of a window).
#include <cmath>
#include <cstring>

#include "op_util.hpp"
#include "ops.hpp"

namespace eos::ad {
namespace {

// ============================================================================
// conv2d: y[n, o] = Σ_c W[o, c] ⋆ x[n, c] + b[o], with W [O, C, kh, kw] and
// b [O] read in place from θ at `offset` (PyTorch's layout), like linear.
// Per image, with the column matrix col(x) [K = C·kh·kw, P = Ho·Wo] of the
// image's receptive fields (im2col) and W as [O, K]:
//   y       = W col(x) + b 1ᵀ
//   ẏ       = Ẇ col(x) + W col(ẋ) + ḃ 1ᵀ
//   x̄      += col⁻ᵀ(Wᵀ ȳ)                (col2im: the adjoint of im2col)
//   W̄      += ȳ col(x)ᵀ;      b̄ += ȳ 1
//   x̄̇     += col⁻ᵀ(Wᵀ ȳ̇ + Ẇᵀ ȳ)
//   W̄̇     += ȳ̇ col(x)ᵀ + ȳ col(ẋ)ᵀ;  b̄̇ += ȳ̇ 1
// The column matrix of one image lives in the node's cache (bounded by one
// image, whatever the chunk size) and is rebuilt in each sweep instead of
// kept for the batch.
struct ConvGeom {
  std::size_t n, c, h, w;        // input [n, c, h, w]
  std::size_t o, kh, kw, sh, sw, ph, pw;
  std::size_t ho, wo;            // output [n, o, ho, wo]
  std::size_t w_at, b_at;        // offsets of W and b in θ
  bool bias;
  std::size_t k() const { return c * kh * kw; }  // rows of a column matrix
  std::size_t p() const { return ho * wo; }      // output pixels of a channel
  std::size_t in_image() const { return c * h * w; }
  std::size_t out_image() const { return o * ho * wo; }
  // A 1×1 kernel with stride 1 and no padding: col(x) is the image itself.
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

ConvGeom conv_geom(const OpCall& call) {
  const Tensor &x = *call.x[0], &th = *call.x[1];
  const auto& p = call.params<Conv2dParams>();
  if (x.dimension() != 4 || x.shape()[1] != p.in)
    throw ShapeError(fmt::format("conv2d: input of shape {} for a convolution with {} input channels "
                                 "(expected [n, {}, h, w])", shape_str_of(x.shape()), p.in, p.in));
  if (p.kh == 0 || p.kw == 0 || p.stride_h == 0 || p.stride_w == 0 || p.out == 0)
    throw ShapeError(fmt::format("conv2d: kernel {}×{}, stride {}×{} and {} output channels must be positive",
                                 p.kh, p.kw, p.stride_h, p.stride_w, p.out));
  ConvGeom g{x.shape()[0], p.in, x.shape()[2], x.shape()[3], p.out, p.kh, p.kw, p.stride_h, p.stride_w,
             p.pad_h, p.pad_w, 0, 0, p.offset, 0, p.bias};
  if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
    throw ShapeError(fmt::format("conv2d: input {}×{} with padding {}×{} is smaller than the kernel {}×{}", g.h,
                                 g.w, g.ph, g.pw, g.kh, g.kw));
  g.ho = (g.h + 2 * g.ph - g.kh) / g.sh + 1;
  g.wo = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
  g.b_at = g.w_at + g.o * g.k();
  const std::size_t need = g.b_at + (g.bias ? g.o : 0);
  if (th.size() < need)
    throw ShapeError(fmt::format("conv2d: parameters of shape {} end before element {} (W [{}, {}, {}, {}] at {}{})",
                                 shape_str_of(th.shape()), need, g.o, g.c, g.kh, g.kw, g.w_at,
                                 g.bias ? " and a bias" : ""));
  return g;
}

// The output columns [lo, hi) whose input column ow·s − pad + j lies in [0, w).
struct Span {
  std::size_t lo, hi;
};
Span valid_span(std::size_t out, std::size_t s, std::size_t pad, std::size_t j, std::size_t w) {
  // ow·s + j ≥ pad  and  ow·s + j < pad + w
  const std::size_t lo = j >= pad ? 0 : (pad - j + s - 1) / s;
  const std::size_t hi = pad + w > j ? std::min(out, (pad + w - j + s - 1) / s) : 0;
  return {std::min(lo, hi), hi};
}

// col[(ci·kh + i)·kw + j, oh·wo + ow] = x[ci, oh·sh − ph + i, ow·sw − pw + j], 0 outside.
void im2col(const ConvGeom& g, const double* x, double* col) {
  for (std::size_t ci = 0; ci < g.c; ++ci)
    for (std::size_t i = 0; i < g.kh; ++i)
      for (std::size_t j = 0; j < g.kw; ++j) {
        double* row = col + ((ci * g.kh + i) * g.kw + j) * g.p();
        const Span cols = valid_span(g.wo, g.sw, g.pw, j, g.w);
        for (std::size_t oh = 0; oh < g.ho; ++oh) {
          double* r = row + oh * g.wo;
          const std::size_t ih = oh * g.sh + i;  // + ph: the padded row
          if (ih < g.ph || ih >= g.ph + g.h) {
            std::fill_n(r, g.wo, 0.0);
            continue;
          }
          const double* src = x + (ci * g.h + (ih - g.ph)) * g.w;
          std::fill_n(r, cols.lo, 0.0);
          for (std::size_t ow = cols.lo; ow < cols.hi; ++ow) r[ow] = src[ow * g.sw + j - g.pw];
          std::fill(r + cols.hi, r + g.wo, 0.0);
        }
      }
}

// x += col⁻ᵀ(col): each column entry added back to the pixel it was read from.
void col2im_add(const ConvGeom& g, const double* col, double* x) {
  for (std::size_t ci = 0; ci < g.c; ++ci)
    for (std::size_t i = 0; i < g.kh; ++i)
      for (std::size_t j = 0; j < g.kw; ++j) {
        const double* row = col + ((ci * g.kh + i) * g.kw + j) * g.p();
        const Span cols = valid_span(g.wo, g.sw, g.pw, j, g.w);
        for (std::size_t oh = 0; oh < g.ho; ++oh) {
          const std::size_t ih = oh * g.sh + i;
          if (ih < g.ph || ih >= g.ph + g.h) continue;
          double* dst = x + (ci * g.h + (ih - g.ph)) * g.w;
          const double* r = row + oh * g.wo;
          for (std::size_t ow = cols.lo; ow < cols.hi; ++ow) dst[ow * g.sw + j - g.pw] += r[ow];
        }
      }
}

// Scratch for one image's column matrix and its adjoint, in the node's cache.
struct ConvScratch {
  double* col;
  double* dcol;
};
ConvScratch scratch(const ConvGeom& g, Tensor& cache) {
  const std::size_t kp = g.pointwise() ? 0 : g.k() * g.p();
  if (cache.size() != 2 * kp || cache.dimension() != 1) cache.resize({2 * kp});
  return {cache.data(), cache.data() + kp};
}
// col(image): the image itself for a pointwise kernel, else im2col into buf.
const double* columns(const ConvGeom& g, const double* image, double* buf) {
  if (g.pointwise()) return image;
  im2col(g, image, buf);
  return buf;
}
// each row of y [O, P] ← b
void rows_set(double* y, const double* b, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) std::fill_n(y + r * cols, cols, b[r]);
}

void conv2d_forward(OpCall& call) {
  const ConvGeom g = conv_geom(call);
  const ConvScratch s = scratch(g, *call.cache);
  call.out->resize({g.n, g.o, g.ho, g.wo});
  const double *x = call.x[0]->data(), *th = call.x[1]->data();
  for (std::size_t img = 0; img < g.n; ++img) {
    double* y = call.out->data() + img * g.out_image();
    if (g.bias) rows_set(y, th + g.b_at, g.o, g.p());
    const double* col = columns(g, x + img * g.in_image(), s.col);
    detail::gemm(false, false, g.o, g.p(), g.k(), th + g.w_at, g.k(), col, g.p(), g.bias ? 1.0 : 0.0, y, g.p());
  }
}

void conv2d_jvp(OpCall& call) {
  const ConvGeom g = conv_geom(call);
  const ConvScratch s = scratch(g, *call.cache);
  call.out->resize({g.n, g.o, g.ho, g.wo});
  const Tensor *dx = call.dx[0], *dth = call.dx[1];
  for (std::size_t img = 0; img < g.n; ++img) {
    double* y = call.out->data() + img * g.out_image();
    double beta = 0.0;
    if (dth && g.bias) {
      rows_set(y, dth->data() + g.b_at, g.o, g.p());
      beta = 1.0;
    }
    if (dth) {  // Ẇ col(x)
      const double* col = columns(g, call.x[0]->data() + img * g.in_image(), s.col);
      detail::gemm(false, false, g.o, g.p(), g.k(), dth->data() + g.w_at, g.k(), col, g.p(), beta, y, g.p());
      beta = 1.0;
    }
    if (dx) {  // W col(ẋ)
      const double* col = columns(g, dx->data() + img * g.in_image(), s.col);
      detail::gemm(false, false, g.o, g.p(), g.k(), call.x[1]->data() + g.w_at, g.k(), col, g.p(), beta, y, g.p());
    }
  }
}

// The shared shape of the adjoint and its tangent, for the output adjoint G:
//   x̄ (+)= col⁻ᵀ(W_srcᵀ G)  and  θ̄[W] += G col(X_src)ᵀ,  θ̄[b] += G 1.
// A null source skips its term; `fresh` buffers are zeroed first (col2im and
// θ's segments only add).
struct ConvBack {
  const double* G;
  const double* W_src;  // for x̄
  const double* X_src;  // for θ̄[W]
  bool with_bias;
};
void conv_back(const ConvGeom& g, ConvScratch s, const ConvBack& b, Tensor* gx, bool fresh_x, Tensor* gth,
               bool fresh_th) {
  if (gx && fresh_x) gx->fill(0.0);
  if (gth && fresh_th) gth->fill(0.0);
  for (std::size_t img = 0; img < g.n; ++img) {
    const double* G = b.G + img * g.out_image();
    if (gx && b.W_src) {
      double* xi = gx->data() + img * g.in_image();
      if (g.pointwise()) {
        detail::gemm(true, false, g.k(), g.p(), g.o, b.W_src, g.k(), G, g.p(), 1.0, xi, g.p());
      } else {
        detail::gemm(true, false, g.k(), g.p(), g.o, b.W_src, g.k(), G, g.p(), 0.0, s.dcol, g.p());
        col2im_add(g, s.dcol, xi);
      }
    }
    if (!gth) continue;
    if (b.X_src) {
      const double* col = columns(g, b.X_src + img * g.in_image(), s.col);
      detail::gemm(false, true, g.o, g.k(), g.p(), G, g.p(), col, g.p(), 1.0, gth->data() + g.w_at, g.k());
    }
    if (b.with_bias && g.bias) {
      double* bb = gth->data() + g.b_at;
      for (std::size_t o = 0; o < g.o; ++o) {
        double acc = 0.0;
        for (std::size_t q = 0; q < g.p(); ++q) acc += G[o * g.p() + q];
        bb[o] += acc;
      }
    }
  }
}

void conv2d_vjp(OpCall& call) {
  const ConvGeom g = conv_geom(call);
  conv_back(g, scratch(g, *call.cache), {call.gy->data(), call.x[1]->data() + g.w_at, call.x[0]->data(), true},
            call.gx[0], call.fresh_gx[0], call.gx[1], call.fresh_gx[1]);
}

void conv2d_vjp_tangent(OpCall& call) {
  const ConvGeom g = conv_geom(call);
  const ConvScratch s = scratch(g, *call.cache);
  // Jᵀ ȳ̇ …
  conv_back(g, s, {call.gdy->data(), call.x[1]->data() + g.w_at, call.x[0]->data(), true}, call.gdx[0],
            call.fresh_gdx[0], call.gdx[1], call.fresh_gdx[1]);
  // … + Ẇᵀ ȳ into x̄̇ and ȳ col(ẋ)ᵀ into W̄̇ (b̄ depends on neither x nor θ)
  const Tensor *dx = call.dx[0], *dth = call.dx[1];
  conv_back(g, s, {call.gy->data(), dth ? dth->data() + g.w_at : nullptr, dx ? dx->data() : nullptr, false},
            call.gdx[0], false, dx ? call.gdx[1] : nullptr, false);
}

// ============================================================================
// Pooling over windows kh×kw with strides sh×sw, no padding, floor mode:
// [n, c, h, w] → [n, c, (h − kh)/sh + 1, (w − kw)/sw + 1].
struct PoolGeom {
  std::size_t planes, h, w, kh, kw, sh, sw, ho, wo;
};
PoolGeom pool_geom(const char* op, const OpCall& call) {
  const Tensor& x = *call.x[0];
  const auto& p = call.params<Pool2dParams>();
  if (x.dimension() != 4)
    throw ShapeError(fmt::format("{}: input of shape {} (expected [n, c, h, w])", op, shape_str_of(x.shape())));
  if (p.kh == 0 || p.kw == 0 || p.stride_h == 0 || p.stride_w == 0)
    throw ShapeError(fmt::format("{}: window {}×{} and stride {}×{} must be positive", op, p.kh, p.kw, p.stride_h,
                                 p.stride_w));
  const std::size_t h = x.shape()[2], w = x.shape()[3];
  if (h < p.kh || w < p.kw)
    throw ShapeError(fmt::format("{}: input {}×{} is smaller than the window {}×{}", op, h, w, p.kh, p.kw));
  return {x.shape()[0] * x.shape()[1], h, w, p.kh, p.kw, p.stride_h, p.stride_w, (h - p.kh) / p.stride_h + 1,
          (w - p.kw) / p.stride_w + 1};
}
Shape pooled_shape(const Tensor& x, const PoolGeom& g) { return {x.shape()[0], x.shape()[1], g.ho, g.wo}; }

// max_pool2d: y = max over the window; cache = the flat in-plane index of the
// first maximum (PyTorch's choice; a NaN counts as a maximum). Piecewise
// linear: the Jacobian is the selection x ↦ x[argmax], constant where the
// argmax is, so x̄̇ = Jᵀ ȳ̇ (ConstantJacobian) is exact wherever the op is
// twice differentiable.
void max_pool_forward(OpCall& call) {
  const PoolGeom g = pool_geom("max_pool2d", call);
  const Tensor& x = *call.x[0];
  call.out->resize(pooled_shape(x, g));
  call.cache->resize(pooled_shape(x, g));
  double *y = call.out->data(), *arg = call.cache->data();
  for (std::size_t pl = 0; pl < g.planes; ++pl) {
    const double* xp = x.data() + pl * g.h * g.w;
    for (std::size_t oh = 0; oh < g.ho; ++oh)
      for (std::size_t ow = 0; ow < g.wo; ++ow) {
        std::size_t best = oh * g.sh * g.w + ow * g.sw;
        for (std::size_t i = 0; i < g.kh; ++i)
          for (std::size_t j = 0; j < g.kw; ++j) {
            const std::size_t at = (oh * g.sh + i) * g.w + ow * g.sw + j;
            if (xp[at] > xp[best] || (std::isnan(xp[at]) && !std::isnan(xp[best]))) best = at;
          }
        *y++ = xp[best];
        *arg++ = static_cast<double>(best);
      }
  }
}
// out[window] = src[argmax], plane by plane.
void gather_max(const PoolGeom& g, const Tensor& arg, const double* src, double* out) {
  const double* a = arg.data();
  const std::size_t per_plane = g.ho * g.wo;
  for (std::size_t pl = 0; pl < g.planes; ++pl)
    for (std::size_t q = 0; q < per_plane; ++q, ++a) *out++ = src[pl * g.h * g.w + static_cast<std::size_t>(*a)];
}
void max_pool_jvp(OpCall& call) {
  const PoolGeom g = pool_geom("max_pool2d", call);
  call.out->resize(pooled_shape(*call.x[0], g));
  gather_max(g, *call.cache, call.dx[0]->data(), call.out->data());
}
void max_pool_vjp(OpCall& call) {
  const PoolGeom g = pool_geom("max_pool2d", call);
  const double *a = call.cache->data(), *gy = call.gy->data();
  double* gx = call.gx[0]->data();
  const std::size_t per_plane = g.ho * g.wo;
  for (std::size_t pl = 0; pl < g.planes; ++pl)
    for (std::size_t q = 0; q < per_plane; ++q) gx[pl * g.h * g.w + static_cast<std::size_t>(*a++)] += *gy++;
}

// avg_pool2d: y = the window's mean. Linear: x̄ += ȳ/(kh·kw) over each window.
void avg_pool_forward(OpCall& call) {
  const PoolGeom g = pool_geom("avg_pool2d", call);
  const Tensor& x = *call.x[0];
  call.out->resize(pooled_shape(x, g));
  const double inv = 1.0 / static_cast<double>(g.kh * g.kw);
  double* y = call.out->data();
  for (std::size_t pl = 0; pl < g.planes; ++pl) {
    const double* xp = x.data() + pl * g.h * g.w;
    for (std::size_t oh = 0; oh < g.ho; ++oh)
      for (std::size_t ow = 0; ow < g.wo; ++ow) {
        double acc = 0.0;
        for (std::size_t i = 0; i < g.kh; ++i)
          for (std::size_t j = 0; j < g.kw; ++j) acc += xp[(oh * g.sh + i) * g.w + ow * g.sw + j];
        *y++ = acc * inv;
      }
  }
}
void avg_pool_vjp(OpCall& call) {
  const PoolGeom g = pool_geom("avg_pool2d", call);
  const double inv = 1.0 / static_cast<double>(g.kh * g.kw);
  const double* gy = call.gy->data();
  for (std::size_t pl = 0; pl < g.planes; ++pl) {
    double* gp = call.gx[0]->data() + pl * g.h * g.w;
    for (std::size_t oh = 0; oh < g.ho; ++oh)
      for (std::size_t ow = 0; ow < g.wo; ++ow) {
        const double v = *gy++ * inv;
        for (std::size_t i = 0; i < g.kh; ++i)
          for (std::size_t j = 0; j < g.kw; ++j) gp[(oh * g.sh + i) * g.w + ow * g.sw + j] += v;
      }
  }
}

// ============================================================================
// concat: y = [x₀, x₁] along `axis` (all other dimensions equal). Linear in
// both inputs jointly: ẏ = [ẋ₀, ẋ₁], x̄ᵢ += ȳ's block i.
struct ConcatGeom {
  std::size_t outer, a_block, b_block;  // blocks of x₀ and x₁ per outer index
  Shape shape;
};
ConcatGeom concat_geom(const OpCall& call) {
  const Tensor &a = *call.x[0], &b = *call.x[1];
  const std::size_t axis = call.params<ConcatParams>().axis;
  bool fits = a.dimension() == b.dimension() && axis < a.dimension();
  for (std::size_t d = 0; fits && d < a.dimension(); ++d) fits = d == axis || a.shape()[d] == b.shape()[d];
  if (!fits)
    throw ShapeError(fmt::format("concat: shapes {} and {} cannot be joined along axis {}", shape_str_of(a.shape()),
                                 shape_str_of(b.shape()), axis));
  ConcatGeom g{1, a.shape()[axis], b.shape()[axis], detail::to_shape(a.shape())};
  for (std::size_t d = 0; d < axis; ++d) g.outer *= a.shape()[d];
  for (std::size_t d = axis + 1; d < a.dimension(); ++d) g.a_block *= a.shape()[d], g.b_block *= a.shape()[d];
  g.shape[axis] += b.shape()[axis];
  return g;
}
// y's blocks from a and b (null: zeros).
void join(const ConcatGeom& g, const double* a, const double* b, double* y) {
  for (std::size_t o = 0; o < g.outer; ++o) {
    if (a) std::copy_n(a + o * g.a_block, g.a_block, y);
    else std::fill_n(y, g.a_block, 0.0);
    y += g.a_block;
    if (b) std::copy_n(b + o * g.b_block, g.b_block, y);
    else std::fill_n(y, g.b_block, 0.0);
    y += g.b_block;
  }
}
void concat_forward(OpCall& call) {
  const ConcatGeom g = concat_geom(call);
  call.out->resize(g.shape);
  join(g, call.x[0]->data(), call.x[1]->data(), call.out->data());
}
void concat_jvp(OpCall& call) {
  const ConcatGeom g = concat_geom(call);
  call.out->resize(g.shape);
  join(g, call.dx[0] ? call.dx[0]->data() : nullptr, call.dx[1] ? call.dx[1]->data() : nullptr, call.out->data());
}
void concat_vjp(OpCall& call) {
  const ConcatGeom g = concat_geom(call);
  const double* gy = call.gy->data();
  for (std::size_t o = 0; o < g.outer; ++o) {
    for (int k = 0; k < 2; ++k) {
      const std::size_t block = k == 0 ? g.a_block : g.b_block;
      if (call.gx[k]) {
        double* gx = call.gx[k]->data() + o * block;
        for (std::size_t i = 0; i < block; ++i) gx[i] += gy[i];
      }
      gy += block;
    }
  }
}

}  // namespace

extern const OpDef op_conv2d;
const OpDef op_conv2d{"conv2d", 2, RuleKind::General, &conv2d_forward, &conv2d_jvp, &conv2d_vjp,
                      &conv2d_vjp_tangent, /*writes_fresh=*/true};
extern const OpDef op_max_pool2d;
const OpDef op_max_pool2d{"max_pool2d", 1, RuleKind::ConstantJacobian, &max_pool_forward, &max_pool_jvp,
                          &max_pool_vjp, nullptr};
extern const OpDef op_avg_pool2d;
const OpDef op_avg_pool2d{"avg_pool2d", 1, RuleKind::LinearUnary, &avg_pool_forward, nullptr, &avg_pool_vjp,
                          nullptr};
extern const OpDef op_concat;
const OpDef op_concat{"concat", 2, RuleKind::ConstantJacobian, &concat_forward, &concat_jvp, &concat_vjp, nullptr};

Var conv2d(Var x, Var theta, const Conv2dParams& params) {
  return tape_of(x, "conv2d").apply<Conv2dParams>(op_conv2d, x, theta, [&](Conv2dParams& p) { p = params; });
}

namespace {
Var pool(const OpDef& op, Var x, const Pool2dParams& params) {
  return tape_of(x, op.name).apply<Pool2dParams>(op, x, Var(), [&](Pool2dParams& p) { p = params; });
}
Pool2dParams square_window(std::size_t kernel, std::size_t stride) {
  const std::size_t s = stride == 0 ? kernel : stride;
  return {kernel, kernel, s, s};
}
}  // namespace
Var max_pool2d(Var x, const Pool2dParams& window) { return pool(op_max_pool2d, x, window); }
Var avg_pool2d(Var x, const Pool2dParams& window) { return pool(op_avg_pool2d, x, window); }
Var max_pool2d(Var x, std::size_t kernel, std::size_t stride) { return max_pool2d(x, square_window(kernel, stride)); }
Var avg_pool2d(Var x, std::size_t kernel, std::size_t stride) { return avg_pool2d(x, square_window(kernel, stride)); }

Var global_avg_pool2d(Var x) {
  const Shape s = x.shape();
  if (s.size() != 4)
    throw ShapeError(fmt::format("global_avg_pool2d: input of shape {} (expected [n, c, h, w])", shape_str(s)));
  return mean(reshape(x, {s[0], s[1], s[2] * s[3]}), 2);
}

Var concat(Var a, Var b, int axis) {
  Tape& t = tape_of(a, "concat");
  const std::size_t rank = a.value().dimension();
  const int ax = axis < 0 ? axis + static_cast<int>(rank) : axis;
  if (ax < 0 || ax >= static_cast<int>(rank))
    throw ShapeError(fmt::format("concat: axis {} is outside a tensor of rank {}", axis, rank));
  return t.apply<ConcatParams>(op_concat, a, b, [&](ConcatParams& p) { p.axis = static_cast<std::size_t>(ax); });
}

}  // namespace eos::ad
