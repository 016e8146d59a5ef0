// Mixed precision for Hessian-vector products: while a Float32Products is
// installed on a thread (Float32Products::Scope), every matrix product of the
// op rules (detail::gemm) rounds its operands to float32, multiplies them with
// sgemm, and adds the float32 product to its float64 result; everything else
// — the elementwise rules, the sums, the Krylov basis of the solver that
// calls — stays float64. A Linearized in float32 mode installs one around
// each tangent sweep (autodiff/functional.hpp).
//
// Buffers that stay fixed while it lives (the tape's values, op caches and
// adjoints: the linearization's weights, activations and data) are
// registered with keep(): each is rounded once, on its first use, and reused
// by every later product and sweep. An op rule that reads a tangent in
// several products and does not change it meanwhile holds it for the rule
// (hold/release, detail::SharedOperand): rounded once for those products.
// Any other operand (tangents, scratch) is rounded at each product. Products
// that add into one output are summed in float32 and converted once
// (sum_begin/sum_add/sum_end, detail::GemmSum).
//
// Error: each product carries float32's relative rounding, about
// 6e-8·√K·‖op(X)‖‖op(Y)‖ for inner dimension K; the HVP's error relative to
// ‖Hv‖ is measured, not bounded, in tests/autodiff (~1e-6) — enough for λmax
// at tol 1e-3, not for quantities that difference HVPs (third derivatives).
#pragma once

#include <cstddef>
#include <vector>

namespace eos::ad {

class Float32Products {
 public:
  // A buffer of `size` doubles fixed while this object lives.
  void keep(const double* data, std::size_t size);
  void clear();  // forget every kept buffer (and its copy)
  std::size_t kept_doubles() const;
  std::size_t products() const { return products_; }  // sgemm calls so far

  // Installs `p` on this thread for the scope's life (null: float64).
  class Scope {
   public:
    explicit Scope(Float32Products* p);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Float32Products* previous_;
  };
  // The one installed on this thread, or null.
  static Float32Products* active();

  // C[M×N] = op(X)·op(Y) + beta·C with float32 operands (see detail::gemm).
  void gemm(bool tx, bool ty, std::size_t M, std::size_t N, std::size_t K, const double* X, std::size_t ldx,
            const double* Y, std::size_t ldy, double beta, double* C, std::size_t ldc);

  // C[M×N] = Σᵢ op(Xᵢ)·op(Yᵢ) + beta·C: sum_begin, one sum_add per product
  // (sgemm into a float32 sum), sum_end adds the sum to C in float64 — one
  // conversion for all the products. One sum at a time (std::logic_error).
  void sum_begin(std::size_t M, std::size_t N);
  void sum_add(bool tx, bool ty, std::size_t K, const double* X, std::size_t ldx, const double* Y, std::size_t ldy);
  void sum_end(double beta, double* C, std::size_t ldc);

  // A buffer of `size` doubles that stays fixed until release(data), a while
  // shorter than this object's life (an op rule's input tangent): rounded on
  // its first use, reused until then. False (and nothing to release) where
  // it is, or overlaps, a kept buffer.
  bool hold(const double* data, std::size_t size);
  void release(const double* data);

 private:
  struct Kept {
    const double* begin;
    std::size_t size;
    std::vector<float> copy;  // empty until first used
  };
  // op(A)'s rows × cols as stored with leading dimension ld, in float32: a
  // kept buffer's copy, or `scratch` filled now.
  const float* rounded(const double* A, std::size_t rows, std::size_t cols, std::size_t ld, std::vector<float>& scratch);
  std::vector<Kept> kept_;  // sorted by begin, disjoint (the held ones too)
  std::vector<std::vector<float>> spare_copies_;  // released copies' storage, for the next hold
  std::vector<float> x_, y_, c_;
  std::size_t products_ = 0;
  std::size_t sum_rows_ = 0, sum_cols_ = 0, sum_terms_ = 0;  // the open sum's shape and products so far
  bool summing_ = false;
};

}  // namespace eos::ad
