// matmul and dot: the bilinear ops. Matrix products run as one dgemm each
// with BLAS transpose flags; no transposed copy is ever made.
#include <xtensor-blas/xblas.hpp>

#include "float32_products.hpp"
#include "op_util.hpp"
#include "ops.hpp"

namespace eos::ad {

void detail::gemm(bool tx, bool ty, std::size_t M, std::size_t N, std::size_t K, const double* X, std::size_t ldx,
                  const double* Y, std::size_t ldy, double beta, double* C, std::size_t ldc) {
  if (Float32Products* f32 = Float32Products::active()) {  // a tangent sweep in mixed precision
    f32->gemm(tx, ty, M, N, K, X, ldx, Y, ldy, beta, C, ldc);
    return;
  }
  using cxxblas::Transpose;
  using I = xt::blas_index_t;
  cxxblas::gemm<I>(cxxblas::StorageOrder::RowMajor, tx ? Transpose::Trans : Transpose::NoTrans,
                   ty ? Transpose::Trans : Transpose::NoTrans, static_cast<I>(M), static_cast<I>(N),
                   static_cast<I>(K), 1.0, X, static_cast<I>(ldx), Y, static_cast<I>(ldy), beta, C,
                   static_cast<I>(ldc));
}

detail::GemmSum::GemmSum(std::size_t M, std::size_t N, double beta, double* C, std::size_t ldc)
    : f32_(Float32Products::active()), M_(M), N_(N), ldc_(ldc), beta_(beta), C_(C) {
  if (f32_) f32_->sum_begin(M, N);
}
detail::GemmSum::~GemmSum() {
  if (f32_) f32_->sum_end(beta_, C_, ldc_);
  else if (!any_)  // no product: C = beta·C
    for (std::size_t i = 0; i < M_; ++i)
      for (std::size_t j = 0; j < N_; ++j) C_[i * ldc_ + j] = beta_ == 0.0 ? 0.0 : beta_ * C_[i * ldc_ + j];
}
void detail::GemmSum::add(bool tx, bool ty, std::size_t K, const double* X, std::size_t ldx, const double* Y,
                          std::size_t ldy) {
  if (f32_) return f32_->sum_add(tx, ty, K, X, ldx, Y, ldy);
  detail::gemm(tx, ty, M_, N_, K, X, ldx, Y, ldy, any_ ? 1.0 : beta_, C_, ldc_);
  any_ = true;
}

detail::SharedOperand::SharedOperand(const double* data, std::size_t size) : data_(data) {
  if (Float32Products* f32 = Float32Products::active(); f32 && f32->hold(data, size)) held_by_ = f32;
}
detail::SharedOperand::~SharedOperand() {
  if (held_by_) held_by_->release(data_);
}

namespace {
using detail::gemm;

// The same for 2-D tensors as stored.
void gemm(bool tx, bool ty, std::size_t M, std::size_t N, std::size_t K, const Tensor& X,
          const Tensor& Y, double beta, Tensor& C) {
  gemm(tx, ty, M, N, K, X.data(), X.shape()[1], Y.data(), Y.shape()[1], beta, C.data(), C.shape()[1]);
}

struct Dims {
  std::size_t m, k, n;
};
// Dimensions of op(A)[m×k] · op(B)[k×n], checked.
Dims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  if (a.dimension() != 2 || b.dimension() != 2)
    throw ShapeError(fmt::format("matmul: operands must be 2-D, got {} and {}",
                                 shape_str_of(a.shape()), shape_str_of(b.shape())));
  const std::size_t m = ta ? a.shape()[1] : a.shape()[0], k = ta ? a.shape()[0] : a.shape()[1];
  const std::size_t kb = tb ? b.shape()[1] : b.shape()[0], n = tb ? b.shape()[0] : b.shape()[1];
  if (k != kb)
    throw ShapeError(fmt::format("matmul: inner dimensions differ: {}{} · {}{} ({} vs {})",
                                 shape_str_of(a.shape()), ta ? "ᵀ" : "", shape_str_of(b.shape()),
                                 tb ? "ᵀ" : "", k, kb));
  return {m, k, n};
}

void matmul_forward(OpCall& c) {
  const auto [m, k, n] = matmul_dims(*c.x[0], *c.x[1], c.params<MatmulParams>().trans_a, c.params<MatmulParams>().trans_b);
  c.out->resize({m, n});
  gemm(c.params<MatmulParams>().trans_a, c.params<MatmulParams>().trans_b, m, n, k, *c.x[0], *c.x[1], 0.0, *c.out);
}

// Ċ = op(Ȧ)·op(B) + op(A)·op(Ḃ)
void matmul_jvp(OpCall& c) {
  const bool ta = c.params<MatmulParams>().trans_a, tb = c.params<MatmulParams>().trans_b;
  const Tensor &A = *c.x[0], &B = *c.x[1];
  const auto [m, k, n] = matmul_dims(A, B, ta, tb);
  c.out->resize({m, n});
  detail::GemmSum sum(m, n, 0.0, c.out->data(), n);
  if (c.dx[0]) sum.add(ta, tb, k, c.dx[0]->data(), A.shape()[1], B.data(), B.shape()[1]);
  if (c.dx[1]) sum.add(ta, tb, k, A.data(), A.shape()[1], c.dx[1]->data(), B.shape()[1]);
}

// For C = op(A)·op(B):  op(A)‾ = C̄·op(B)ᵀ,  op(B)‾ = op(A)ᵀ·C̄, transposed back
// when the stored operand is transposed. Reads x and ȳ only (Bilinear).
void matmul_vjp(OpCall& c) {
  const bool ta = c.params<MatmulParams>().trans_a, tb = c.params<MatmulParams>().trans_b;
  const Tensor &A = *c.x[0], &B = *c.x[1], &G = *c.gy;
  const auto [m, k, n] = matmul_dims(A, B, ta, tb);
  if (c.gx[0]) {
    const double beta = c.fresh_gx[0] ? 0.0 : 1.0;  // a fresh buffer is overwritten
    if (!ta) gemm(false, !tb, m, k, n, G, B, beta, *c.gx[0]);  // Ā[m×k] += C̄ op(B)ᵀ
    else gemm(tb, true, k, m, n, B, G, beta, *c.gx[0]);        // Ā[k×m] += op(B) C̄ᵀ
  }
  if (c.gx[1]) {
    const double beta = c.fresh_gx[1] ? 0.0 : 1.0;
    if (!tb) gemm(!ta, false, k, n, m, A, G, beta, *c.gx[1]);  // B̄[k×n] += op(A)ᵀ C̄
    else gemm(true, ta, n, k, m, G, A, beta, *c.gx[1]);        // B̄[n×k] += C̄ᵀ op(A)
  }
}
}  // namespace

