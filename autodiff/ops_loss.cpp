// Row-wise ops of classification and regression: log_softmax, cross_entropy,
// mse. Rows are the leading dimension; classes the last.
#include <cmath>

#include "op_util.hpp"
#include "ops.hpp"

namespace eos::ad {
namespace {

struct Rows {
  std::size_t n, k;  // n rows of k entries
};
Rows rows_of(const char* op, const Tensor& z) {
  if (z.dimension() != 2)
    throw ShapeError(fmt::format("{}: expected a 2-D [rows, classes] tensor, got {}", op,
                                 shape_str_of(z.shape())));
  return {z.shape()[0], z.shape()[1]};
}

// p = softmax of each row of z (max-shifted). Returns Σᵢ [logsumexp(zᵢ) − z_{i,yᵢ}].
double softmax_rows(const Tensor& z, const std::int64_t* labels, Tensor& p) {
  const auto [n, k] = rows_of("softmax", z);
  p.resize(z.shape());
  double total = 0.0;
  const double* zr = z.data();
  double* pr = p.data();
  for (std::size_t i = 0; i < n; ++i, zr += k, pr += k) {
    double m = zr[0];
    for (std::size_t j = 1; j < k; ++j) m = std::max(m, zr[j]);
    double s = 0.0;
    for (std::size_t j = 0; j < k; ++j) s += (pr[j] = std::exp(zr[j] - m));
    const double inv = 1.0 / s;
    for (std::size_t j = 0; j < k; ++j) pr[j] *= inv;
    total += m + std::log(s) - zr[labels[i]];
  }
  return total;
}

// ----------------------------------------------------------------------------
// log_softmax: y = z − logsumexp(z) per row; p = eʸ.
//   ẏ = ż − ⟨p, ż⟩
//   z̄ += ȳ − p Σȳ
//   z̄̇ += ȳ̇ − p Σȳ̇ − ṗ Σȳ,   ṗ = p ⊙ ẏ
void log_softmax_forward(OpCall& c) {
  const Tensor& z = *c.x[0];
  const auto [n, k] = rows_of("log_softmax", z);
  Tensor& y = *c.out;
  y.resize(z.shape());
  for (std::size_t i = 0; i < n; ++i) {
    const double* zr = z.data() + i * k;
    double* yr = y.data() + i * k;
    double m = zr[0];
    for (std::size_t j = 1; j < k; ++j) m = std::max(m, zr[j]);
    double s = 0.0;
    for (std::size_t j = 0; j < k; ++j) s += std::exp(zr[j] - m);
    const double lse = m + std::log(s);
    for (std::size_t j = 0; j < k; ++j) yr[j] = zr[j] - lse;
  }
}
void log_softmax_jvp(OpCall& c) {
  const Tensor &y = *c.y, &dz = *c.dx[0];
  const auto [n, k] = rows_of("log_softmax", y);
  c.out->resize(y.shape());
  for (std::size_t i = 0; i < n; ++i) {
    const double *yr = y.data() + i * k, *dr = dz.data() + i * k;
    double pd = 0.0;
    for (std::size_t j = 0; j < k; ++j) pd += std::exp(yr[j]) * dr[j];
    double* o = c.out->data() + i * k;
    for (std::size_t j = 0; j < k; ++j) o[j] = dr[j] - pd;
  }
}
void log_softmax_vjp(OpCall& c) {
  const Tensor &y = *c.y, &gy = *c.gy;
  const auto [n, k] = rows_of("log_softmax", y);
  for (std::size_t i = 0; i < n; ++i) {
    const double *yr = y.data() + i * k, *g = gy.data() + i * k;
    double s = 0.0;
    for (std::size_t j = 0; j < k; ++j) s += g[j];
    double* gz = c.gx[0]->data() + i * k;
    for (std::size_t j = 0; j < k; ++j) gz[j] += g[j] - std::exp(yr[j]) * s;
  }
}
void log_softmax_vjp_tangent(OpCall& c) {
  const Tensor &y = *c.y, &gy = *c.gy, &gdy = *c.gdy;
  const auto [n, k] = rows_of("log_softmax", y);
  for (std::size_t i = 0; i < n; ++i) {
    const double *yr = y.data() + i * k, *g = gy.data() + i * k, *gd = gdy.data() + i * k;
    double s = 0.0, sd = 0.0;
    for (std::size_t j = 0; j < k; ++j) s += g[j], sd += gd[j];
    double* out = c.gdx[0]->data() + i * k;
    const double* dyr = c.dy ? c.dy->data() + i * k : nullptr;
    for (std::size_t j = 0; j < k; ++j) {
      const double p = std::exp(yr[j]);
      const double pdot = dyr ? p * dyr[j] : 0.0;
      out[j] += gd[j] - p * sd - pdot * s;
    }
  }
}

// ----------------------------------------------------------------------------
// cross_entropy: y = (1/n) Σᵢ [lse(zᵢ) − z_{i,yᵢ}];  cache p = softmax(z).
//   ẏ = (1/n) Σᵢ [⟨pᵢ, żᵢ⟩ − ż_{i,yᵢ}]
//   z̄ += (ȳ/n)(p − e_y)
//   z̄̇ += (ȳ̇/n)(p − e_y) + (ȳ/n) ṗ,   ṗᵢ = pᵢ ⊙ (żᵢ − ⟨pᵢ, żᵢ⟩)
void cross_entropy_forward(OpCall& c) {
  const Tensor& z = *c.x[0];
  const auto [n, k] = rows_of("cross_entropy", z);
  const auto& labels = c.params<LabelParams>().labels;
  if (labels.size() != n)
    throw ShapeError(fmt::format("cross_entropy: {} labels for logits of shape {} ({} rows)",
                                 labels.size(), shape_str_of(z.shape()), n));
  if (n == 0) throw ShapeError("cross_entropy: logits have no rows (mean over 0 examples)");
  for (std::size_t i = 0; i < n; ++i)
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= k)
      throw ShapeError(fmt::format("cross_entropy: label {} of row {} is outside [0, {})",
                                   labels[i], i, k));
  const double total = softmax_rows(z, labels.data(), *c.cache);
  c.out->resize(Shape{});
  c.out->data()[0] = total / static_cast<double>(n);
}
void cross_entropy_jvp(OpCall& c) {
  const Tensor &p = *c.cache, &dz = *c.dx[0];
  const auto [n, k] = rows_of("cross_entropy", p);
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double *pr = p.data() + i * k, *dr = dz.data() + i * k;
    double pd = 0.0;
    for (std::size_t j = 0; j < k; ++j) pd += pr[j] * dr[j];
    total += pd - dr[c.params<LabelParams>().labels[i]];
  }
  c.out->resize(Shape{});
  c.out->data()[0] = total / static_cast<double>(n);
}
// acc += w (p − e_y) row-wise
void add_p_minus_onehot(Tensor& acc, const Tensor& p, const std::vector<std::int64_t>& labels,
                        double w) {
  const std::size_t n = p.shape()[0], k = p.shape()[1];
  const double* pr = p.data();
  double* a = acc.data();
  for (std::size_t i = 0; i < n * k; ++i) a[i] += w * pr[i];
  for (std::size_t i = 0; i < n; ++i) a[i * k + labels[i]] -= w;
}
void cross_entropy_vjp(OpCall& c) {
  const double n = static_cast<double>(c.cache->shape()[0]);
  add_p_minus_onehot(*c.gx[0], *c.cache, c.params<LabelParams>().labels, detail::scalar_of(*c.gy) / n);
}
void cross_entropy_vjp_tangent(OpCall& c) {
  const Tensor& p = *c.cache;
  const auto [n, k] = rows_of("cross_entropy", p);
  const double inv_n = 1.0 / static_cast<double>(n);
  add_p_minus_onehot(*c.gdx[0], p, c.params<LabelParams>().labels, detail::scalar_of(*c.gdy) * inv_n);
  if (!c.dx[0]) return;
  const double w = detail::scalar_of(*c.gy) * inv_n;
  for (std::size_t i = 0; i < n; ++i) {
    const double *pr = p.data() + i * k, *dr = c.dx[0]->data() + i * k;
    double pd = 0.0;
    for (std::size_t j = 0; j < k; ++j) pd += pr[j] * dr[j];
    double* out = c.gdx[0]->data() + i * k;
    for (std::size_t j = 0; j < k; ++j) out[j] += w * pr[j] * (dr[j] - pd);
  }
}

