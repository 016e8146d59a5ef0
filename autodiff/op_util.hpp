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

}  // namespace eos::ad::detail
