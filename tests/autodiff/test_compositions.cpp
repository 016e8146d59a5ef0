// Whole expressions: an MLP-shaped loss against finite differences, dense
// Hessians of the paper's toys against their analytic Hessians, adjoint
// accumulation for shared values, tape reuse, linearize vs hvp, and errors.
#include <xtensor/xview.hpp>

#include "support/check.hpp"

using namespace eos;
using namespace eos::ad;
using eos::test::close;

namespace {

// A 2-layer tanh MLP with mean cross-entropy, written directly with ops:
// θ = [W1 (h×d), b1 (h), W2 (k×h), b2 (k)] in PyTorch's layout.
struct TinyMlp {
  std::size_t n = 7, d = 5, h = 4, k = 3;
  Tensor X;
  std::vector<std::int64_t> y;
  explicit TinyMlp(std::mt19937_64& rng) : X(test::random_normal({7, 5}, rng)) {
    for (std::size_t i = 0; i < n; ++i) y.push_back(static_cast<std::int64_t>(i % k));
  }
  std::size_t dim() const { return h * d + h + k * h + k; }
  ScalarFunction loss() const {
    return [this](Var th) {
      Tape& t = *th.tape();
      std::size_t o = 0;
      Var W1 = slice(th, o, {h, d}); o += h * d;
      Var b1 = slice(th, o, {h}); o += h;
      Var W2 = slice(th, o, {k, h}); o += k * h;
      Var b2 = slice(th, o, {k});
      Var a1 = ad::tanh(matmul(t.constant_view(X), W1, false, true) + b1);
      return cross_entropy(matmul(a1, W2, false, true) + b2, y);
    };
  }
};

Tensor fd_gradient(const ScalarFunction& f, const Tensor& th, double h) {
  Tensor g = Tensor::from_shape(th.shape());
  for (std::size_t i = 0; i < th.size(); ++i) {
    Tensor p = th, m = th;
    p(i) += h;
    m(i) -= h;
    g(i) = (value_and_grad(f, p).value - value_and_grad(f, m).value) / (2 * h);
  }
  return g;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(compositions)

BOOST_AUTO_TEST_CASE(mlp_gradient_and_hvp_match_finite_differences) {
  std::mt19937_64 rng(7);
  TinyMlp m(rng);
  const auto f = m.loss();
  const Tensor th = test::random_normal({m.dim()}, rng);
  const Tensor v = test::random_normal({m.dim()}, rng);
  const auto vg = value_and_grad(f, th);
  BOOST_TEST(close(vg.grad, fd_gradient(f, th, 1e-5), 1e-7, 1e-10));
  // Hv against central differences of the gradient along v
  const auto r = hvp(f, th, v);
  const Tensor fd_hv = (value_and_grad(f, th + 1e-5 * v).grad - value_and_grad(f, th - 1e-5 * v).grad) / 2e-5;
  BOOST_TEST(close(r.hvp, fd_hv, 1e-7, 1e-10));
  BOOST_TEST(close(r.grad, vg.grad, 1e-15));
  BOOST_TEST(r.value == vg.value);
  // jvp is ∇f·v
  BOOST_TEST(test::close_scalar(jvp(f, th, v).derivative, eos::inner(vg.grad, v), 1e-12));
}

BOOST_AUTO_TEST_CASE(dense_hessians_of_the_paper_toys) {
  // f = 20θ₁² + θ₂²: H = diag(40, 2) everywhere.
  const ScalarFunction quad = [](Var th) {
    return 20.0 * square(slice(th, 0, {})) + square(slice(th, 1, {}));
  };
  // tanh(q), q = 20θ₁² + θ₂²: H = (1−t²)∇²q − 2t(1−t²)∇q∇qᵀ
  const ScalarFunction tanh_quad = [quad](Var th) { return ad::tanh(quad(th)); };
  // (θ₁ tanh θ₂)²
  const ScalarFunction neuron = [](Var th) {
    return square(slice(th, 0, {}) * ad::tanh(slice(th, 1, {})));
  };
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 5; ++trial) {
    const Tensor th = test::random_uniform({2}, -0.4, 0.4, rng);
    const double a = th(0), b = th(1);
    Tensor Hq = {{40.0, 0.0}, {0.0, 2.0}};
    BOOST_TEST(close(hessian(quad, th), Hq, 1e-15));

    const double q = 20 * a * a + b * b, t = std::tanh(q), s = 1 - t * t;
    const double g0 = 40 * a, g1 = 2 * b;
    Tensor Ht = {{s * 40 - 2 * t * s * g0 * g0, -2 * t * s * g0 * g1},
                 {-2 * t * s * g1 * g0, s * 2 - 2 * t * s * g1 * g1}};
    BOOST_TEST(close(hessian(tanh_quad, th), Ht, 1e-13));

    const double T = std::tanh(b), T1 = 1 - T * T, T2 = -2 * T * T1;
    Tensor Hn = {{2 * T * T, 4 * a * T * T1}, {4 * a * T * T1, 2 * a * a * (T1 * T1 + T * T2)}};
    BOOST_TEST(close(hessian(neuron, th), Hn, 1e-13, 1e-15));
  }
}

BOOST_AUTO_TEST_CASE(value_used_by_several_ops_accumulates_adjoints) {
  // f(x) = Σ x² + eˣ·x + x/(1+x²): x feeds four ops.
  const ScalarFunction f = [](Var x) {
    return sum(square(x) + ad::exp(x) * x + x / (square(x) + 1.0));
  };
  std::mt19937_64 rng(11);
  const Tensor x = test::random_normal({6}, rng);
  const Tensor expected = 2.0 * x + xt::exp(x) * (1.0 + x) + (1.0 - x * x) / xt::square(1.0 + x * x);
  BOOST_TEST(close(value_and_grad(f, x).grad, expected, 1e-14));
}

BOOST_AUTO_TEST_CASE(tape_reused_after_clear_gives_identical_results_and_memory) {
  std::mt19937_64 rng(5);
  TinyMlp m(rng);
  const auto f = m.loss();
  const Tensor th = test::random_normal({m.dim()}, rng);
  const Tensor v = test::random_normal({m.dim()}, rng);
  Tape tape;
  const auto first = hvp(tape, f, th, v);
  const std::size_t nodes = tape.size(), capacity = tape.capacity();
  // After clear() the same graph lands in the same nodes and buffers.
  tape.clear();
  BOOST_TEST(tape.size() == 0u);
  BOOST_TEST(tape.capacity() == capacity);
  const auto second = hvp(tape, f, th, v);
  BOOST_TEST(tape.size() == nodes);
  BOOST_TEST(tape.capacity() == capacity);
  BOOST_TEST(first.value == second.value);
  BOOST_TEST(close(first.grad, second.grad, 0.0));
  BOOST_TEST(close(first.hvp, second.hvp, 0.0));
  // Values of rebuilt nodes reuse their storage: no allocation per step.
  tape.clear();
  Var w = tape.variable(th);
  const double* p1 = w.value().data();
  tape.clear();
  Var w2 = tape.variable(th);
  BOOST_TEST(w2.value().data() == p1);
}

// value_and_grad into a buffer reads θ in place (a variable_view leaf) and
// hands the adjoint over by swapping buffers: same numbers as the copying
// path, and after the first call the two buffers trade places, never grow.
BOOST_AUTO_TEST_CASE(gradient_into_a_buffer_swaps_instead_of_copying) {
  std::mt19937_64 rng(6);
  TinyMlp m(rng);
  const auto f = m.loss();
  Tensor th = test::random_normal({m.dim()}, rng);
  Tape tape;
  const ValueGrad reference = value_and_grad(f, th);
  Tensor g;
  BOOST_TEST(value_and_grad(tape, f, th, g) == reference.value);
  BOOST_TEST(close(g, reference.grad, 0.0));
  const double* first = g.data();
  BOOST_TEST(value_and_grad(tape, f, th, g) == reference.value);
  const double* second = g.data();
  BOOST_TEST(value_and_grad(tape, f, th, g) == reference.value);
  BOOST_TEST(close(g, reference.grad, 0.0));
  BOOST_TEST(second != first);     // the tape's buffer came out …
  BOOST_TEST(g.data() == first);   // … and the caller's went in: two buffers in turn
  // the view reads θ as it is at the call, not a stale copy
  th *= 1.5;
  BOOST_TEST(value_and_grad(tape, f, th, g) == value_and_grad(f, th).value);
  Var w = tape.variable_view(th);
  BOOST_TEST(w.value().data() == th.data());
}

BOOST_AUTO_TEST_CASE(linearize_agrees_with_hvp) {
  std::mt19937_64 rng(9);
  TinyMlp m(rng);
  const auto f = m.loss();
  const Tensor th = test::random_normal({m.dim()}, rng);
  Linearized op(f, th);
  const auto vg = value_and_grad(f, th);
  BOOST_TEST(op.value() == vg.value);
  BOOST_TEST(close(op.grad(), vg.grad, 1e-15));
  for (int i = 0; i < 4; ++i) {
    const Tensor v = test::random_normal({m.dim()}, rng);
    BOOST_TEST(close(op.apply(v), hvp(f, th, v).hvp, 1e-12));
  }
  BOOST_TEST(op.applications() == 4u);
  // The dense Hessian is symmetric (each column is an independent HVP).
  const Tensor H = hessian(f, th);
  BOOST_TEST(close(H, Tensor(xt::transpose(H)), 1e-12));
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_op_and_both_shapes) {
  Tape t;
  Var a = t.variable(xt::zeros<double>({3, 4}));
  Var b = t.variable(xt::zeros<double>({5, 4}));
  try {
    add(a, b);
    BOOST_FAIL("add of [3, 4] and [5, 4] must throw");
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("add") != std::string::npos, m);
    BOOST_TEST(m.find("[3, 4]") != std::string::npos, m);
    BOOST_TEST(m.find("[5, 4]") != std::string::npos, m);
  }
  try {
    matmul(a, b);
    BOOST_FAIL("matmul [3,4]·[5,4] must throw");
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("matmul") != std::string::npos, m);
    BOOST_TEST(m.find("[3, 4]") != std::string::npos, m);
    BOOST_TEST(m.find("[5, 4]") != std::string::npos, m);
  }
  try {
    linear(b, t.variable(xt::zeros<double>({30})), 0, 2, 3);
    BOOST_FAIL("linear with 3 inputs on a [5, 4] batch must throw");
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("linear") != std::string::npos, m);
    BOOST_TEST(m.find("[5, 4]") != std::string::npos, m);
  }
  BOOST_CHECK_THROW(linear(a, t.variable(xt::zeros<double>({9})), 0, 2, 4), ShapeError);  // needs 2·4 + 2 = 10
  BOOST_CHECK_THROW(reshape(a, {5}), ShapeError);
  BOOST_CHECK_THROW(sum(a, 2), ShapeError);
  BOOST_CHECK_THROW(slice(a, 10, {3}), ShapeError);
  const std::vector<std::int64_t> bad = {0, 1, 4};
  BOOST_CHECK_THROW(cross_entropy(a, bad), ShapeError);  // label 4 ∉ [0, 4)
  // A failed op leaves the tape as it was.
  const std::size_t size = t.size();
  BOOST_CHECK_THROW(mul(a, b), ShapeError);
  BOOST_TEST(t.size() == size);
}

