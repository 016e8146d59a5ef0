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
// For a block of B images, with the column matrix col(x) [K = C·kh·kw, B·P]
// of their receptive fields side by side (im2col; P = Ho·Wo) and W as [O, K]:
//   y       = W col(x) + b 1ᵀ
//   ẏ       = Ẇ col(x) + W col(ẋ) + ḃ 1ᵀ
//   x̄      += col⁻ᵀ(Wᵀ ȳ)                (col2im: the adjoint of im2col)
//   W̄      += ȳ col(x)ᵀ;      b̄ += ȳ 1
//   x̄̇     += col⁻ᵀ(Wᵀ ȳ̇ + Ẇᵀ ȳ)
//   W̄̇     += ȳ̇ col(x)ᵀ + ȳ col(ẋ)ᵀ;  b̄̇ += ȳ̇ 1
// One dgemm per block and product: the weight adjoints' inner dimension is
// B·P, not P. The block's column matrices and output-shaped buffers live in
// the node's cache (about kBlockValues values, whatever the chunk size) and
// are rebuilt in each sweep instead of kept for the batch.
constexpr std::size_t kBlockValues = std::size_t{1} << 18;  // 2 MB per column matrix: within the L3 cache

struct ConvGeom {
  std::size_t n, c, h, w;        // input [n, c, h, w]
  std::size_t o, kh, kw, sh, sw, ph, pw;
  std::size_t ho, wo;            // output [n, o, ho, wo]
  std::size_t w_at, b_at;        // offsets of W and b in θ
  bool bias;
  std::size_t block;             // images per block
  std::size_t k() const { return c * kh * kw; }  // rows of a column matrix
  std::size_t p() const { return ho * wo; }      // output pixels of a channel
  std::size_t in_image() const { return c * h * w; }
  std::size_t out_image() const { return o * ho * wo; }
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
             p.pad_h, p.pad_w, 0, 0, p.offset, 0, p.bias, 1};
  if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
    throw ShapeError(fmt::format("conv2d: input {}×{} with padding {}×{} is smaller than the kernel {}×{}", g.h,
                                 g.w, g.ph, g.pw, g.kh, g.kw));
  g.ho = (g.h + 2 * g.ph - g.kh) / g.sh + 1;
  g.wo = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
  g.b_at = g.w_at + g.o * g.k();
  const std::size_t fit = p.block ? p.block : kBlockValues / std::max<std::size_t>(g.k() * g.p(), 1);
  g.block = std::clamp<std::size_t>(fit, 1, std::max<std::size_t>(g.n, 1));
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

// col[(ci·kh + i)·kw + j, oh·wo + ow] = x[ci, oh·sh − ph + i, ow·sw − pw + j], 0 outside;
// one image's P columns, in a matrix whose rows are `ld` long.
void im2col(const ConvGeom& g, const double* x, double* col, std::size_t ld) {
  for (std::size_t ci = 0; ci < g.c; ++ci)
    for (std::size_t i = 0; i < g.kh; ++i)
      for (std::size_t j = 0; j < g.kw; ++j) {
        double* row = col + ((ci * g.kh + i) * g.kw + j) * ld;
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
          if (g.sw == 1) {  // a contiguous run of the input row
            std::copy(src + cols.lo + j - g.pw, src + cols.hi + j - g.pw, r + cols.lo);
          } else {
            for (std::size_t ow = cols.lo; ow < cols.hi; ++ow) r[ow] = src[ow * g.sw + j - g.pw];
          }
          std::fill(r + cols.hi, r + g.wo, 0.0);
        }
      }
}

