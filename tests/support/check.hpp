// Test helpers: seeded random tensors and comparisons with a message that
// says where two tensors differ.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <boost/test/unit_test.hpp>
#include <xtensor/xmath.hpp>

#include <eoslab.hpp>

namespace eos::test {

inline Tensor random_normal(const Shape& s, std::mt19937_64& rng) {
  std::normal_distribution<double> d(0.0, 1.0);
  Tensor t = Tensor::from_shape(s);
  for (auto& v : t) v = d(rng);
  return t;
}
inline Tensor random_uniform(const Shape& s, double lo, double hi, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> d(lo, hi);
  Tensor t = Tensor::from_shape(s);
  for (auto& v : t) v = d(rng);
  return t;
}

// A file's bytes (empty when it cannot be read): runs compared byte for byte.
inline std::string bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline double max_abs(const Tensor& a) {
  double m = 0.0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

// |a − b| ≤ atol + rtol·max|b| elementwise, with a message naming the worst entry.
inline boost::test_tools::predicate_result close(const Tensor& a, const Tensor& b, double rtol,
                                                 double atol = 0.0) {
  if (a.shape() != b.shape()) {
    boost::test_tools::predicate_result r(false);
    r.message() << "shapes differ: " << shape_str_of(a.shape()) << " vs " << shape_str_of(b.shape());
    return r;
  }
  const double scale = std::max(max_abs(a), max_abs(b));
  double worst = 0.0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a.data()[i] - b.data()[i]);
    if (!(d <= worst)) worst = d, at = i;  // also catches NaN
  }
  if (worst <= atol + rtol * scale && std::isfinite(scale)) return true;
  boost::test_tools::predicate_result r(false);
  r.message() << "max |a-b| = " << worst << " at flat index " << at << " (a=" << a.data()[at]
              << ", b=" << b.data()[at] << "), allowed " << atol + rtol * scale
              << " (rtol " << rtol << " × scale " << scale << " + atol " << atol << ")";
  return r;
}
inline bool close_scalar(double a, double b, double rtol, double atol = 0.0) {
  return std::abs(a - b) <= atol + rtol * std::max(std::abs(a), std::abs(b));
}

}  // namespace eos::test
