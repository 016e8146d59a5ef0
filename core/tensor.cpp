#include "tensor.hpp"

#include <algorithm>

#include <cmath>

#include <fmt/format.h>
#include <xtensor-blas/xblas.hpp>
#include <xtensor/xbuilder.hpp>

namespace eos {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

std::size_t shape_size(const Shape& s) {
  std::size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

void copy_into(Tensor& dst, const Tensor& src) {
  dst.resize(src.shape());
  std::copy(src.data(), src.data() + src.size(), dst.data());
}

double inner(const Tensor& a, const Tensor& b) {
  if (a.size() != b.size())
    throw ShapeError(fmt::format("inner: {} and {} elements ({} vs {})", a.size(), b.size(),
                                 shape_str_of(a.shape()), shape_str_of(b.shape())));
  double r = 0.0;
  cxxblas::dot<xt::blas_index_t>(static_cast<xt::blas_index_t>(a.size()), a.data(), 1, b.data(), 1, r);
  return r;
}

bool all_finite(const Tensor& t) {
  for (double v : t)
    if (!std::isfinite(v)) return false;
  return true;
}

std::optional<std::size_t> first_non_finite(const Tensor& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (!std::isfinite(t.data()[i])) return i;
  return std::nullopt;
}

Tensor zeros(const Shape& s) { return xt::zeros<double>(s); }
Tensor filled(const Shape& s, double v) {
  Tensor t = Tensor::from_shape(s);
  t.fill(v);
  return t;
}

}  // namespace eos