// ----------------------------------------------------------------------------
// mse: y = (1/n) Σᵢ ½‖ŷᵢ − tᵢ‖², n = rows (first dimension).
//   ẏ = (1/n) ⟨ŷ − t, ẏ̂⟩;  ŷ̄ += (ȳ/n)(ŷ − t);  ŷ̄̇ += (ȳ̇/n)(ŷ − t) + (ȳ/n) ẏ̂
std::size_t mse_rows(const OpCall& c) {
  const Tensor &x = *c.x[0], &t = c.params<TargetParams>().target;
  if (!detail::shapes_equal(x.shape(), t.shape()))
    throw ShapeError(fmt::format("mse: prediction shape {} != target shape {}",
                                 shape_str_of(x.shape()), shape_str_of(t.shape())));
  if (x.dimension() == 0 || x.shape()[0] == 0)
    throw ShapeError(fmt::format("mse: prediction of shape {} has no rows", shape_str_of(x.shape())));
  return x.shape()[0];
}
void mse_forward(OpCall& c) {
  const double n = static_cast<double>(mse_rows(c));
  const double s = xt::sum(xt::square(*c.x[0] - c.params<TargetParams>().target))();
  c.out->resize(Shape{});
  c.out->data()[0] = 0.5 * s / n;
}
void mse_jvp(OpCall& c) {
  const double n = static_cast<double>(mse_rows(c));
  const double s = xt::sum((*c.x[0] - c.params<TargetParams>().target) * *c.dx[0])();
  c.out->resize(Shape{});
  c.out->data()[0] = s / n;
}
void mse_vjp(OpCall& c) {
  const double w = detail::scalar_of(*c.gy) / static_cast<double>(mse_rows(c));
  xt::noalias(*c.gx[0]) += w * (*c.x[0] - c.params<TargetParams>().target);
}
void mse_vjp_tangent(OpCall& c) {
  const double inv_n = 1.0 / static_cast<double>(mse_rows(c));
  const double wd = detail::scalar_of(*c.gdy) * inv_n, w = detail::scalar_of(*c.gy) * inv_n;
  if (c.dx[0]) xt::noalias(*c.gdx[0]) += wd * (*c.x[0] - c.params<TargetParams>().target) + w * *c.dx[0];
  else xt::noalias(*c.gdx[0]) += wd * (*c.x[0] - c.params<TargetParams>().target);
}

}  // namespace

