// Helpers shared by the op rule files (not installed API).
#pragma once

#include <algorithm>

#include <fmt/format.h>
#include <xtensor/xadapt.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xreducer.hpp>

#include "../core/tensor.hpp"

namespace eos::ad {
class Float32Products;  // float32_products.hpp
}

namespace eos::ad::detail {

template <class S>
Shape to_shape(const S& s) { return Shape(s.begin(), s.end()); }

template <class A, class B>
bool shapes_equal(const A& a, const B& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// numpy broadcast of two shapes; ShapeError naming `op` when they do not fit.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Sum `full` (a broadcast-shape array) down to `g`'s shape and add it to g.
void add_reduced(Tensor& g, const Tensor& full);

// g += e, where e has g's shape or a shape g broadcasts to (then e is summed
// over the broadcast axes first): the adjoint of a broadcast.
template <class E>
void accumulate_into(Tensor& g, const E& e) {
  if (shapes_equal(g.shape(), e.shape())) {
    xt::noalias(g) += e;
  } else {
    Tensor full = e;
    add_reduced(g, full);
  }
}
// The same for an evaluated tensor: reduced in place, no temporary.
inline void accumulate_into(Tensor& g, const Tensor& e) {
  if (shapes_equal(g.shape(), e.shape())) xt::noalias(g) += e;
  else add_reduced(g, e);
}

// g = e when `fresh` (g has the input's shape but no values yet), else g += e;
// e may have a shape that g broadcasts to, and is then summed down.
template <class E>
void put(Tensor& g, bool fresh, const E& e) {
  if (!fresh) {
    accumulate_into(g, e);
  } else if (shapes_equal(g.shape(), e.shape())) {
    xt::noalias(g) = e;
  } else {
    g.fill(0.0);
    accumulate_into(g, e);
  }
}

// A read-only view of t's data with another shape of the same size.
template <class S>
auto view_as(const Tensor& t, const S& shape) {
  return xt::adapt(t.data(), t.size(), xt::no_ownership(), shape);
}

inline double scalar_of(const Tensor& t) { return t.data()[0]; }

// C[M×N] = op(X)·op(Y) + beta·C for row-major matrices given by pointer and
// row length (leading dimension) as stored; op(M) = Mᵀ when its flag is set.
// One BLAS dgemm (ops_blas.cpp); sgemm on float32 copies of X and Y while a
// Float32Products is installed on the thread (float32_products.hpp).
void gemm(bool tx, bool ty, std::size_t M, std::size_t N, std::size_t K, const double* X, std::size_t ldx,
          const double* Y, std::size_t ldy, double beta, double* C, std::size_t ldc);

// C[M×N] = Σᵢ op(Xᵢ)·op(Yᵢ) + beta·C, one add() per product (none: C =
// beta·C): a dgemm each, the first with beta and the rest adding; on float32
// products, sgemm each into one float32 sum that is added to C when the
// GemmSum ends (one conversion for all of them, not one per product).
class GemmSum {
 public:
  GemmSum(std::size_t M, std::size_t N, double beta, double* C, std::size_t ldc);
  ~GemmSum();
  GemmSum(const GemmSum&) = delete;
  GemmSum& operator=(const GemmSum&) = delete;
  void add(bool tx, bool ty, std::size_t K, const double* X, std::size_t ldx, const double* Y, std::size_t ldy);

 private:
  Float32Products* f32_;
  std::size_t M_, N_, ldc_;
  double beta_;
  double* C_;
  bool any_ = false;
};

// A buffer of `size` doubles that an op rule reads in several products and
// does not change while it runs (e.g. ȳ̇ in linear's adjoint tangent): on
// float32 products it is rounded once for all of them, for this object's
// life (Float32Products::hold). Nothing in float64.
class SharedOperand {
 public:
  SharedOperand(const double* data, std::size_t size);
  ~SharedOperand();
  SharedOperand(const SharedOperand&) = delete;
  SharedOperand& operator=(const SharedOperand&) = delete;

 private:
  Float32Products* held_by_ = nullptr;
  const double* data_;
};

}  // namespace eos::ad::detail
