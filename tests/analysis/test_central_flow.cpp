// The central flow (issue 12), known answers first: the third derivative by
// differences of exact HVPs against closed forms (a polynomial, the tanh
// neuron) and its symmetry on an MLP; the SDCP solver against the scalar
// closed form, against enumeration of the active sets where the problem is
// an LCP, and by its KKT conditions and a random search elsewhere; the flow
// itself on a quadratic (gradient flow, or no solution past 2/L), on the
// tanh neuron (it ends where λmax = 2/η exactly), and on an MLP at the edge
// of stability, online = offline and across a resume.
#include <cmath>
#include <filesystem>
#include <random>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;
using namespace eos::analysis;

namespace {

// f(θ) = Σᵢ cᵢθᵢ⁴/4 + (aᵀθ)³/6:  ∇³f[u, v, ·] = 6 c∘θ∘u∘v + a(aᵀu)(aᵀv).
const Tensor kC = Tensor{0.7, -1.3, 2.0, 0.4};
const Tensor kA = Tensor{0.5, 1.0, -0.8, 0.3};
std::unique_ptr<FunctionObjective> polynomial() {
  return std::make_unique<FunctionObjective>("polynomial", 4, [](ad::Var th) {
    ad::Var c = th.tape()->constant(kC), a = th.tape()->constant(kA);
    ad::Var t2 = ad::square(th);
    return 0.25 * ad::sum(c * ad::square(t2)) + (1.0 / 6.0) * ad::pow(ad::dot(a, th), 3.0);
  });
}
Tensor polynomial_third(const Tensor& th, const Tensor& u, const Tensor& v) {
  const double au = inner(kA, u), av = inner(kA, v);
  Tensor out = 6.0 * kC * th * u * v;
  return out + kA * (au * av);
}

// f = (a·tanh b)², s = tanh b: the third partial derivatives in closed form.
Tensor tanh_neuron_third(const Tensor& th, const Tensor& u, const Tensor& v) {
  const double a = th(0), s = std::tanh(th(1)), s1 = 1 - s * s, s2 = -2 * s * s1, s3 = -2 * (s1 * s1 + s * s2);
  double f[2][2][2];
  f[0][0][0] = 0;
  f[0][0][1] = f[0][1][0] = f[1][0][0] = 4 * s * s1;
  f[0][1][1] = f[1][0][1] = f[1][1][0] = 4 * a * (s1 * s1 + s * s2);
  f[1][1][1] = 2 * a * a * (3 * s1 * s2 + s * s3);
  Tensor out = zeros({2});
  for (int m = 0; m < 2; ++m)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) out(m) += f[i][j][m] * u(i) * v(j);
  return out;
}

Tensor unit(Tensor v) { return v / std::sqrt(inner(v, v)); }

// q(X) = ½⟨X, B(X)⟩ + ⟨A, X⟩
double sdcp_objective(const Tensor& A, const Tensor& B, const Tensor& X) {
  const std::size_t k = A.shape()[0];
  double q = 0;
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j) {
      double bx = 0;
      for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = 0; b < k; ++b) bx += B(i, j, a, b) * X(a, b);
      q += 0.5 * X(i, j) * bx + A(i, j) * X(i, j);
    }
  return q;
}

// A random monotone instance: B(X)_ij = Σ_m ⟨G_ij, G_m⟩… as a Gram operator
// of random symmetric "T" vectors, A random symmetric.
std::pair<Tensor, Tensor> random_instance(std::size_t k, std::size_t dim, std::mt19937_64& rng) {
  std::vector<std::vector<Tensor>> T(k, std::vector<Tensor>(k));
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = i; j < k; ++j) T[i][j] = T[j][i] = test::random_normal({dim}, rng);
  Tensor A = test::random_normal({k, k}, rng);
  A = 0.5 * (A + xt::transpose(A));
  Tensor B = zeros({k, k, k, k});
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = 0; b < k; ++b) B(i, j, a, b) = inner(T[i][j], T[a][b]);
  return {A, B};
}