extern const OpDef op_log_softmax;
const OpDef op_log_softmax{"log_softmax", 1, RuleKind::General, &log_softmax_forward,
                           &log_softmax_jvp, &log_softmax_vjp, &log_softmax_vjp_tangent};
extern const OpDef op_cross_entropy;
const OpDef op_cross_entropy{"cross_entropy", 1, RuleKind::General, &cross_entropy_forward,
                             &cross_entropy_jvp, &cross_entropy_vjp, &cross_entropy_vjp_tangent};
extern const OpDef op_mse;
const OpDef op_mse{"mse", 1, RuleKind::General, &mse_forward, &mse_jvp, &mse_vjp, &mse_vjp_tangent};

Var log_softmax(Var logits) {
  return tape_of(logits, "log_softmax").apply(op_log_softmax, logits);
}
Var cross_entropy(Var logits, std::span<const std::int64_t> labels) {
  return tape_of(logits, "cross_entropy").apply<LabelParams>(op_cross_entropy, logits, Var(), [&](LabelParams& p) {
    p.labels.assign(labels.begin(), labels.end());
  });
}
Var mse(Var prediction, const Tensor& target) {
  return tape_of(prediction, "mse").apply<TargetParams>(op_mse, prediction, Var(), [&](TargetParams& p) { copy_into(p.target, target); });
}

}  // namespace eos::ad