// x += col⁻ᵀ(col): each column entry added back to the pixel it was read from.
void col2im_add(const ConvGeom& g, const double* col, std::size_t ld, double* x) {
  for (std::size_t ci = 0; ci < g.c; ++ci)
    for (std::size_t i = 0; i < g.kh; ++i)
      for (std::size_t j = 0; j < g.kw; ++j) {
        const double* row = col + ((ci * g.kh + i) * g.kw + j) * ld;
        const Span cols = valid_span(g.wo, g.sw, g.pw, j, g.w);
        for (std::size_t oh = 0; oh < g.ho; ++oh) {
          const std::size_t ih = oh * g.sh + i;
          if (ih < g.ph || ih >= g.ph + g.h) continue;
          double* __restrict dst = x + (ci * g.h + (ih - g.ph)) * g.w + j - g.pw;  // + ow·sw: the pixel of column ow
          const double* __restrict r = row + oh * g.wo;
          if (g.sw == 1) {
            for (std::size_t ow = cols.lo; ow < cols.hi; ++ow) dst[ow] += r[ow];
          } else {
            for (std::size_t ow = cols.lo; ow < cols.hi; ++ow) dst[ow * g.sw] += r[ow];
          }
        }
      }
}

// A block of images [first, first + count) and its buffers in the node's cache:
// two column matrices [K, B·P] and two output-shaped matrices [O, B·P].
struct ConvBlock {
  std::size_t first, count;
  double *col, *dcol, *out1, *out2;
  std::size_t width;  // B·P: the row length of all four
};
struct ConvScratch {
  double* base;
  std::size_t kb, ob;  // values of a column matrix and of an output matrix of a full block
};
ConvScratch scratch(const ConvGeom& g, Tensor& cache) {
  const std::size_t kb = g.k() * g.block * g.p(), ob = g.o * g.block * g.p();
  if (cache.size() != 2 * (kb + ob) || cache.dimension() != 1) cache.resize({2 * (kb + ob)});
  return {cache.data(), kb, ob};
}
// The blocks of the batch, in order.
template <class F>
void for_each_block(const ConvGeom& g, const ConvScratch& s, F&& f) {
  for (std::size_t first = 0; first < g.n; first += g.block) {
    const std::size_t count = std::min(g.block, g.n - first);
    f(ConvBlock{first, count, s.base, s.base + s.kb, s.base + 2 * s.kb, s.base + 2 * s.kb + s.ob, count * g.p()});
  }
}
// col ← the block's images of `images` (null: nothing), side by side.
// f(i) for the block's images i = 0…count−1.
template <class F>
void for_images(const ConvBlock& b, F&& f) {
  for (std::size_t i = 0; i < b.count; ++i) f(i);
}
const double* columns(const ConvGeom& g, const ConvBlock& b, const double* images, double* col) {
  for_images(b, [&](std::size_t i) {
    im2col(g, images + (b.first + i) * g.in_image(), col + i * g.p(), b.width);
  });
  return col;
}
// [O, B·P] ↔ the block's images [B, O, P]: out(+)= m (+ bias per channel), or m ← images.
void scatter(const ConvGeom& g, const ConvBlock& b, const double* m, const double* bias, double* images) {
  for_images(b, [&](std::size_t i) {
    for (std::size_t o = 0; o < g.o; ++o) {
      double* __restrict y = images + (b.first + i) * g.out_image() + o * g.p();
      const double* __restrict r = m + o * b.width + i * g.p();
      const double c = bias ? bias[o] : 0.0;
      for (std::size_t q = 0; q < g.p(); ++q) y[q] = r[q] + c;
    }
  });
}
void gather(const ConvGeom& g, const ConvBlock& b, const double* images, double* m) {
  for_images(b, [&](std::size_t i) {
    for (std::size_t o = 0; o < g.o; ++o)
      std::copy_n(images + (b.first + i) * g.out_image() + o * g.p(), g.p(), m + o * b.width + i * g.p());
  });
}
// C[O, B·P] (β·C +)= W[O, K] · col[K, B·P]
void weights_times(const ConvGeom& g, const ConvBlock& b, const double* W, const double* col, double beta, double* C) {
  detail::gemm(false, false, g.o, b.width, g.k(), W, g.k(), col, b.width, beta, C, b.width);
}

