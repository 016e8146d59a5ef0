// core/tensor.hpp's inner(a, b) = Σ aᵢbᵢ: exact where the terms are exact,
// every length's tail included; accurate on random vectors; the same bits
// whatever BLAS's thread count (it does not call BLAS).
#include <cmath>

#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;

namespace {
Tensor filled(std::size_t n, double (*f)(std::size_t)) {
  Tensor t = Tensor::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) t(i) = f(i);
  return t;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(inner_product)

BOOST_AUTO_TEST_CASE(small_integers_sum_exactly_at_every_length) {
  // Terms and partial sums are integers below 2⁵³: any order gives the exact sum.
  for (std::size_t n : {0u, 1u, 2u, 7u, 8u, 9u, 15u, 16u, 17u, 31u, 1001u, 200003u}) {
    const Tensor a = filled(n, [](std::size_t i) { return double(i % 13) - 6.0; });
    const Tensor b = filled(n, [](std::size_t i) { return double(i % 7) + 1.0; });
    long long exact = 0;
    for (std::size_t i = 0; i < n; ++i) exact += (static_cast<long long>(i % 13) - 6) * static_cast<long long>(i % 7 + 1);
    BOOST_TEST(inner(a, b) == static_cast<double>(exact), "n = " << n);
  }
}

BOOST_AUTO_TEST_CASE(random_vectors_agree_with_a_long_double_sum) {
  Rng rng(7);
  for (std::size_t n : {3u, 100u, 199410u}) {
    Tensor a = Tensor::from_shape({n}), b = Tensor::from_shape({n});
    long double ref = 0.0L, abs_sum = 0.0L;
    for (std::size_t i = 0; i < n; ++i) {
      a(i) = rng.normal(), b(i) = rng.normal();
      ref += static_cast<long double>(a(i)) * b(i);
      abs_sum += std::abs(static_cast<long double>(a(i)) * b(i));
    }
    // Summation error ≤ n·u·Σ|aᵢbᵢ| in the worst case; the blocked sum is far inside it.
    BOOST_TEST(std::abs(inner(a, b) - static_cast<double>(ref)) <= 1e-15 * static_cast<double>(abs_sum), "n = " << n);
  }
}

BOOST_AUTO_TEST_CASE(the_same_bits_whatever_the_blas_thread_count) {
  Rng rng(11);
  Tensor a = Tensor::from_shape({199410}), b = Tensor::from_shape({199410});
  for (std::size_t i = 0; i < a.size(); ++i) a(i) = rng.normal(), b(i) = rng.normal();
  const std::size_t before = blas_threads();
  set_blas_threads(1);
  const double one = inner(a, b);
  set_blas_threads(2);
  const double two = inner(a, b);
  set_blas_threads(before);
  BOOST_TEST(one == two);
}

BOOST_AUTO_TEST_CASE(different_lengths_are_refused) {
  BOOST_CHECK_EXCEPTION(inner(Tensor::from_shape({3}), Tensor::from_shape({4})), ShapeError, [](const ShapeError& e) {
    return std::string(e.what()).find("3 and 4 elements") != std::string::npos;
  });
}

BOOST_AUTO_TEST_SUITE_END()
