// matmul and dot: the bilinear ops. Matrix products run as one dgemm each
// with BLAS transpose flags; no transposed copy is ever made.
#include <xtensor-blas/xblas.hpp>

#include "op_util.hpp"
#include "ops.hpp"

namespace eos::ad {
namespace {

// C[M×N] = alpha·op(X)·op(Y) + beta·C for row-major X, Y, C as stored
// (op(M) = Mᵀ when its flag is set; K is the inner dimension).
void gemm(bool tx, bool ty, std::size_t M, std::size_t N, std::size_t K, const Tensor& X,
          const Tensor& Y, double beta, Tensor& C) {
  using cxxblas::Transpose;
  cxxblas::gemm<xt::blas_index_t>(
      cxxblas::StorageOrder::RowMajor, tx ? Transpose::Trans : Transpose::NoTrans,
      ty ? Transpose::Trans : Transpose::NoTrans, static_cast<xt::blas_index_t>(M),
      static_cast<xt::blas_index_t>(N), static_cast<xt::blas_index_t>(K), 1.0, X.data(),
      static_cast<xt::blas_index_t>(X.shape()[1]), Y.data(),
      static_cast<xt::blas_index_t>(Y.shape()[1]), beta, C.data(),
      static_cast<xt::blas_index_t>(C.shape()[1]));
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
  const auto [m, k, n] = matmul_dims(*c.x[0], *c.x[1], c.p.trans_a, c.p.trans_b);
  c.out->resize({m, n});
  gemm(c.p.trans_a, c.p.trans_b, m, n, k, *c.x[0], *c.x[1], 0.0, *c.out);
}

// Ċ = op(Ȧ)·op(B) + op(A)·op(Ḃ)
void matmul_jvp(OpCall& c) {
  const bool ta = c.p.trans_a, tb = c.p.trans_b;
  const auto [m, k, n] = matmul_dims(*c.x[0], *c.x[1], ta, tb);
  c.out->resize({m, n});
  double beta = 0.0;
  if (c.dx[0]) {
    gemm(ta, tb, m, n, k, *c.dx[0], *c.x[1], beta, *c.out);
    beta = 1.0;
  }
  if (c.dx[1]) gemm(ta, tb, m, n, k, *c.x[0], *c.dx[1], beta, *c.out);
}

// For C = op(A)·op(B):  op(A)‾ = C̄·op(B)ᵀ,  op(B)‾ = op(A)ᵀ·C̄, transposed back
// when the stored operand is transposed. Reads x and ȳ only (Bilinear).
void matmul_vjp(OpCall& c) {
  const bool ta = c.p.trans_a, tb = c.p.trans_b;
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
  if (!a.tape()) throw TapeError("matmul: the Var is empty (default-constructed)");
  return a.tape()->apply(op_matmul, a, b, [&](OpParams& p) {
    p.trans_a = transpose_a;
    p.trans_b = transpose_b;
  });
}

// dot: y = Σ aᵢbᵢ. Bilinear: ẏ = ⟨ȧ,b⟩ + ⟨a,ḃ⟩; ā += ȳ b; b̄ += ȳ a.
namespace {
double inner(const Tensor& a, const Tensor& b) {
  double r = 0.0;
  cxxblas::dot<xt::blas_index_t>(static_cast<xt::blas_index_t>(a.size()), a.data(), 1, b.data(), 1, r);
  return r;
}
}  // namespace
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
  if (!a.tape()) throw TapeError("dot: the Var is empty (default-constructed)");
  return a.tape()->apply(op_dot, a, b);
}

}  // namespace eos::ad