void conv2d_forward(OpCall& call) {
  const ConvGeom g = conv_geom(call);
  call.out->resize({g.n, g.o, g.ho, g.wo});
  const double *x = call.x[0]->data(), *th = call.x[1]->data();
  for_each_block(g, scratch(g, *call.cache), [&](const ConvBlock& b) {
    weights_times(g, b, th + g.w_at, columns(g, b, x, b.col), 0.0, b.out1);
    scatter(g, b, b.out1, g.bias ? th + g.b_at : nullptr, call.out->data());
  });
}

void conv2d_jvp(OpCall& call) {
  const ConvGeom g = conv_geom(call);
  call.out->resize({g.n, g.o, g.ho, g.wo});
  const Tensor *dx = call.dx[0], *dth = call.dx[1];
  for_each_block(g, scratch(g, *call.cache), [&](const ConvBlock& b) {
    double beta = 0.0;
    if (dth) {  // Ẇ col(x)
      weights_times(g, b, dth->data() + g.w_at, columns(g, b, call.x[0]->data(), b.col), 0.0, b.out1);
      beta = 1.0;
    }
    if (dx) weights_times(g, b, call.x[1]->data() + g.w_at, columns(g, b, dx->data(), b.col), beta, b.out1);  // W col(ẋ)
    scatter(g, b, b.out1, dth && g.bias ? dth->data() + g.b_at : nullptr, call.out->data());
  });
}

// One adjoint term of a block: x̄ += col⁻ᵀ(Σ Wᵢᵀ Gᵢ) and θ̄[W] += Σ Gⱼ col(Xⱼ)ᵀ, θ̄[b] += G_bias 1,
// over the (G, W) and (G, X) pairs given (null pointers: absent terms).
struct ConvTerms {
  const double *G1 = nullptr, *W1 = nullptr, *G2 = nullptr, *W2 = nullptr;  // for x̄
  const double *GX1 = nullptr, *X1 = nullptr, *GX2 = nullptr, *X2 = nullptr;  // for θ̄[W]
  const double* G_bias = nullptr;
};
void conv_back_block(const ConvGeom& g, const ConvBlock& b, const ConvTerms& t, Tensor* gx, Tensor* gth) {
  if (gx && (t.W1 || t.W2)) {
    double beta = 0.0;
    for (auto [G, W] : {std::pair{t.G1, t.W1}, std::pair{t.G2, t.W2}}) {
      if (!W) continue;
      detail::gemm(true, false, g.k(), b.width, g.o, W, g.k(), G, b.width, beta, b.dcol, b.width);
      beta = 1.0;
    }
    for_images(b, [&](std::size_t i) {
      col2im_add(g, b.dcol + i * g.p(), b.width, gx->data() + (b.first + i) * g.in_image());
    });
  }
  if (!gth) return;
  for (auto [G, X] : {std::pair{t.GX1, t.X1}, std::pair{t.GX2, t.X2}})
    if (X) detail::gemm(false, true, g.o, g.k(), b.width, G, b.width, columns(g, b, X, b.col), b.width, 1.0,
                        gth->data() + g.w_at, g.k());
  if (t.G_bias && g.bias)
    for (std::size_t o = 0; o < g.o; ++o) {
      double acc = 0.0;
      for (std::size_t q = 0; q < b.width; ++q) acc += t.G_bias[o * b.width + q];
      gth->data()[g.b_at + o] += acc;
    }
}
// Buffers that get their first write here are zeroed first (col2im and θ's segments only add).
void zero_fresh(Tensor* gx, bool fresh_x, Tensor* gth, bool fresh_th) {
  if (gx && fresh_x) gx->fill(0.0);
  if (gth && fresh_th) gth->fill(0.0);
}

void conv2d_vjp(OpCall& call) {
  const ConvGeom g = conv_geom(call);
  zero_fresh(call.gx[0], call.fresh_gx[0], call.gx[1], call.fresh_gx[1]);
  const double *W = call.x[1]->data() + g.w_at, *x = call.x[0]->data();
  for_each_block(g, scratch(g, *call.cache), [&](const ConvBlock& b) {
    gather(g, b, call.gy->data(), b.out1);
    ConvTerms t;
    t.G1 = t.GX1 = t.G_bias = b.out1;
    t.W1 = W;
    t.X1 = x;
    conv_back_block(g, b, t, call.gx[0], call.gx[1]);
  });
}