BOOST_AUTO_TEST_CASE(misuse_of_the_tape_is_reported) {
  // grad of a non-scalar output is an error, not a silent sum
  const ScalarFunction vector_valued = [](Var th) { return ad::tanh(th); };
  const Tensor th = xt::ones<double>({3});
  BOOST_CHECK_THROW(value_and_grad(vector_valued, th), TapeError);
  Tape t;
  Var x = t.variable(th);
  Var y = ad::tanh(x);
  BOOST_CHECK_THROW(t.backward(y), TapeError);
  // a Var of a cleared tape
  t.clear();
  BOOST_CHECK_THROW(ad::exp(y), TapeError);
  BOOST_CHECK_THROW(t.value(x), TapeError);
  // a Var of a different tape
  Tape other;
  Var z = other.variable(th);
  Var w = t.variable(th);
  BOOST_CHECK_THROW(add(w, z), TapeError);
  BOOST_CHECK_THROW(t.value(z), TapeError);
  // θ must be flat, directions must match it
  BOOST_CHECK_THROW(value_and_grad([](Var v) { return sum(v); }, xt::ones<double>({2, 2})), ShapeError);
  BOOST_CHECK_THROW(hvp([](Var v) { return sum(v); }, th, xt::ones<double>({4})), ShapeError);
}

BOOST_AUTO_TEST_CASE(function_independent_of_theta_has_zero_derivatives) {
  const ScalarFunction constant = [](Var th) { return sum(th.tape()->constant(xt::ones<double>({2}))); };
  const Tensor th = xt::ones<double>({3});
  const auto r = hvp(constant, th, th);
  BOOST_TEST(r.value == 2.0);
  BOOST_TEST(close(r.grad, xt::zeros<double>({3}), 0.0));
  BOOST_TEST(close(r.hvp, xt::zeros<double>({3}), 0.0));
}

BOOST_AUTO_TEST_SUITE_END()