double min_eig(const Tensor& S) {
  Tensor v, V;
  symmetric_eigen(S, v, V);
  return v(0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(central_flow)

BOOST_AUTO_TEST_CASE(third_derivative_matches_closed_forms) {
  std::mt19937_64 rng(3);
  auto poly = polynomial();
  for (int trial = 0; trial < 4; ++trial) {
    const Tensor th = test::random_normal({4}, rng);
    const std::vector<Tensor> U = {unit(test::random_normal({4}, rng)), unit(test::random_normal({4}, rng))};
    const ThirdDerivatives T = third_derivatives(*poly, th, U, 1e-4);
    BOOST_TEST(T.pairs.size() == 3u);
    BOOST_TEST(T.hvps == 6u);
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 2; ++j)  // error h²/6·∇⁵… ≈ 1e-9 relative here
        BOOST_TEST(test::close(T.at(i, j), polynomial_third(th, U[i], U[j]), 1e-7));
  }
  auto neuron = toys::tanh_neuron();
  for (const Tensor th : {Tensor{13.0, 0.01}, Tensor{2.0, -0.7}, Tensor{-1.5, 1.2}}) {
    const std::vector<Tensor> U = {unit(Tensor{1.0, 0.3}), unit(Tensor{-0.2, 1.0})};
    const ThirdDerivatives T = third_derivatives(*neuron, th, U, 1e-4);
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 2; ++j)
        BOOST_TEST(test::close(T.at(i, j), tanh_neuron_third(th, U[i], U[j]), 1e-7, 1e-9));
  }
  BOOST_CHECK_THROW(third_derivatives(*poly, Tensor{1.0, 2.0, 3.0, 4.0}, {Tensor{1.0, 0.0}}, 1e-4), ShapeError);
  BOOST_CHECK_THROW(third_derivatives(*poly, Tensor{1.0, 2.0, 3.0, 4.0}, {}, 0.0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(third_derivative_of_an_mlp_is_symmetric_and_converges_in_h) {
  // ∇³f is symmetric: ⟨T[u, v], z⟩ = ⟨T[z, v], u⟩ = ⟨T[u, z], v⟩, although
  // each side differences HVPs along a different direction; and T(h) agrees
  // with T(h/2) to O(h²).
  nn::ObjectiveSpec spec;
  spec.data.source = "gaussian_clusters";
  spec.data.n = 60;
  spec.data.dim = 5;
  spec.data.classes = 3;
  spec.hidden = {6};
  auto b = nn::build_objective(spec);
  std::mt19937_64 rng(5);
  const Tensor th = b.theta0 + 0.3 * test::random_normal({b.theta0.size()}, rng);
  const std::size_t n = th.size();
  const Tensor u = unit(test::random_normal({n}, rng)), v = unit(test::random_normal({n}, rng)),
               z = unit(test::random_normal({n}, rng));
  const ThirdDerivatives T = third_derivatives(*b.objective, th, {u, v, z}, 1e-4);
  const double uvz = inner(T.at(0, 1), z), zvu = inner(T.at(2, 1), u), uzv = inner(T.at(0, 2), v);
  BOOST_TEST(std::abs(uvz - zvu) <= 1e-7 * std::abs(uvz), uvz << " vs " << zvu);
  BOOST_TEST(std::abs(uvz - uzv) <= 1e-7 * std::abs(uvz), uvz << " vs " << uzv);
  const ThirdDerivatives half = third_derivatives(*b.objective, th, {u, v, z}, 5e-5);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = i; j < 3; ++j) BOOST_TEST(test::close(half.at(i, j), T.at(i, j), 1e-7));
}

BOOST_AUTO_TEST_CASE(sdcp_scalar_case_is_the_closed_form) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> a(-3, 3), b(0.1, 5);
  for (int trial = 0; trial < 50; ++trial) {
    const double av = a(rng), bv = b(rng);
    Tensor A = zeros({1, 1}), B = zeros({1, 1, 1, 1});
    A(0, 0) = av;
    B(0, 0, 0, 0) = bv;
    const SdcpSolution s = solve_sdcp(A, B);
    BOOST_TEST_REQUIRE(s.converged);
    BOOST_TEST(std::abs(s.X(0, 0) - sdcp_scalar(av, bv)) <= 1e-10 * std::max(1.0, std::abs(av / bv)));
  }
  BOOST_TEST(sdcp_scalar(1.0, 2.0) == 0.0);
  BOOST_TEST(sdcp_scalar(-1.0, 2.0) == 0.5);
}

BOOST_AUTO_TEST_CASE(sdcp_with_diagonal_structure_matches_active_set_enumeration) {
  // A and B diagonal (B(X)_ii = Σ_j M_ij X_jj, M PSD): X is diagonal and the
  // SDCP is the LCP x ≥ 0, a + Mx ≥ 0, xᵀ(a + Mx) = 0, solved by trying
  // every support.
  std::mt19937_64 rng(11);
  const std::size_t k = 3;
  for (int trial = 0; trial < 30; ++trial) {
    Tensor G = test::random_normal({k, k}, rng);
    Tensor M = xt::linalg::dot(G, xt::transpose(G));
    for (std::size_t i = 0; i < k; ++i) M(i, i) += 0.1;
    const Tensor a = test::random_normal({k}, rng);
    Tensor A = zeros({k, k}), B = zeros({k, k, k, k});
    for (std::size_t i = 0; i < k; ++i) {
      A(i, i) = a(i);
      for (std::size_t j = 0; j < k; ++j) B(i, i, j, j) = M(i, j);
    }
    std::optional<Tensor> lcp;
    for (unsigned mask = 0; mask < (1u << k) && !lcp; ++mask) {
      std::vector<std::size_t> S;
      for (std::size_t i = 0; i < k; ++i)
        if (mask & (1u << i)) S.push_back(i);
      Tensor x = zeros({k});
      if (!S.empty()) {  // M_SS x_S = −a_S
        Tensor MS = zeros({S.size(), S.size()}), aS = zeros({S.size()});
        for (std::size_t r = 0; r < S.size(); ++r) {
          aS(r) = -a(S[r]);
          for (std::size_t c = 0; c < S.size(); ++c) MS(r, c) = M(S[r], S[c]);
        }
        const Tensor xs = xt::linalg::solve(MS, aS);
        for (std::size_t r = 0; r < S.size(); ++r) x(S[r]) = xs(r);
      }
      const Tensor w = a + xt::linalg::dot(M, x);
      bool ok = true;
      for (std::size_t i = 0; i < k; ++i) ok &= x(i) >= -1e-12 && w(i) >= -1e-12;
      if (ok) lcp = x;
    }
    BOOST_TEST_REQUIRE(lcp.has_value());
    const SdcpSolution s = solve_sdcp(A, B);
    BOOST_TEST_REQUIRE(s.converged);
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < k; ++j)
        BOOST_TEST(std::abs(s.X(i, j) - (i == j ? (*lcp)(i) : 0.0)) <= 1e-7, "trial " << trial << " X(" << i << ","
                                                                                      << j << ")");
  }
}