void conv2d_vjp_tangent(OpCall& call) {
  const ConvGeom g = conv_geom(call);
  zero_fresh(call.gdx[0], call.fresh_gdx[0], call.gdx[1], call.fresh_gdx[1]);
  const Tensor *dx = call.dx[0], *dth = call.dx[1];
  for_each_block(g, scratch(g, *call.cache), [&](const ConvBlock& b) {
    gather(g, b, call.gdy->data(), b.out1);  // ȳ̇
    gather(g, b, call.gy->data(), b.out2);   // ȳ
    ConvTerms t;  // x̄̇ += col⁻ᵀ(Wᵀȳ̇ + Ẇᵀȳ);  W̄̇ += ȳ̇ col(x)ᵀ + ȳ col(ẋ)ᵀ;  b̄̇ += ȳ̇ 1
    t.G1 = t.GX1 = t.G_bias = b.out1;
    t.W1 = call.x[1]->data() + g.w_at;
    t.X1 = call.x[0]->data();
    t.G2 = t.GX2 = b.out2;
    t.W2 = dth ? dth->data() + g.w_at : nullptr;
    t.X2 = dx ? dx->data() : nullptr;
    conv_back_block(g, b, t, call.gdx[0], call.gdx[1]);
  });
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
// The window's first maximum, a NaN counting as a maximum: v replaces best
// when v > best, or when v is NaN and best is not.
inline bool beats(double v, double best) { return v > best || (v != v && best == best); }

// One plane's windows; the 2×2 window (Cohen et al.'s and VGG's) unrolled.
void max_pool_plane(const PoolGeom& g, const double* xp, double* y, double* arg) {
  for (std::size_t oh = 0; oh < g.ho; ++oh) {
    const std::size_t r0 = oh * g.sh * g.w;
    if (g.kh == 2 && g.kw == 2) {
      for (std::size_t ow = 0; ow < g.wo; ++ow) {
        const std::size_t a = r0 + ow * g.sw;
        std::size_t best = a;
        for (std::size_t at : {a + 1, a + g.w, a + g.w + 1}) best = beats(xp[at], xp[best]) ? at : best;
        *y++ = xp[best];
        *arg++ = static_cast<double>(best);
      }
      continue;
    }
    for (std::size_t ow = 0; ow < g.wo; ++ow) {
      std::size_t best = r0 + ow * g.sw;
      for (std::size_t i = 0; i < g.kh; ++i)
        for (std::size_t j = 0; j < g.kw; ++j) {
          const std::size_t at = r0 + i * g.w + ow * g.sw + j;
          best = beats(xp[at], xp[best]) ? at : best;
        }
      *y++ = xp[best];
      *arg++ = static_cast<double>(best);
    }
  }
}
// body(0, planes): the loops below take a range of planes.
template <class F>
void for_planes(const PoolGeom& g, F&& body) {
  body(std::size_t{0}, g.planes);
}
void max_pool_forward(OpCall& call) {
  const PoolGeom g = pool_geom("max_pool2d", call);
  const Tensor& x = *call.x[0];
  call.out->resize(pooled_shape(x, g));
  call.cache->resize(pooled_shape(x, g));
  const std::size_t per_plane = g.ho * g.wo;
  for_planes(g, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t pl = lo; pl < hi; ++pl)
      max_pool_plane(g, x.data() + pl * g.h * g.w, call.out->data() + pl * per_plane,
                     call.cache->data() + pl * per_plane);
  });
}
// out[window] = src[argmax], plane by plane.
void gather_max(const PoolGeom& g, const Tensor& arg, const double* src, double* out) {
  const std::size_t per_plane = g.ho * g.wo;
  for_planes(g, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t pl = lo; pl < hi; ++pl) {
      const double* a = arg.data() + pl * per_plane;
      for (std::size_t q = 0; q < per_plane; ++q)
        out[pl * per_plane + q] = src[pl * g.h * g.w + static_cast<std::size_t>(a[q])];
    }
  });
}
void max_pool_jvp(OpCall& call) {
  const PoolGeom g = pool_geom("max_pool2d", call);
  call.out->resize(pooled_shape(*call.x[0], g));
  gather_max(g, *call.cache, call.dx[0]->data(), call.out->data());
}
// x̄[argmax] += ȳ. A fresh buffer (its first write) tiled exactly by the
// windows (stride = window, no remainder) is written window by window, ȳ at
// the argmax and 0 elsewhere: one pass instead of zeroing it first.
void max_pool_vjp(OpCall& call) {
  const PoolGeom g = pool_geom("max_pool2d", call);
  const std::size_t per_plane = g.ho * g.wo;
  const bool tiled = g.sh == g.kh && g.sw == g.kw && g.ho * g.kh == g.h && g.wo * g.kw == g.w;
  const bool fresh = call.fresh_gx[0];
  for_planes(g, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t pl = lo; pl < hi; ++pl) {
      const double *a = call.cache->data() + pl * per_plane, *gy = call.gy->data() + pl * per_plane;
      double* gx = call.gx[0]->data() + pl * g.h * g.w;
      if (fresh && tiled) {
        for (std::size_t oh = 0; oh < g.ho; ++oh)
          for (std::size_t ow = 0; ow < g.wo; ++ow, ++a, ++gy) {
            for (std::size_t i = 0; i < g.kh; ++i) std::fill_n(gx + (oh * g.kh + i) * g.w + ow * g.kw, g.kw, 0.0);
            gx[static_cast<std::size_t>(*a)] = *gy;
          }
        continue;
      }
      if (fresh) std::fill_n(gx, g.h * g.w, 0.0);
      for (std::size_t q = 0; q < per_plane; ++q) gx[static_cast<std::size_t>(a[q])] += gy[q];
    }
  });
}

