// The paper's identities as property tests and its toy examples as known
// answers (tests/data/reference/toys.json, plain numpy GD).
#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;
using namespace eos::analysis;

namespace {

// Runs the given plugins on one point, as a trainer would at step 0.
Row observe_once(Objective& obj, const Tensor& theta, double lr, std::vector<std::unique_ptr<Plugin>>& plugins) {
  std::vector<std::string> cols = {"step", "lr"};
  for (auto& p : plugins)
    for (auto& c : p->columns()) cols.push_back(c);
  StepData d;
  d.theta = theta;
  d.lr = lr;
  StepContext ctx(d, obj, nullptr, 0, 0);
  Row row(cols);
  for (auto& p : plugins) p->observe(ctx, row);
  return row;
}

RunResult run_gd(Objective& obj, const Tensor& theta0, double lr, std::size_t steps, double divergence_factor,
                 std::vector<std::string> plugin_specs = {"loss"}) {
  optim::GradientDescent gd(optim::Schedule::constant(lr));
  TrainerOptions o;
  o.max_steps = steps;
  o.divergence_factor = divergence_factor;
  Trainer t(obj, gd, o);
  for (const auto& s : plugin_specs) t.attach(PluginRegistry::global().create_from_spec(s));
  return t.run(theta0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(paper)

BOOST_AUTO_TEST_CASE(quadratic_rp_is_exactly_minus_one_plus_half_eta_rayleigh_quotient) {
  // f = ½θᵀAθ + bᵀθ: RP = −1 + (η/2)·gᵀAg/‖g‖² for every θ and η
  std::mt19937_64 rng(3);
  const std::size_t n = 12;
  Tensor M = test::random_normal({n, n}, rng);
  const Tensor A = 0.5 * (M + xt::transpose(M));
  const Tensor b = test::random_normal({n}, rng);
  FunctionObjective f("quadratic", n, [A, b, n](ad::Var th) {
    ad::Var Ath = ad::reshape(ad::matmul(ad::reshape(th, {1, n}), th.tape()->constant(A)), {n});
    return 0.5 * ad::dot(Ath, th) + ad::dot(th.tape()->constant(b), th);
  });
  for (double lr : {0.01, 0.3, 2.0}) {
    const Tensor th = test::random_normal({n}, rng);
    std::vector<std::unique_ptr<Plugin>> p;
    p.push_back(PluginRegistry::global().create("rp"));
    const Row row = observe_once(f, th, lr, p);
    const Tensor g = f.value_and_grad(th).grad;
    const Tensor Ag = f.hvp(th, g);
    const double predicted = -1.0 + 0.5 * lr * eos::inner(g, Ag) / eos::inner(g, g);
    BOOST_TEST(std::abs(*row.get("rp") - predicted) <= 1e-12 * std::max(1.0, std::abs(predicted)),
               "η = " << lr << ": RP " << *row.get("rp") << " vs " << predicted);
    // and on a quadratic L(θ; η∇f) is the Rayleigh quotient itself, so (4.3) is exact
    BOOST_TEST(std::abs(*row.get("rp_pred_43") - predicted) <= 1e-12 * std::max(1.0, std::abs(predicted)));
  }
}

BOOST_AUTO_TEST_CASE(theorem2_identity_on_the_toys_and_a_small_mlp) {
  std::vector<std::pair<std::unique_ptr<Objective>, Tensor>> cases;
  cases.emplace_back(toys::quadratic(), Tensor{0.7, -0.4});
  cases.emplace_back(toys::tanh_quadratic(), Tensor{0.3, 0.5});
  cases.emplace_back(toys::tanh_neuron(), Tensor{13.0, 0.01});
  cases.emplace_back(toys::linear_neuron(), Tensor{2.0, 0.5});
  nn::ObjectiveSpec spec;
  spec.data = {.source = "gaussian_clusters", .n = 60, .standardize = false, .dim = 5, .classes = 3, .separation = 2.0, .seed = 1};
  spec.hidden = {8};
  auto built = nn::build_objective(spec);
  cases.emplace_back(std::move(built.objective), built.theta0);
  for (auto& [obj, th] : cases) {
    for (double lr : {2.0 / 150, 2.0 / 39, 0.5}) {
      std::vector<std::unique_ptr<Plugin>> p;
      p.push_back(PluginRegistry::global().create("rp"));
      p.push_back(PluginRegistry::global().create("tau_profile", {{"grid", "gauss"}, {"m", "32"}}));
      const Row row = observe_once(*obj, th, lr, p);
      const double rp = *row.get("rp");
      if (!std::isfinite(rp)) continue;
      BOOST_TEST(*row.get("thm2_residual") <= 1e-8 * std::max(1.0, std::abs(rp)),
                 obj->describe() << " η = " << lr << ": RP " << rp << ", Theorem 2 gives " << *row.get("thm2_rp"));
    }
  }
}

BOOST_AUTO_TEST_CASE(example1_diverges_oscillates_converges) {
  auto f = toys::quadratic();
  // η = 2/39: θ₁ ← (1 − 40η)θ₁ = −(41/39)θ₁ grows; every step increases the loss.
  auto div = run_gd(*f, Tensor{1.0, 1.0}, 2.0 / 39, 200, INFINITY);
  BOOST_TEST(div.steps == 200u);
  const auto loss = div.metrics.column("loss");
  for (std::size_t t = 1; t < loss.size(); ++t) BOOST_TEST(loss[t] > loss[t - 1]);
  BOOST_TEST(std::abs(div.theta(0) - 22072.419350687233) <= 1e-9 * 22072.4);  // toys.json final_theta
  BOOST_TEST(std::abs(div.final_loss - 9743833919.851845) <= 1e-9 * 9743833919.85);
  // With the default explosion threshold (1e10·f₀) the trainer calls it
  // divergence at the first t with f_t = 20(41/39)^{2t} + (1 − 4/39)^{2t} > 1e10·21:
  // f₂₃₀ = 1.958e11, f₂₃₁ = 2.164e11, so t = 231.
  auto stopped = run_gd(*f, Tensor{1.0, 1.0}, 2.0 / 39, 500, 1e10);
  BOOST_TEST((stopped.outcome == Outcome::Diverged));
  BOOST_REQUIRE(stopped.diverged_at.has_value());
  BOOST_TEST(*stopped.diverged_at == 231u);
  BOOST_TEST(stopped.metrics.rows.size() == *stopped.diverged_at + 1);  // every earlier row kept
  BOOST_TEST(stopped.metrics.column("loss")[230] <= 2.1e11);
  BOOST_TEST(stopped.metrics.column("loss")[231] > 2.1e11);
  // η = 2/40: |1 − 40η| = 1, θ₁ = ±1 forever, loss 20 after θ₂ dies out
  auto osc = run_gd(*f, Tensor{1.0, 1.0}, 2.0 / 40, 200, INFINITY);
  BOOST_TEST(std::abs(std::abs(osc.theta(0)) - 1.0) < 1e-15);
  BOOST_TEST(std::abs(osc.final_loss - 20.0) < 1e-12);
  // η = 2/41: converges
  auto conv = run_gd(*f, Tensor{1.0, 1.0}, 2.0 / 41, 200, INFINITY);
  BOOST_TEST(std::abs(conv.final_loss - 4.105160281923187e-08) <= 1e-9 * 4.1e-8);
  BOOST_TEST((conv.outcome == Outcome::MaxSteps));
}

BOOST_AUTO_TEST_CASE(example2_tanh_quadratic_stays_bounded_on_a_two_cycle) {
  auto f = toys::tanh_quadratic();
  auto r = run_gd(*f, Tensor{0.5, 0.5}, 2.0 / 39, 500, INFINITY);
  // toys.json: the analytic 2-cycle |θ₁| = a = 0.08928931147519685, loss 0.158113883
  BOOST_TEST(std::abs(std::abs(r.theta(0)) - 0.08928931147519685) < 1e-10);
  BOOST_TEST(std::abs(r.final_loss - 0.15811388300841905) < 1e-10);
  const auto loss = r.metrics.column("loss");
  for (double l : loss) BOOST_TEST(l <= 1.0);  // tanh bounds the loss: no divergence
}

BOOST_AUTO_TEST_CASE(example3_single_neurons) {
  // linear neuron from (13, 0.01), η = 2/150: diverges; the loss overflows at step 13 (toys.json)
  auto lin = toys::linear_neuron();
  auto r = run_gd(*lin, Tensor{13.0, 0.01}, 2.0 / 150, 100, INFINITY, {"loss", "rp"});
  BOOST_TEST((r.outcome == Outcome::Diverged));
  BOOST_TEST(r.diverged_at.value_or(0) == 13u);
  BOOST_TEST(r.metrics.rows.size() == 14u);
  BOOST_TEST(std::abs(r.metrics.column("rp")[0] - 1.2533253155700015) < 1e-10);  // toys.json linear_first_steps
  BOOST_TEST(std::abs(r.metrics.column("L_dir")[0] - 337.99789600457046) < 1e-8);
  // tanh neuron: converges to a minimum whose sharpness 2θ₁² ≈ 148.49 sits just below 2/η = 150
  auto tn = toys::tanh_neuron();
  optim::GradientDescent gd(optim::Schedule::constant(2.0 / 150));
  TrainerOptions o;
  o.max_steps = 5000;
  Trainer t(*tn, gd, o);
  t.attach(PluginRegistry::global().create("loss"));
  t.attach(PluginRegistry::global().create("sharpness", {{"tol", "1e-10"}}), When::every_k(1000));
  auto run = t.run(Tensor{13.0, 0.01});
  const double lambda = run.metrics.at(5000, "lambda_max").value();
  BOOST_TEST(std::abs(lambda - 150.0) <= 0.02 * 150.0, "λmax = " << lambda);
  BOOST_TEST(std::abs(lambda - 148.48814581232978) <= 1e-6 * 148.5, "λmax = " << lambda << " vs numpy's 148.48814581");
  BOOST_TEST(std::abs(lambda - 2 * run.theta(0) * run.theta(0)) < 1e-8);
}

BOOST_AUTO_TEST_SUITE_END()