BOOST_AUTO_TEST_CASE(sdcp_general_instances_satisfy_kkt_and_beat_random_search) {
  std::mt19937_64 rng(13);
  for (std::size_t k : {2u, 3u, 4u}) {
    for (int trial = 0; trial < 10; ++trial) {
      auto [A, B] = random_instance(k, 12, rng);
      const SdcpSolution s = solve_sdcp(A, B);
      BOOST_TEST_REQUIRE(s.converged, "k = " << k << " trial " << trial);
      BOOST_TEST(min_eig(s.X) >= -1e-9);
      BOOST_TEST(min_eig(s.S) >= -1e-8);
      BOOST_TEST(std::abs(inner(s.X, s.S)) <= 1e-8 * std::max(1.0, std::sqrt(inner(s.X, s.X))));
      // brute force: no PSD matrix from a random search does better
      const double best = sdcp_objective(A, B, s.X);
      for (int probe = 0; probe < 400; ++probe) {
        Tensor L = test::random_normal({k, k}, rng) * (0.05 + double(probe % 20) * 0.1);
        const Tensor Y = xt::linalg::dot(L, xt::transpose(L)) + (probe % 2 ? s.X : zeros({k, k}));
        BOOST_TEST(sdcp_objective(A, B, Y) >= best - 1e-9 * std::max(1.0, std::abs(best)));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(sdcp_without_feedback_has_no_solution) {
  // An eigenvalue past 2/η (A < 0) that the third derivative cannot move
  // (B = 0 along it): no Σ holds it.
  Tensor A = zeros({2, 2}), B = zeros({2, 2, 2, 2});
  A(0, 0) = -1.0;
  A(1, 1) = 2.0;
  SdcpSolution s = solve_sdcp(A, B);
  BOOST_TEST(!s.converged);
  BOOST_TEST(s.unbounded);
  B(1, 1, 1, 1) = 3.0;  // feedback on the other direction only
  s = solve_sdcp(A, B);
  BOOST_TEST(!s.converged);
  BOOST_TEST(s.unbounded);
  A(0, 0) = 1.0;  // nothing past the threshold: X = 0
  s = solve_sdcp(A, B);
  BOOST_TEST(s.converged);
  BOOST_TEST(std::sqrt(inner(s.X, s.X)) <= 1e-12);
  BOOST_CHECK_THROW(solve_sdcp(zeros({2, 3}), B), ShapeError);
  BOOST_CHECK_THROW(solve_sdcp(A, zeros({2, 2, 2})), ShapeError);
}

BOOST_AUTO_TEST_CASE(on_a_quadratic_below_2_over_L_the_flow_is_gradient_flow) {
  // f = 20θ₁² + θ₂² (curvatures 40, 2), η = 2/41: λmax is within the margin
  // of 2/η but ∇³f = 0 and 2/η − 40 > 0, so Σ = 0 and each Euler substep
  // multiplies θᵢ by 1 − η·cᵢ/s exactly.
  auto f = toys::quadratic();
  const double eta = 2.0 / 41;
  CentralFlowOptions o;
  o.substeps = 4;
  CentralFlow flow(*f, Tensor{1.0, 1.0}, o);
  for (int t = 0; t < 20; ++t) {
    const CentralFlowPoint& p = flow.point(eta);
    BOOST_TEST(p.candidates == 1u);
    BOOST_TEST(p.trace_sigma == 0.0);
    BOOST_TEST(p.critical == 0u);
    BOOST_TEST(std::abs(p.eigenvalues[0] - 40.0) < 1e-9);
    flow.advance(eta);
  }
  BOOST_TEST(flow.time() == 20u);
  const double e1 = std::pow(1 - eta * 40 / 4, 80), e2 = std::pow(1 - eta * 2 / 4, 80);
  BOOST_TEST(std::abs(flow.w()(0) - e1) <= 1e-12);
  BOOST_TEST(std::abs(flow.w()(1) - e2) <= 1e-12);
}

BOOST_AUTO_TEST_CASE(on_a_quadratic_past_2_over_L_the_flow_has_no_solution) {
  auto f = toys::quadratic();
  CentralFlow flow(*f, Tensor{1.0, 1.0}, {});
  try {
    flow.advance(2.0 / 39);
    BOOST_FAIL("the flow advanced past 2/L on a quadratic");
  } catch (const NumericalError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("no oscillation") != std::string::npos, m);
    BOOST_TEST(m.find("2/η = 39") != std::string::npos, m);
  }
}

BOOST_AUTO_TEST_CASE(on_the_tanh_neuron_the_flow_ends_where_the_sharpness_is_2_over_eta) {
  // Example 3's neuron at η = 2/150 from (10, 0.5), where λmax = 60 < 2/η:
  // gradient flow sharpens it past 2/η within a step; the central flow holds
  // it at 2/η and ends on the minimizers' line θ₂ = 0 at θ₁ = 1/√η, where
  // λmax = 2θ₁² = 2/η exactly. GD, oscillating, ends next to it.
  auto f = toys::tanh_neuron();
  const double eta = 2.0 / 150;
  CentralFlow flow(*f, Tensor{10.0, 0.5}, {});
  std::size_t critical_steps = 0;
  Tensor gd = Tensor{10.0, 0.5};
  for (int t = 0; t < 300; ++t) {
    const CentralFlowPoint& p = flow.point(eta);
    if (p.critical > 0) {
      ++critical_steps;
      BOOST_TEST(p.trace_sigma > 0.0);
    }
    // held within 1 % once caught (forward Euler lets it overshoot on the way in)
    if (t >= 3) BOOST_TEST(p.eigenvalues[0] * eta / 2 - 1 <= 0.01, "t = " << t << ": λ = " << p.eigenvalues[0]);
    flow.advance(eta);
    gd -= eta * f->value_and_grad(gd).grad;
  }
  BOOST_TEST(critical_steps >= 3u);
  const CentralFlowPoint& end = flow.point(eta);
  BOOST_TEST(std::abs(end.eigenvalues[0] * eta / 2 - 1) <= 1e-4);
  BOOST_TEST(std::abs(flow.w()(0) - 1 / std::sqrt(eta)) <= 1e-4 * (1 / std::sqrt(eta)));
  BOOST_TEST(std::abs(flow.w()(1)) <= 1e-6);
  BOOST_TEST(std::abs(gd(0) - flow.w()(0)) <= 0.01 * flow.w()(0), "GD ends at θ₁ = " << gd(0));
}

BOOST_AUTO_TEST_CASE(bad_options_are_refused) {
  auto f = toys::quadratic();
  CentralFlowOptions o;
  o.substeps = 0;
  BOOST_CHECK_THROW(CentralFlow(*f, Tensor{1.0, 1.0}, o), std::invalid_argument);
  BOOST_CHECK_THROW(CentralFlow(*f, Tensor{1.0, 1.0, 1.0}, {}), ShapeError);
  CentralFlow flow(*f, Tensor{1.0, 1.0}, {});
  BOOST_CHECK_THROW(flow.point(0.0), std::invalid_argument);
  BOOST_CHECK_THROW(PluginRegistry::global().create_from_spec("central_flow:substeps=0"), std::invalid_argument);
  // a minibatch run or another optimizer is refused by the plugin, by name
  auto plugin = PluginRegistry::global().create_from_spec("central_flow");
  StepData d;
  d.theta = Tensor{1.0, 1.0};
  d.lr = 0.01;
  optim::Adam adam(optim::Schedule::constant(0.01));
  StepContext ctx(d, *f, &adam, 0, 0);
  Row row(plugin->columns());
  try {
    plugin->observe(ctx, row);
    BOOST_FAIL("the central flow ran beside Adam");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("plain GD") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(central_flow_on_an_mlp)

BOOST_AUTO_TEST_CASE(the_flow_follows_gd_then_holds_the_sharpness_at_2_over_eta, *boost::unit_test::label("slow")) {
  // fc-tanh 784-64-64-10 on the first 500 Fashion-MNIST images at η = 2/5:
  // λmax rises from 4.2 and reaches 2/η = 5 on the flow at step 9 (GD's
  // loss first rises at step 26). Until then the two agree; from then on
  // the flow holds λmax at 2/η while Σ > 0 adds to its predicted loss.
  nn::ObjectiveSpec spec;
  spec.data.n = 500;
  spec.hidden = {64, 64};
  auto b = nn::build_objective(spec);
  const double eta = 2.0 / 5;
  optim::GradientDescent gd(optim::Schedule::constant(eta));
  TrainerOptions o;
  o.max_steps = 24;
  Trainer t(*b.objective, gd, o);
  t.attach(PluginRegistry::global().create("loss"));
  t.attach(PluginRegistry::global().create("central_flow"));
  const RunResult r = t.run(b.theta0);
  std::optional<std::size_t> onset;
  for (std::size_t s = 0; s <= 24; ++s) {
    const double loss = *r.metrics.at(s, "loss"), flow = *r.metrics.at(s, "flow_loss");
    const double critical = *r.metrics.at(s, "flow_critical"), lambda = *r.metrics.at(s, "flow_lambda_max");
    if (!onset && critical > 0) onset = s;
    if (!onset) BOOST_TEST(std::abs(flow - loss) <= 0.05 * loss, "step " << s << ": GD " << loss << ", flow " << flow);
    if (onset && s >= *onset + 3) {
      BOOST_TEST(std::abs(lambda * eta / 2 - 1) <= 0.01, "step " << s << ": flow λmax = " << lambda);
      BOOST_TEST(*r.metrics.at(s, "flow_trace_sigma") > 0.0);
      BOOST_TEST(*r.metrics.at(s, "flow_predicted_loss") > flow);
    }
  }
  BOOST_TEST_REQUIRE(onset.has_value());
  BOOST_TEST((*onset >= 5u && *onset <= 15u), "the flow reached 2/η at step " << *onset);
}

BOOST_AUTO_TEST_SUITE_END()