// avg_pool2d: y = the window's mean. Linear: x̄ += ȳ/(kh·kw) over each window.
void avg_pool_forward(OpCall& call) {
  const PoolGeom g = pool_geom("avg_pool2d", call);
  const Tensor& x = *call.x[0];
  call.out->resize(pooled_shape(x, g));
  const double inv = 1.0 / static_cast<double>(g.kh * g.kw);
  for_planes(g, [&](std::size_t lo, std::size_t hi) {
    double* y = call.out->data() + lo * g.ho * g.wo;
    for (std::size_t pl = lo; pl < hi; ++pl) {
      const double* xp = x.data() + pl * g.h * g.w;
      for (std::size_t oh = 0; oh < g.ho; ++oh)
        for (std::size_t ow = 0; ow < g.wo; ++ow) {
          double acc = 0.0;
          for (std::size_t i = 0; i < g.kh; ++i)
            for (std::size_t j = 0; j < g.kw; ++j) acc += xp[(oh * g.sh + i) * g.w + ow * g.sw + j];
          *y++ = acc * inv;
        }
    }
  });
}
void avg_pool_vjp(OpCall& call) {
  const PoolGeom g = pool_geom("avg_pool2d", call);
  const double inv = 1.0 / static_cast<double>(g.kh * g.kw);
  for_planes(g, [&](std::size_t lo, std::size_t hi) {
    const double* gy = call.gy->data() + lo * g.ho * g.wo;
    for (std::size_t pl = lo; pl < hi; ++pl) {
      double* gp = call.gx[0]->data() + pl * g.h * g.w;
      for (std::size_t oh = 0; oh < g.ho; ++oh)
        for (std::size_t ow = 0; ow < g.wo; ++ow) {
          const double v = *gy++ * inv;
          for (std::size_t i = 0; i < g.kh; ++i)
            for (std::size_t j = 0; j < g.kw; ++j) gp[(oh * g.sh + i) * g.w + ow * g.sw + j] += v;
        }
    }
  });
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
                          &max_pool_vjp, nullptr, /*writes_fresh=*/true};
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
