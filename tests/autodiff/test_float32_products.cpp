// Float32Products (autodiff/float32_products.hpp) and the op rules' two
// helpers on it (autodiff/op_util.hpp): a GemmSum is, in float64, the dgemms
// it stands for bit for bit, and on float32 products one float32 sum of the
// sgemms converted once — the same bits as those sgemms run by hand; a
// SharedOperand is rounded once for its life and forgotten after; no product
// leaves beta·C.
#include <random>
#include <vector>

#include <xtensor-blas/xblas.hpp>

#include "autodiff/float32_products.hpp"
#include "autodiff/op_util.hpp"
#include "support/check.hpp"

using namespace eos;
using namespace eos::ad;

namespace {

std::vector<double> random_doubles(std::size_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::vector<double> v(n);
  for (double& x : v) x = normal(rng);
  return v;
}

// C[M×N] = op(X)·op(Y) + beta·C by sgemm on float32 copies, row-major, as stored (ldx, ldy: row lengths).
void sgemm(bool tx, bool ty, std::size_t M, std::size_t N, std::size_t K, const std::vector<float>& X, std::size_t ldx,
           const std::vector<float>& Y, std::size_t ldy, float beta, std::vector<float>& C) {
  using cxxblas::Transpose;
  using I = xt::blas_index_t;
  cxxblas::gemm<I>(cxxblas::StorageOrder::RowMajor, tx ? Transpose::Trans : Transpose::NoTrans,
                   ty ? Transpose::Trans : Transpose::NoTrans, I(M), I(N), I(K), 1.0f, X.data(), I(ldx), Y.data(),
                   I(ldy), beta, C.data(), I(N));
}
std::vector<float> rounded(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// Two products into one 7 × 5 output (inner dimensions 9 and 4; the second
// with both operands transposed), added to C with beta.
struct TwoProducts {
  static constexpr std::size_t M = 7, N = 5, K1 = 9, K2 = 4;
  std::vector<double> X1, Y1, X2, Y2, C;  // X1 M×K1, Y1 K1×N; X2 stored K2×M, Y2 stored N×K2
  explicit TwoProducts(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    X1 = random_doubles(M * K1, rng), Y1 = random_doubles(K1 * N, rng);
    X2 = random_doubles(K2 * M, rng), Y2 = random_doubles(N * K2, rng);
    C = random_doubles(M * N, rng);
  }
  std::vector<double> summed(double beta) const {  // through a GemmSum, in whatever precision is installed
    std::vector<double> out = C;
    detail::GemmSum sum(M, N, beta, out.data(), N);
    sum.add(false, false, K1, X1.data(), K1, Y1.data(), N);
    sum.add(true, true, K2, X2.data(), M, Y2.data(), K2);
    return out;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(float32_products)

BOOST_AUTO_TEST_CASE(a_sum_in_float64_is_its_dgemms_bit_for_bit) {
  const TwoProducts p(1);
  for (const double beta : {0.0, 1.0, -0.5}) {
    std::vector<double> by_hand = p.C;
    detail::gemm(false, false, p.M, p.N, p.K1, p.X1.data(), p.K1, p.Y1.data(), p.N, beta, by_hand.data(), p.N);
    detail::gemm(true, true, p.M, p.N, p.K2, p.X2.data(), p.M, p.Y2.data(), p.K2, 1.0, by_hand.data(), p.N);
    BOOST_TEST(p.summed(beta) == by_hand, "beta = " << beta);
  }
}

BOOST_AUTO_TEST_CASE(a_sum_on_float32_products_is_one_float32_sum_converted_once) {
  const TwoProducts p(2);
  for (const double beta : {0.0, 1.0, -0.5}) {
    Float32Products f32;
    std::vector<double> mixed;
    {
      Float32Products::Scope on(&f32);
      mixed = p.summed(beta);
    }
    BOOST_TEST(f32.products() == 2u);
    // by hand: both sgemms into one float32 sum, then beta·C + double(sum)
    std::vector<float> sum(p.M * p.N);
    sgemm(false, false, p.M, p.N, p.K1, rounded(p.X1), p.K1, rounded(p.Y1), p.N, 0.0f, sum);
    sgemm(true, true, p.M, p.N, p.K2, rounded(p.X2), p.M, rounded(p.Y2), p.K2, 1.0f, sum);
    std::vector<double> by_hand(p.M * p.N);
    for (std::size_t i = 0; i < by_hand.size(); ++i) by_hand[i] = beta * p.C[i] + double(sum[i]);
    if (beta == 0.0)
      for (std::size_t i = 0; i < by_hand.size(); ++i) by_hand[i] = double(sum[i]);
    BOOST_TEST(mixed == by_hand, "beta = " << beta);
    // and float32's rounding away from float64's sum, not more
    const std::vector<double> exact = p.summed(beta);
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < exact.size(); ++i) diff += (mixed[i] - exact[i]) * (mixed[i] - exact[i]), norm += exact[i] * exact[i];
    BOOST_TEST(diff > 0.0);
    BOOST_TEST(std::sqrt(diff / norm) < 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(a_sum_of_no_product_leaves_beta_times_c) {
  const TwoProducts p(3);
  Float32Products f32;
  for (const bool on_float32 : {false, true}) {
    Float32Products::Scope scope(on_float32 ? &f32 : nullptr);
    for (const double beta : {0.0, 1.0, 2.0}) {
      std::vector<double> out = p.C;
      { detail::GemmSum sum(p.M, p.N, beta, out.data(), p.N); }
      for (std::size_t i = 0; i < out.size(); ++i)
        BOOST_TEST(out[i] == beta * p.C[i], "float32: " << on_float32 << ", beta = " << beta << ", at " << i);
    }
  }
  BOOST_TEST(f32.products() == 0u);
  // one sum at a time: a second one opened inside the first is a logic error, not a wrong sum
  Float32Products::Scope scope(&f32);
  std::vector<double> a = p.C, b = p.C;
  detail::GemmSum outer(p.M, p.N, 0.0, a.data(), p.N);
  BOOST_CHECK_THROW(detail::GemmSum(p.M, p.N, 0.0, b.data(), p.N), std::logic_error);
}

// A SharedOperand is rounded on its first product and that copy is used until
// it ends (the rule promises not to change the buffer meanwhile: here it does,
// to see which copy a product reads); after it, the buffer is rounded afresh.
BOOST_AUTO_TEST_CASE(a_shared_operand_is_rounded_once_for_its_life) {
  constexpr std::size_t M = 6, N = 3, K = 8;
  std::mt19937_64 rng(4);
  std::vector<double> X = random_doubles(M * K, rng);
  const std::vector<double> Y = random_doubles(K * N, rng);
  auto product = [&] {
    std::vector<double> C(M * N);
    detail::gemm(false, false, M, N, K, X.data(), K, Y.data(), N, 0.0, C.data(), N);
    return C;
  };
  Float32Products f32;
  Float32Products::Scope on(&f32);
  const std::vector<double> before = product();
  std::vector<double> during_first, during_changed;
  {
    const detail::SharedOperand shared(X.data(), X.size());
    during_first = product();
    X[0] += 1.0;
    during_changed = product();
    BOOST_TEST(f32.kept_doubles() == X.size());
  }
  BOOST_TEST(f32.kept_doubles() == 0u);
  BOOST_TEST(during_first == before);
  BOOST_TEST(during_changed == before);  // the copy made at the first product
  BOOST_TEST((product() != before));     // released: the buffer as it is now

  // A kept buffer (the linearization's) is not held again, and stays kept after.
  f32.keep(X.data(), X.size());
  const std::vector<double> kept = product();
  {
    const detail::SharedOperand shared(X.data() + 2, 10);
    BOOST_TEST(f32.kept_doubles() == X.size());
  }
  BOOST_TEST(f32.kept_doubles() == X.size());
  X[0] -= 1.0;
  BOOST_TEST(product() == kept);  // still the kept copy
  // Nor one that reaches into a kept buffer.
  std::vector<double> around(2 * X.size());
  BOOST_TEST(!f32.hold(X.data() + 1, 1));  // inside the kept X
  Float32Products other;
  other.keep(around.data() + 5, 5);
  BOOST_TEST(!other.hold(around.data(), 6));        // its end reaches the kept one
  BOOST_TEST(!other.hold(around.data() + 7, 2));    // inside it
  BOOST_TEST(other.hold(around.data() + 10, 4));    // just after it
  BOOST_TEST(other.hold(around.data(), 5));         // just before it
  BOOST_TEST(other.kept_doubles() == 5u + 4u + 5u);
  other.release(around.data() + 10);
  other.release(around.data());
  BOOST_TEST(other.kept_doubles() == 5u);
}

BOOST_AUTO_TEST_SUITE_END()
