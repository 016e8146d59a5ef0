// Batch normalization in training mode, as three ops, so that the batch
// statistics can be the sums of one tape or of many (chunks, MPI ranks):
//   S = bn_moments(x)                per channel (Σx, Σx²) over rows and pixels   [2, C]
//   x̂ = bn_normalize(x, S)          (x − m)·r,  m = S₀/N, v = S₁/N − m², r = (v + ε)^(−½)
//   y = channel_affine(x̂, θ)        γ_c x̂ + β_c with γ, β read in place from θ
// Channels are axis 1 of [n, C] (BatchNorm1d) or [n, C, H, W] (BatchNorm2d);
// N counts the values behind the sums (rows · H · W of the whole batch); the
// variance is the biased one, as PyTorch's training mode.
#include <cmath>

#include "op_util.hpp"
#include "ops.hpp"

namespace eos::ad {
namespace {

// x viewed as [rows, C, P] (P = H·W, or 1 for [n, C]).
struct Channels {
  std::size_t rows, c, p;
  std::size_t at(std::size_t i, std::size_t ch) const { return (i * c + ch) * p; }  // first of a run of p
};
Channels channels_of(const char* op, const Tensor& x) {
  if (x.dimension() != 2 && x.dimension() != 4)
    throw ShapeError(fmt::format("{}: input of shape {} (expected [n, C] or [n, C, H, W])", op, shape_str_of(x.shape())));
  return {x.shape()[0], x.shape()[1], x.dimension() == 4 ? x.shape()[2] * x.shape()[3] : 1};
}
// out[ch] = Σ over rows and pixels of a[·]·(b ? b[·] : 1)
void channel_sums(const Channels& g, const double* a, const double* b, double* out) {
  std::fill_n(out, g.c, 0.0);
  for (std::size_t i = 0; i < g.rows; ++i)
    for (std::size_t ch = 0; ch < g.c; ++ch) {
      const std::size_t o = g.at(i, ch);
      double acc = 0.0;
      if (b) for (std::size_t q = 0; q < g.p; ++q) acc += a[o + q] * b[o + q];
      else for (std::size_t q = 0; q < g.p; ++q) acc += a[o + q];
      out[ch] += acc;
    }
}
// y[·] += s[ch]·a[·] + t[ch] (a or s, t may be null: absent terms)
void channel_axpy(const Channels& g, const double* s, const double* a, const double* t, double* y) {
  for (std::size_t i = 0; i < g.rows; ++i)
    for (std::size_t ch = 0; ch < g.c; ++ch) {
      const std::size_t o = g.at(i, ch);
      const double sc = s ? s[ch] : 0.0, tc = t ? t[ch] : 0.0;
      if (a) for (std::size_t q = 0; q < g.p; ++q) y[o + q] += sc * a[o + q] + tc;
      else for (std::size_t q = 0; q < g.p; ++q) y[o + q] += tc;
    }
}

// ============================================================================
// bn_moments: S₀ = Σx, S₁ = Σx² per channel.
//   Ṡ₀ = Σẋ, Ṡ₁ = 2Σxẋ;  x̄ += S̄₀ + 2x S̄₁;  x̄̇ += S̄̇₀ + 2x S̄̇₁ + 2ẋ S̄₁
void moments_forward(OpCall& call) {
  const Tensor& x = *call.x[0];
  const Channels g = channels_of("bn_moments", x);
  call.out->resize({2, g.c});
  channel_sums(g, x.data(), nullptr, call.out->data());
  channel_sums(g, x.data(), x.data(), call.out->data() + g.c);
}
void moments_jvp(OpCall& call) {
  const Channels g = channels_of("bn_moments", *call.x[0]);
  call.out->resize({2, g.c});
  double* o = call.out->data();
  channel_sums(g, call.dx[0]->data(), nullptr, o);
  channel_sums(g, call.x[0]->data(), call.dx[0]->data(), o + g.c);
  for (std::size_t ch = 0; ch < g.c; ++ch) o[g.c + ch] *= 2.0;
}
// x̄ += S̄₀ + 2 x S̄₁ (one channel_axpy with s = 2 S̄₁, t = S̄₀)
void moments_back(const Channels& g, const double* gs, const double* x, double* gx) {
  std::vector<double> twice(gs + g.c, gs + 2 * g.c);
  for (double& v : twice) v *= 2.0;
  channel_axpy(g, twice.data(), x, gs, gx);
}
void moments_vjp(OpCall& call) {
  const Channels g = channels_of("bn_moments", *call.x[0]);
  moments_back(g, call.gy->data(), call.x[0]->data(), call.gx[0]->data());
}
void moments_vjp_tangent(OpCall& call) {
  const Channels g = channels_of("bn_moments", *call.x[0]);
  moments_back(g, call.gdy->data(), call.x[0]->data(), call.gdx[0]->data());
  if (!call.dx[0]) return;
  std::vector<double> twice(call.gy->data() + g.c, call.gy->data() + 2 * g.c);
  for (double& v : twice) v *= 2.0;
  channel_axpy(g, twice.data(), call.dx[0]->data(), nullptr, call.gdx[0]->data());
}

// ============================================================================
// bn_normalize: x̂ = (x − m) r per channel, from the sums S = (S₀, S₁) over N
// values: m = S₀/N, v = S₁/N − m², r = (v + ε)^(−½). With ṁ = Ṡ₀/N,
// v̇ = Ṡ₁/N − 2mṁ, ṙ = −r³v̇/2:
//   ẏ  = r(ẋ − ṁ) + (x − m)ṙ
//   x̄ += r ȳ;   m̄ = −r Σȳ,  r̄ = Σȳ(x − m),  v̄ = −r³ r̄/2
//   S̄₀ += m̄/N − 2m v̄/N;   S̄₁ += v̄/N
// and the tangent of each of those along (ẋ, Ṡ, ȳ̇).
struct Stats {
  std::vector<double> m, r, dm, dr;  // per channel; dm, dr empty without Ṡ
};
Stats stats_of(const OpCall& call, std::size_t c) {
  const auto& p = call.params<BatchNormParams>();
  const Tensor& S = *call.x[1];
  if (S.dimension() != 2 || S.shape()[0] != 2 || S.shape()[1] != c)
    throw ShapeError(fmt::format("bn_normalize: sums of shape {} for {} channels (expected [2, {}])",
                                 shape_str_of(S.shape()), c, c));
  if (!(p.count > 0)) throw ShapeError("bn_normalize: the sums were taken over no values");
  Stats st{std::vector<double>(c), std::vector<double>(c), {}, {}};
  const double* s = S.data();
  for (std::size_t ch = 0; ch < c; ++ch) {
    st.m[ch] = s[ch] / p.count;
    const double v = s[c + ch] / p.count - st.m[ch] * st.m[ch];
    st.r[ch] = 1.0 / std::sqrt(v + p.eps);
  }
  if (call.dx[1]) {
    st.dm.resize(c);
    st.dr.resize(c);
    const double* ds = call.dx[1]->data();
    for (std::size_t ch = 0; ch < c; ++ch) {
      st.dm[ch] = ds[ch] / p.count;
      const double dv = ds[c + ch] / p.count - 2.0 * st.m[ch] * st.dm[ch];
      st.dr[ch] = -0.5 * st.r[ch] * st.r[ch] * st.r[ch] * dv;
    }
  }
  return st;
}
void normalize_forward(OpCall& call) {
  const Tensor& x = *call.x[0];
  const Channels g = channels_of("bn_normalize", x);
  const Stats st = stats_of(call, g.c);
  call.out->resize(x.shape());
  std::fill(call.out->begin(), call.out->end(), 0.0);
  std::vector<double> shift(g.c);
  for (std::size_t ch = 0; ch < g.c; ++ch) shift[ch] = -st.m[ch] * st.r[ch];
  channel_axpy(g, st.r.data(), x.data(), shift.data(), call.out->data());
}
void normalize_jvp(OpCall& call) {
  const Tensor& x = *call.x[0];
  const Channels g = channels_of("bn_normalize", x);
  const Stats st = stats_of(call, g.c);
  call.out->resize(x.shape());
  std::fill(call.out->begin(), call.out->end(), 0.0);
  if (call.dx[0]) channel_axpy(g, st.r.data(), call.dx[0]->data(), nullptr, call.out->data());  // r ẋ
  if (call.dx[1]) {  // − r ṁ + (x − m) ṙ = ṙ x − (r ṁ + m ṙ)
    std::vector<double> t(g.c);
    for (std::size_t ch = 0; ch < g.c; ++ch) t[ch] = -(st.r[ch] * st.dm[ch] + st.m[ch] * st.dr[ch]);
    channel_axpy(g, st.dr.data(), x.data(), t.data(), call.out->data());
  }
}
// The statistics' adjoints S̄ from m̄ and r̄ (and their tangents), per channel.
void sums_adjoint(const BatchNormParams& p, const Stats& st, std::size_t c, const std::vector<double>& mbar,
                  const std::vector<double>& rbar, double* gs) {
  for (std::size_t ch = 0; ch < c; ++ch) {
    const double r = st.r[ch], vbar = -0.5 * r * r * r * rbar[ch];
    gs[ch] += (mbar[ch] - 2.0 * st.m[ch] * vbar) / p.count;
    gs[c + ch] += vbar / p.count;
  }
}
// Σȳ and Σȳ(x − m) = Σȳx − m Σȳ per channel.
void adjoint_sums(const Channels& g, const Stats& st, const double* gy, const double* x, std::vector<double>& sum_gy,
                  std::vector<double>& sum_gyx) {
  sum_gy.assign(g.c, 0.0);
  sum_gyx.assign(g.c, 0.0);
  channel_sums(g, gy, nullptr, sum_gy.data());
  channel_sums(g, gy, x, sum_gyx.data());
  for (std::size_t ch = 0; ch < g.c; ++ch) sum_gyx[ch] -= st.m[ch] * sum_gy[ch];
}
void normalize_vjp(OpCall& call) {
  const Tensor& x = *call.x[0];
  const Channels g = channels_of("bn_normalize", x);
  const Stats st = stats_of(call, g.c);
  if (call.gx[0]) channel_axpy(g, st.r.data(), call.gy->data(), nullptr, call.gx[0]->data());
  if (!call.gx[1]) return;
  std::vector<double> sg, sgx;
  adjoint_sums(g, st, call.gy->data(), x.data(), sg, sgx);
  for (std::size_t ch = 0; ch < g.c; ++ch) sg[ch] *= -st.r[ch];  // m̄
  sums_adjoint(call.params<BatchNormParams>(), st, g.c, sg, sgx, call.gx[1]->data());
}
void normalize_vjp_tangent(OpCall& call) {
  const Tensor& x = *call.x[0];
  const Channels g = channels_of("bn_normalize", x);
  const Stats st = stats_of(call, g.c);
  const auto& p = call.params<BatchNormParams>();
  const bool dS = call.dx[1] != nullptr;
  // x̄̇ += r ȳ̇ + ṙ ȳ
  if (call.gdx[0]) {
    channel_axpy(g, st.r.data(), call.gdy->data(), nullptr, call.gdx[0]->data());
    if (dS) channel_axpy(g, st.dr.data(), call.gy->data(), nullptr, call.gdx[0]->data());
  }
  if (!call.gdx[1]) return;
  std::vector<double> sg, sgx, sdg, sdgx;
  adjoint_sums(g, st, call.gy->data(), x.data(), sg, sgx);      // Σȳ, r̄
  adjoint_sums(g, st, call.gdy->data(), x.data(), sdg, sdgx);   // Σȳ̇, Σȳ̇(x − m)
  std::vector<double> sgdx(g.c, 0.0);                           // Σȳẋ
  if (call.dx[0]) channel_sums(g, call.gy->data(), call.dx[0]->data(), sgdx.data());
  double* gds = call.gdx[1]->data();
  for (std::size_t ch = 0; ch < g.c; ++ch) {
    const double r = st.r[ch], m = st.m[ch], dm = dS ? st.dm[ch] : 0.0, dr = dS ? st.dr[ch] : 0.0;
    const double rbar = sgx[ch], vbar = -0.5 * r * r * r * rbar;
    const double dmbar = -dr * sg[ch] - r * sdg[ch];             // m̄̇
    const double drbar = sdgx[ch] + sgdx[ch] - dm * sg[ch];       // r̄̇ = Σȳ̇(x − m) + Σȳ(ẋ − ṁ)
    const double dvbar = -0.5 * (3.0 * r * r * dr * rbar + r * r * r * drbar);
    gds[ch] += (dmbar - 2.0 * (dm * vbar + m * dvbar)) / p.count;
    gds[g.c + ch] += dvbar / p.count;
  }
}

// ============================================================================
// channel_affine: y = γ_c x + β_c, with γ = θ[offset, offset + C), β the next C.
//   ẏ = γẋ + γ̇x + β̇;   x̄ += γȳ;  γ̄ += Σȳx;  β̄ += Σȳ
//   x̄̇ += γȳ̇ + γ̇ȳ;   γ̄̇ += Σ(ȳ̇x + ȳẋ);  β̄̇ += Σȳ̇
std::size_t affine_offset(const OpCall& call, const Channels& g) {
  const auto& p = call.params<AffineParams>();
  if (p.channels != g.c)
    throw ShapeError(fmt::format("channel_affine: input of shape {} for {} channels", shape_str_of(call.x[0]->shape()), p.channels));
  if (call.x[1]->size() < p.offset + 2 * g.c)
    throw ShapeError(fmt::format("channel_affine: parameters of shape {} end before element {} (γ, β of {} channels at {})",
                                 shape_str_of(call.x[1]->shape()), p.offset + 2 * g.c, g.c, p.offset));
  return p.offset;
}
void affine_forward(OpCall& call) {
  const Tensor& x = *call.x[0];
  const Channels g = channels_of("channel_affine", x);
  const double* th = call.x[1]->data() + affine_offset(call, g);
  call.out->resize(x.shape());
  std::fill(call.out->begin(), call.out->end(), 0.0);
  channel_axpy(g, th, x.data(), th + g.c, call.out->data());
}
void affine_jvp(OpCall& call) {
  const Tensor& x = *call.x[0];
  const Channels g = channels_of("channel_affine", x);
  const std::size_t o = affine_offset(call, g);
  call.out->resize(x.shape());
  std::fill(call.out->begin(), call.out->end(), 0.0);
  if (call.dx[0]) channel_axpy(g, call.x[1]->data() + o, call.dx[0]->data(), nullptr, call.out->data());
  if (call.dx[1]) channel_axpy(g, call.dx[1]->data() + o, x.data(), call.dx[1]->data() + o + g.c, call.out->data());
}
// x̄ += γ_src G and θ̄[γ] += Σ G·X_src, θ̄[β] += Σ G (each term when its source is given)
void affine_back(const Channels& g, std::size_t o, const double* G, const double* gamma_src, const double* X_src,
                 bool with_beta, Tensor* gx, Tensor* gth) {
  if (gx && gamma_src) channel_axpy(g, gamma_src, G, nullptr, gx->data());
  if (!gth) return;
  std::vector<double> s(g.c);
  if (X_src) {
    channel_sums(g, G, X_src, s.data());
    for (std::size_t ch = 0; ch < g.c; ++ch) gth->data()[o + ch] += s[ch];
  }
  if (with_beta) {
    channel_sums(g, G, nullptr, s.data());
    for (std::size_t ch = 0; ch < g.c; ++ch) gth->data()[o + g.c + ch] += s[ch];
  }
}
void affine_vjp(OpCall& call) {
  const Channels g = channels_of("channel_affine", *call.x[0]);
  const std::size_t o = affine_offset(call, g);
  affine_back(g, o, call.gy->data(), call.x[1]->data() + o, call.x[0]->data(), true, call.gx[0], call.gx[1]);
}
void affine_vjp_tangent(OpCall& call) {
  const Channels g = channels_of("channel_affine", *call.x[0]);
  const std::size_t o = affine_offset(call, g);
  affine_back(g, o, call.gdy->data(), call.x[1]->data() + o, call.x[0]->data(), true, call.gdx[0], call.gdx[1]);
  affine_back(g, o, call.gy->data(), call.dx[1] ? call.dx[1]->data() + o : nullptr,
              call.dx[0] ? call.dx[0]->data() : nullptr, false, call.gdx[0], call.gdx[1]);
}

// ============================================================================
// all_reduce_sum: y = Σ_parts x_part (every part gets the total). Linear, and
// its own transpose: for f = Σ_parts f_part(y), x̄_part = Σ_parts ȳ_part, so
// x̄ += all_reduce_sum(ȳ); the tangents are summed the same way.
void all_reduce_forward(OpCall& call) {
  const auto& p = call.params<AllReduceParams>();
  copy_into(*call.out, *call.x[0]);
  p.reducer->sum(p.part, call.out->data(), call.out->size());
}
void all_reduce_vjp(OpCall& call) {
  const auto& p = call.params<AllReduceParams>();
  Tensor total = *call.gy;
  p.reducer->sum(p.part, total.data(), total.size());
  xt::noalias(*call.gx[0]) += total;
}

}  // namespace

extern const OpDef op_all_reduce_sum;
const OpDef op_all_reduce_sum{"all_reduce_sum", 1, RuleKind::LinearUnary, &all_reduce_forward, nullptr,
                              &all_reduce_vjp, nullptr};
Var all_reduce_sum(Var x, BatchReducer& reducer, std::size_t part) {
  return tape_of(x, "all_reduce_sum").apply<AllReduceParams>(op_all_reduce_sum, x, Var(), [&](AllReduceParams& p) {
    p = {&reducer, part};
  });
}

extern const OpDef op_bn_moments;
const OpDef op_bn_moments{"bn_moments", 1, RuleKind::General, &moments_forward, &moments_jvp, &moments_vjp,
                          &moments_vjp_tangent};
extern const OpDef op_bn_normalize;
const OpDef op_bn_normalize{"bn_normalize", 2, RuleKind::General, &normalize_forward, &normalize_jvp,
                            &normalize_vjp, &normalize_vjp_tangent};
extern const OpDef op_channel_affine;
const OpDef op_channel_affine{"channel_affine", 2, RuleKind::General, &affine_forward, &affine_jvp, &affine_vjp,
                              &affine_vjp_tangent};

Var bn_moments(Var x) { return tape_of(x, "bn_moments").apply(op_bn_moments, x); }
Var bn_normalize(Var x, Var sums, double count, double eps) {
  return tape_of(x, "bn_normalize").apply<BatchNormParams>(op_bn_normalize, x, sums, [&](BatchNormParams& p) {
    p = {count, eps};
  });
}
Var channel_affine(Var x, Var theta, std::size_t offset) {
  const Shape s = x.shape();
  if (s.size() < 2) throw ShapeError(fmt::format("channel_affine: input of shape {} has no channel axis", shape_str(s)));
  return tape_of(x, "channel_affine").apply<AffineParams>(op_channel_affine, x, theta, [&](AffineParams& p) {
    p = {offset, s[1]};
  });
}
Var batch_norm(Var x, Var theta, std::size_t offset, double eps) {
  const Shape s = x.shape();
  if (s.size() != 2 && s.size() != 4)
    throw ShapeError(fmt::format("batch_norm: input of shape {} (expected [n, C] or [n, C, H, W])", shape_str(s)));
  const double count = static_cast<double>(shape_size(s) / s[1]);
  if (count < 2)  // PyTorch refuses it too: the variance of one value is 0 and x̂ is rounding noise / √ε
    throw ShapeError(fmt::format("batch_norm: input of shape {} has {} value per channel (training mode needs more than 1)",
                                 shape_str(s), count));
  return channel_affine(bn_normalize(x, bn_moments(x), count, eps), theta, offset);
}

}  // namespace eos::ad