extern const OpDef op_matmul;
const OpDef op_matmul{"matmul", 2, RuleKind::Bilinear, &matmul_forward, &matmul_jvp, &matmul_vjp,
                      nullptr, /*writes_fresh=*/true};
Var matmul(Var a, Var b, bool transpose_a, bool transpose_b) {
  return tape_of(a, "matmul").apply<MatmulParams>(op_matmul, a, b, [&](MatmulParams& p) {
    p.trans_a = transpose_a;
    p.trans_b = transpose_b;
  });
}

}  // namespace eos::ad


namespace eos::ad {
// dot: y = Σ aᵢbᵢ. Bilinear: ẏ = ⟨ȧ,b⟩ + ⟨a,ḃ⟩; ā += ȳ b; b̄ += ȳ a.
extern const OpDef op_dot;
const OpDef op_dot{
    "dot", 2, RuleKind::Bilinear,
    [](OpCall& c) {
      if (!detail::shapes_equal(c.x[0]->shape(), c.x[1]->shape()))
        throw ShapeError(fmt::format("dot: shapes {} and {} differ", shape_str_of(c.x[0]->shape()),
                                     shape_str_of(c.x[1]->shape())));
      c.out->resize(Shape{});
      c.out->data()[0] = inner(*c.x[0], *c.x[1]);
    },
    [](OpCall& c) {
      double v = 0.0;
      if (c.dx[0]) v += inner(*c.dx[0], *c.x[1]);
      if (c.dx[1]) v += inner(*c.x[0], *c.dx[1]);
      c.out->resize(Shape{});
      c.out->data()[0] = v;
    },
    [](OpCall& c) {
      const double g = detail::scalar_of(*c.gy);
      if (c.gx[0]) xt::noalias(*c.gx[0]) += g * *c.x[1];
      if (c.gx[1]) xt::noalias(*c.gx[1]) += g * *c.x[0];
    },
    nullptr};
Var dot(Var a, Var b) {
  return tape_of(a, "dot").apply(op_dot, a, b);
}

// ============================================================================
// linear: y = x·Wᵀ + b with W [out × in] and b [out] read in place from the
// flat θ at `offset` (weight row-major, then bias: PyTorch's layout). One op
// instead of slice, slice, matmul and a broadcast add: no copies of W and b,
// no activation-sized pass for the bias, in any sweep. With θ̇ = (Ẇ, ḃ):
//   ẏ  = ẋ Wᵀ + x Ẇᵀ + ḃ
//   x̄ += ȳ W;        W̄ += ȳᵀ x;          b̄ += Σ_rows ȳ
//   x̄̇ += ȳ̇ W + ȳ Ẇ;  W̄̇ += ȳ̇ᵀ x + ȳᵀ ẋ;   b̄̇ += Σ_rows ȳ̇
namespace {
struct LinearDims {
  std::size_t n, in, out, w, b;  // rows; sizes; offsets of W and b in θ
  bool bias;
};
LinearDims linear_dims(const OpCall& c) {
  const Tensor &x = *c.x[0], &th = *c.x[1];
  const auto& p = c.params<LinearParams>();
  const std::size_t out = p.out, in = p.in;
  if (x.dimension() != 2 || x.shape()[1] != in)
    throw ShapeError(fmt::format("linear: input of shape {} for a layer with {} inputs (expected [n, {}])",
                                 shape_str_of(x.shape()), in, in));
  const std::size_t need = p.offset + out * in + (p.bias ? out : 0);
  if (th.dimension() != 1 || th.size() < need)
    throw ShapeError(fmt::format("linear: parameters of shape {} end before element {} (W [{}, {}] at {}{})",
                                 shape_str_of(th.shape()), need, out, in, p.offset, p.bias ? " and a bias" : ""));
  return {x.shape()[0], in, out, p.offset, p.offset + out * in, p.bias};
}
// each row of y (n × out) ← b, or += b
void rows_set(double* y, const double* b, std::size_t n, std::size_t out) {
  for (std::size_t i = 0; i < n; ++i) std::copy_n(b, out, y + i * out);
}
// b[j] += Σᵢ g[i, j]
void add_column_sums(double* b, const double* g, std::size_t n, std::size_t out) {
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < out; ++j) b[j] += g[i * out + j];
}

void linear_forward(OpCall& c) {
  const auto d = linear_dims(c);
  const double* th = c.x[1]->data();
  c.out->resize({d.n, d.out});
  if (d.bias) rows_set(c.out->data(), th + d.b, d.n, d.out);
  gemm(false, true, d.n, d.out, d.in, c.x[0]->data(), d.in, th + d.w, d.in, d.bias ? 1.0 : 0.0, c.out->data(), d.out);
}
void linear_jvp(OpCall& c) {
  const auto d = linear_dims(c);
  c.out->resize({d.n, d.out});
  double* y = c.out->data();
  const bool bias = c.dx[1] && d.bias;
  if (bias) rows_set(y, c.dx[1]->data() + d.b, d.n, d.out);
  // ẏ = ḃ + ẋ Wᵀ + x Ẇᵀ
  detail::GemmSum sum(d.n, d.out, bias ? 1.0 : 0.0, y, d.out);
  if (c.dx[0]) sum.add(false, true, d.in, c.dx[0]->data(), d.in, c.x[1]->data() + d.w, d.in);
  if (c.dx[1]) sum.add(false, true, d.in, c.x[0]->data(), d.in, c.dx[1]->data() + d.w, d.in);
}
void linear_vjp(OpCall& c) {  // x̄ (+)= ȳ W, W̄ += ȳᵀ x, b̄ += Σ ȳ
  const auto d = linear_dims(c);
  const double *gy = c.gy->data(), *W = c.x[1]->data() + d.w, *X = c.x[0]->data();
  if (Tensor* gx = c.gx[0]) gemm(false, false, d.n, d.in, d.out, gy, d.out, W, d.in, c.fresh_gx[0] ? 0.0 : 1.0, gx->data(), d.in);
  if (Tensor* gth = c.gx[1]) {
    if (c.fresh_gx[1]) gth->fill(0.0);  // θ̄ is written only in this layer's segment
    gemm(true, false, d.out, d.in, d.n, gy, d.out, X, d.in, 1.0, gth->data() + d.w, d.in);
    if (d.bias) add_column_sums(gth->data() + d.b, gy, d.n, d.out);
  }
}
void linear_vjp_tangent(OpCall& c) {
  const auto d = linear_dims(c);
  const double *gdy = c.gdy->data(), *gy = c.gy->data(), *W = c.x[1]->data() + d.w, *X = c.x[0]->data();
  const double* dW = c.dx[1] ? c.dx[1]->data() + d.w : nullptr;
  const double* dX = c.dx[0] ? c.dx[0]->data() : nullptr;
  const detail::SharedOperand read_twice(gdy, d.n * d.out);  // ȳ̇, by both sums below
  if (Tensor* gdx = c.gdx[0]) {  // x̄̇ (+)= ȳ̇ W + ȳ Ẇ
    detail::GemmSum sum(d.n, d.in, c.fresh_gdx[0] ? 0.0 : 1.0, gdx->data(), d.in);
    sum.add(false, false, d.out, gdy, d.out, W, d.in);
    if (dW) sum.add(false, false, d.out, gy, d.out, dW, d.in);
  }
  if (Tensor* gdth = c.gdx[1]) {  // W̄̇ += ȳ̇ᵀ x + ȳᵀ ẋ, b̄̇ += Σ ȳ̇ (b̄ = Σ ȳ depends on neither x nor θ)
    if (c.fresh_gdx[1]) gdth->fill(0.0);  // θ̄̇ is written only in this layer's segment
    {
      detail::GemmSum sum(d.out, d.in, 1.0, gdth->data() + d.w, d.in);
      sum.add(true, false, d.n, gdy, d.out, X, d.in);
      if (dX) sum.add(true, false, d.n, gy, d.out, dX, d.in);
    }
    if (d.bias) add_column_sums(gdth->data() + d.b, gdy, d.n, d.out);
  }
}
}  // namespace

extern const OpDef op_linear;
const OpDef op_linear{"linear", 2, RuleKind::General, &linear_forward, &linear_jvp, &linear_vjp,
                      &linear_vjp_tangent, /*writes_fresh=*/true};
Var linear(Var x, Var theta, std::size_t offset, std::size_t out, std::size_t in, bool bias) {
  return tape_of(x, "linear").apply<LinearParams>(op_linear, x, theta, [&](LinearParams& p) {
    p = {offset, out, in, bias};
  });
}

}  // namespace eos::ad
