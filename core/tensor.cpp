#include "tensor.hpp"

#include <algorithm>

#include <cmath>

#include <fmt/format.h>
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
  // Σ aᵢbᵢ in eight interleaved partial sums (they vectorize), not BLAS ddot:
  // OpenBLAS splits a long ddot over its thread pool, whose idle thread then
  // spins (sched_yield) for ~0.1 s and takes a core from the lanes' next
  // HVP — 15 % of a tracked run's samples. The fixed order also gives the
  // same bits on any thread count.
  constexpr std::size_t kSums = 8;
  const double *x = a.data(), *y = b.data();
  const std::size_t n = a.size(), body = n - n % kSums;
  double s[kSums] = {};
  for (std::size_t i = 0; i < body; i += kSums)
    for (std::size_t k = 0; k < kSums; ++k) s[k] += x[i + k] * y[i + k];
  for (std::size_t i = body; i < n; ++i) s[i - body] += x[i] * y[i];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

double norm(const Tensor& a) {
  const double squares = inner(a, a);
  // Past 2⁻⁹⁰⁰ the largest square is ≥ 2⁻⁹⁰⁰/n, far above the subnormals:
  // the squares lost to underflow are below 1e-300 of the sum.
  if (square_in_range(squares)) return std::sqrt(squares);
  if (std::isnan(squares)) return squares;
  double largest = 0.0;
  for (double x : a) largest = std::max(largest, std::abs(x));
  if (largest == 0.0 || !std::isfinite(largest)) return largest;  // zero, or an inf entry
  double scaled = 0.0;
  for (double x : a) scaled += (x / largest) * (x / largest);
  return largest * std::sqrt(scaled);
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
