// The Trainer and trajectories: online and offline analysis agree; RP and L
// are free under GD; SGD expectations reduce to the GD quantities for a
// full batch; divergence keeps earlier rows; outputs; the plugin registry.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <variant>

#include <nlohmann/json.hpp>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;
using namespace eos::analysis;

namespace {

std::string temp_dir(const std::string& name) {
  return eos::test::scratch_dir("trainer/" + name).string();
}

nn::ObjectiveSpec small_spec() {
  nn::ObjectiveSpec s;
  s.data = {.source = "gaussian_clusters", .n = 80, .standardize = true, .dim = 6, .classes = 3, .separation = 1.0, .seed = 3};
  s.hidden = {10, 10};
  s.chunk_size = 32;
  s.init_seed = 5;
  return s;
}

// Counts the evaluations an objective is asked for.
class Counting : public Objective {
 public:
  explicit Counting(Objective& inner) : inner_(inner) {}
  std::string describe() const override { return inner_.describe(); }
  std::size_t dim() const override { return inner_.dim(); }
  double value(const Tensor& t) override { ++values; return inner_.value(t); }
  using Objective::value_and_grad;
  double value_and_grad(const Tensor& t, Tensor& g) override { ++grads; return inner_.value_and_grad(t, g); }
  Tensor hvp(const Tensor& t, const Tensor& v) override { return inner_.hvp(t, v); }
  std::unique_ptr<HessianOperator> hessian_at(const Tensor& t) override { ++hessians; return inner_.hessian_at(t); }
  std::size_t num_examples() const override { return inner_.num_examples(); }
  using Objective::batch_value_and_grad;
  double batch_value_and_grad(const Tensor& t, std::span<const std::size_t> b, Tensor& g) override {
    return inner_.batch_value_and_grad(t, b, g);
  }
  std::size_t values = 0, grads = 0, hessians = 0;

 private:
  Objective& inner_;
};

std::vector<std::string> analysis_specs() {
  return {"loss",        "grad_norm",           "rp",       "tau_profile:grid=gauss,m=8", "sharpness:k=2,tol=1e-6",
          "corollary1:points=3", "hessian_trace:probes=4", "accuracy", "lambda_min:k=2,tol=1e-6",
          "block_sharpness:probes=3,tol=1e-6", "eigvec_overlap:k=2,tol=1e-6", "density:probes=3,steps=10",
          "regime:window=3,hold=1,calm=2", "central_flow:margin=0.9"};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(trainer)

BOOST_AUTO_TEST_CASE(online_and_offline_analysis_agree) {
  const auto spec = small_spec();
  auto built = nn::build_objective(spec);
  const std::string dir = temp_dir("online-offline");
  optim::GradientDescent gd(optim::Schedule::constant(0.5));
  TrainerOptions o;
  o.max_steps = 6;
  Trainer t(*built.objective, gd, o);
  for (const auto& s : analysis_specs()) t.attach(PluginRegistry::global().create_from_spec(s), When::every_k(2));
  TrajectorySink traj_sink(dir + "/traj", 2, spec.to_json());
  MetricsCsvSink csv_sink(dir + "/metrics.csv");
  SummarySink summary_sink(dir + "/summary.json");
  t.record_to(csv_sink).record_to(traj_sink).record_to(summary_sink);
  const RunResult online = t.run(built.theta0);
  BOOST_TEST((online.outcome == Outcome::MaxSteps));
  BOOST_TEST(online.metrics.rows.size() == 7u);

  // Replay: rebuild the objective from the manifest alone, re-run fresh plugins.
  const Trajectory traj = read_trajectory(dir + "/traj");
  BOOST_TEST((traj.manifest.steps == std::vector<std::size_t>{0, 2, 4, 6}));
  auto rebuilt = nn::build_objective(nn::ObjectiveSpec::from_json(traj.manifest.objective_spec));
  std::vector<std::unique_ptr<Plugin>> plugins;
  for (const auto& s : analysis_specs()) plugins.push_back(PluginRegistry::global().create_from_spec(s));
  const MetricsTable offline = analyze_trajectory(traj, *rebuilt.objective, plugins);
  BOOST_REQUIRE_EQUAL(offline.rows.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t step = traj.manifest.steps[i];
    for (const auto& col : offline.columns) {
      const auto a = online.metrics.at(step, col), b = offline.at(i, col);
      // Empty on both sides only where nothing can be computed (eigvec_overlap has no previous step at 0).
      BOOST_REQUIRE_MESSAGE(a.has_value() == b.has_value() && (a.has_value() || (col.rfind("eigvec", 0) == 0 && step == 0)),
                            "step " << step << " column " << col);
      if (!a) continue;
      BOOST_TEST(std::abs(*a - *b) <= 1e-12 * std::max(1.0, std::abs(*a)),
                 "step " << step << " column " << col << ": online " << *a << " offline " << *b);
    }
  }
  // the CSV holds the same table (17 significant digits)
  const MetricsTable csv = read_metrics_csv(csv_sink.path());
  BOOST_TEST(csv.columns == online.metrics.columns);
  BOOST_REQUIRE_EQUAL(csv.rows.size(), online.metrics.rows.size());
  for (std::size_t r = 0; r < csv.rows.size(); ++r)
    for (std::size_t c = 0; c < csv.columns.size(); ++c) {
      BOOST_TEST(csv.rows[r][c].has_value() == online.metrics.rows[r][c].has_value());
      if (csv.rows[r][c]) BOOST_TEST(*csv.rows[r][c] == *online.metrics.rows[r][c]);
    }
  // the summary
  nlohmann::json j;
  std::ifstream(summary_sink.path()) >> j;
  BOOST_TEST(j["outcome"] == "max_steps");
  BOOST_TEST(j["steps"] == 6);
  BOOST_TEST(j["plugins"].size() == analysis_specs().size());
  BOOST_TEST(j["wall_seconds"].get<double>() >= 0.0);
  // a plugin's summary (the regime's) is the same offline
  for (const auto& p : plugins)
    if (p->name() == "regime") BOOST_TEST(nlohmann::json::parse(p->summary_json()) == j.at("regime"));
}

BOOST_AUTO_TEST_CASE(rp_and_directional_smoothness_are_free_under_gd) {
  auto built = nn::build_objective(small_spec());
  Counting counted(*built.objective);
  optim::GradientDescent gd(optim::Schedule::constant(0.3));
  TrainerOptions o;
  o.max_steps = 10;
  Trainer t(counted, gd, o);
  t.attach(PluginRegistry::global().create("loss"));
  t.attach(PluginRegistry::global().create("rp"));
  const auto r = t.run(built.theta0);
  // one gradient per iterate θ₀ … θ₁₀, plus the probe of the last row (there
  // is no θ₁₁ to reuse): RP_0 … RP_9 cost nothing
  BOOST_TEST(counted.grads == 12u);
  BOOST_TEST(counted.values == 0u);
  // RP_t from the table equals the definition with f(θ_{t+1})
  const auto loss = r.metrics.column("loss"), rp = r.metrics.column("rp");
  const auto g0 = built.objective->value_and_grad(built.theta0);
  const double g2 = eos::inner(g0.grad, g0.grad);
  BOOST_TEST(std::abs(rp[0] - (loss[1] - loss[0]) / (0.3 * g2)) <= 1e-13 * std::abs(rp[0]));
  // with momentum the probe is not the next iterate and is computed: one more gradient per step
  Counting counted2(*built.objective);
  optim::Momentum hb(optim::Schedule::constant(0.3), 0.5);
  Trainer t2(counted2, hb, o);
  t2.attach(PluginRegistry::global().create("rp"));
  t2.run(built.theta0);
  BOOST_TEST(counted2.grads == 11u + 11u);  // iterates + one probe per row
}

// A plugin that needs ∇²f(θ_t) gets the linearization that also gave the
// step its f and ∇f: one primal pass per iterate, not two, and the trajectory
// is bit for bit the one without the plugin.
BOOST_AUTO_TEST_CASE(hessian_plugins_reuse_the_steps_own_linearization) {
  auto built = nn::build_objective(small_spec());
  TrainerOptions o;
  o.max_steps = 10;
  auto run = [&](Counting& counted, std::vector<std::string> specs, std::size_t every) {
    optim::GradientDescent gd(optim::Schedule::constant(0.3));
    Trainer t(counted, gd, o);
    t.attach(PluginRegistry::global().create("loss"));
    for (const auto& sp : specs) t.attach(PluginRegistry::global().create_from_spec(sp), When::every_k(every));
    return t.run(built.theta0);
  };
  Counting plain(*built.objective);
  const auto a = run(plain, {"rp"}, 1);
  Counting with_hessian(*built.objective);
  const auto b = run(with_hessian, {"rp", "sharpness:k=2", "hessian_trace:probes=3", "corollary1:points=2"}, 1);
  BOOST_TEST(plain.grads == 12u);          // θ₀ … θ₁₀ and the last row's probe
  BOOST_TEST(with_hessian.hessians == 11u + 11u);  // one per iterate (shared by 3 plugins) + corollary1's τ = 1 point
  BOOST_TEST(with_hessian.grads == 1u);    // only the last row's probe
  const auto la = a.metrics.column("loss"), lb = b.metrics.column("loss");
  BOOST_TEST(la == lb, boost::test_tools::per_element());  // bitwise
  BOOST_TEST(xt::all(xt::equal(a.theta, b.theta)));
  // every other step: the steps in between keep the plain evaluation
  Counting alternate(*built.objective);
  run(alternate, {"sharpness"}, 2);
  BOOST_TEST(alternate.hessians == 6u);    // θ₀, θ₂, …, θ₁₀
  BOOST_TEST(alternate.grads == 5u);       // θ₁, θ₃, …, θ₉
}

BOOST_AUTO_TEST_CASE(sgd_expectations_with_a_full_batch_are_the_gd_quantities) {
  auto built = nn::build_objective(small_spec());
  std::vector<std::unique_ptr<Plugin>> p;
  p.push_back(PluginRegistry::global().create("rp"));
  p.push_back(PluginRegistry::global().create("sgd_rp", {{"draws", "3"}, {"batch", "80"}}));
  std::vector<std::string> cols = {"step", "lr"};
  for (auto& q : p)
    for (auto& c : q->columns()) cols.push_back(c);
  StepData d;
  d.theta = built.theta0;
  d.lr = 0.4;
  StepContext ctx(d, *built.objective, nullptr, 0, 0);
  Row row(cols);
  for (auto& q : p) q->observe(ctx, row);
  // g_B = ∇f for B = everything: E[RP] = RP, (5.1) = (4.3), zero spread
  BOOST_TEST(std::abs(*row.get("sgd_erp") - *row.get("rp")) <= 1e-12);
  BOOST_TEST(std::abs(*row.get("sgd_rhs51") - *row.get("rp_pred_43")) <= 1e-12);
  BOOST_TEST(*row.get("sgd_erp_se") <= 1e-12);
}

BOOST_AUTO_TEST_CASE(sgd_training_with_epoch_end_plugins) {
  auto built = nn::build_objective(small_spec());
  optim::GradientDescent sgd(optim::Schedule::constant(0.1));
  TrainerOptions o;
  o.max_steps = 30;  // 10 batches of 8 per epoch
  o.batch_size = 8;
  o.seed = 4;
  Trainer t(*built.objective, sgd, o);
  t.attach(PluginRegistry::global().create("loss"), When::at_epoch_end());
  t.attach(PluginRegistry::global().create("sgd_rp", {{"draws", "8"}}), When::at_epoch_end());
  const auto r = t.run(built.theta0);
  const auto loss = r.metrics.column("loss"), erp = r.metrics.column("sgd_erp"), bl = r.metrics.column("batch_loss");
  for (std::size_t s = 0; s < loss.size(); ++s) {
    const bool epoch_start = s % 10 == 0;
    BOOST_TEST(std::isfinite(loss[s]) == epoch_start, "step " << s);
    BOOST_TEST(std::isfinite(erp[s]) == epoch_start, "step " << s);
    if (s < 30) BOOST_TEST(std::isfinite(bl[s]));
  }
  BOOST_TEST(loss[30] < loss[0]);
  // expected RP is a mean over draws with a standard error
  BOOST_TEST(r.metrics.at(0, "sgd_erp_se").value() > 0.0);
}

BOOST_AUTO_TEST_CASE(divergence_is_reported_and_earlier_rows_are_kept) {
  auto lin = toys::linear_neuron();
  const std::string dir = temp_dir("divergence");
  optim::GradientDescent gd(optim::Schedule::constant(2.0 / 150));
  TrainerOptions o;
  o.max_steps = 100;
  MetricsCsvSink csv_sink(dir + "/m.csv");
  SummarySink summary_sink(dir + "/s.json");
  TrajectorySink traj_sink(dir + "/traj", 5);
  Trainer t(*lin, gd, o);
  t.record_to(csv_sink).record_to(summary_sink).record_to(traj_sink);
  t.attach(PluginRegistry::global().create("loss"));
  t.attach(PluginRegistry::global().create("sharpness"));
  const auto r = t.run(Tensor{13.0, 0.01});
  BOOST_TEST((r.outcome == Outcome::Diverged));
  BOOST_REQUIRE(r.diverged_at.has_value());
  const std::size_t d = *r.diverged_at;
  BOOST_TEST(d < 13u);  // 1e10 × max(f₀, 1) is crossed before the overflow
  const MetricsTable csv = read_metrics_csv(csv_sink.path());
  BOOST_TEST(csv.rows.size() == d + 1);
  for (std::size_t s = 0; s < d; ++s) BOOST_TEST(std::isfinite(csv.column("lambda_max")[s]));
  BOOST_TEST(!csv.at(d, "lambda_max").has_value());  // nothing analysed at the diverged step
  BOOST_TEST(csv.at(d, "loss").value() > 1e10);
  nlohmann::json j;
  std::ifstream(summary_sink.path()) >> j;
  BOOST_TEST(j["outcome"] == "diverged");
  BOOST_TEST(j["diverged_at_step"] == d);
  const auto traj = read_trajectory(traj_sink.dir());
  BOOST_TEST(traj.manifest.outcome == r.describe());
  for (std::size_t s : traj.manifest.steps) BOOST_TEST(s < d);
}

BOOST_AUTO_TEST_CASE(loss_and_accuracy_goals_stop_the_run) {
  auto built = nn::build_objective(small_spec());
  optim::GradientDescent gd(optim::Schedule::constant(1.0));
  TrainerOptions o;
  o.max_steps = 5000;
  o.loss_goal = 0.3;
  Trainer t(*built.objective, gd, o);
  t.attach(PluginRegistry::global().create("loss"));
  const auto r = t.run(built.theta0);
  BOOST_TEST((r.outcome == Outcome::LossGoal));
  BOOST_TEST(r.final_loss <= 0.3);
  BOOST_TEST(r.metrics.column("loss")[r.steps - 1] > 0.3);
  TrainerOptions o2;
  o2.max_steps = 5000;
  o2.accuracy_goal = 0.9;
  optim::GradientDescent gd2(optim::Schedule::constant(1.0));
  Trainer t2(*built.objective, gd2, o2);
  const auto r2 = t2.run(built.theta0);
  BOOST_TEST((r2.outcome == Outcome::AccuracyGoal));
  BOOST_TEST(built.objective->accuracy(r2.theta).value() >= 0.9);
}

BOOST_AUTO_TEST_CASE(preconditioned_sharpness_and_trace_known_answers) {
  // f = ½ Σ dᵢθᵢ²: H = diag(d); Rademacher probes give tr H exactly.
  const Tensor diag = {1.0, 4.0, 9.0, 0.5};
  FunctionObjective f("diag", 4, [diag](ad::Var th) { return 0.5 * ad::dot(th.tape()->constant(diag) * th, th); });
  std::vector<std::unique_ptr<Plugin>> p;
  p.push_back(PluginRegistry::global().create("hessian_trace", {{"probes", "5"}}));
  p.push_back(PluginRegistry::global().create("precond_sharpness", {{"tol", "1e-10"}}));
  // Adam after one step on g: v̂ = g², P = |g| + ε; P^{-1/2} H P^{-1/2} = diag(dᵢ/(|gᵢ| + ε))
  optim::Adam adam(optim::Schedule::constant(0.01));
  Tensor th = {1.0, 1.0, 1.0, 1.0};
  const Tensor g = {2.0, 1.0, 0.5, 4.0};
  Tensor moved = th;
  adam.step(moved, g);
  std::vector<std::string> cols = {"step", "lr", "trace", "trace_se", "precond_lambda_max", "precond_threshold"};
  StepData d;
  d.theta = th;
  d.lr = 0.01;
  StepContext ctx(d, f, &adam, 0, 0);
  Row row(cols);
  for (auto& q : p) q->observe(ctx, row);
  BOOST_TEST(std::abs(*row.get("trace") - 14.5) < 1e-12);
  BOOST_TEST(*row.get("trace_se") < 1e-12);
  BOOST_TEST(std::abs(*row.get("precond_lambda_max") - 9.0 / (0.5 + 1e-8)) < 1e-6);
  BOOST_TEST(std::abs(*row.get("precond_threshold") - 3.8 / (0.1 * 0.01)) < 1e-9);  // (2+2β₁)/((1−β₁)η)
  // without an optimizer the plugin says what it needs
  StepContext offline(d, f, nullptr, 0, 0);
  Row row2(cols);
  BOOST_CHECK_THROW(p[1]->observe(offline, row2), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(warm_started_sharpness_agrees_with_cold_along_a_trajectory) {
  auto built = nn::build_objective(small_spec());
  RunResult runs[2];
  for (int warm = 0; warm < 2; ++warm) {
    optim::GradientDescent gd(optim::Schedule::constant(0.5));
    TrainerOptions o;
    o.max_steps = 8;
    Trainer t(*built.objective, gd, o);
    t.attach(PluginRegistry::global().create("sharpness", {{"tol", "1e-6"}, {"warm", warm ? "1" : "0"}}));
    runs[warm] = t.run(built.theta0);
  }
  double cold_hvps = 0, warm_hvps = 0;
  for (std::size_t s = 0; s <= 8; ++s) {
    const double a = runs[0].metrics.at(s, "lambda_max").value(), b = runs[1].metrics.at(s, "lambda_max").value();
    BOOST_TEST(std::abs(a - b) <= 2e-6 * std::abs(a), "step " << s << ": cold " << a << " warm " << b);
    cold_hvps += runs[0].metrics.at(s, "sharpness_hvps").value();
    warm_hvps += runs[1].metrics.at(s, "sharpness_hvps").value();
  }
  BOOST_TEST(warm_hvps < cold_hvps);
}

// stop=value along a trajectory: every λ1, λ2 within tol of a tight solve at
// the same θ_t, in no more HVPs than the residual rule.
BOOST_AUTO_TEST_CASE(sharpness_with_the_eigenvalue_rule_agrees_with_a_tight_solve) {
  auto built = nn::build_objective(small_spec());
  const double tol = 1e-4;
  RunResult runs[3];
  const char* specs[3] = {"sharpness:k=2,tol=1e-4,stop=value", "sharpness:k=2,tol=1e-4",
                          "sharpness:k=2,tol=1e-12,max_iter=400,warm=0"};
  for (int i = 0; i < 3; ++i) {
    optim::GradientDescent gd(optim::Schedule::constant(0.5));
    TrainerOptions o;
    o.max_steps = 10;
    Trainer t(*built.objective, gd, o);
    t.attach(PluginRegistry::global().create_from_spec(specs[i]));
    runs[i] = t.run(built.theta0);
  }
  double value_hvps = 0, residual_hvps = 0;
  for (std::size_t s = 0; s <= 10; ++s) {
    for (const char* col : {"lambda_max", "lambda_2"}) {
      const double truth = runs[2].metrics.at(s, col).value(), fast = runs[0].metrics.at(s, col).value();
      BOOST_TEST(std::abs(fast - truth) <= tol * std::abs(truth), "step " << s << " " << col << ": " << fast << " vs " << truth);
    }
    value_hvps += runs[0].metrics.at(s, "sharpness_hvps").value();
    residual_hvps += runs[1].metrics.at(s, "sharpness_hvps").value();
  }
  BOOST_TEST(value_hvps <= residual_hvps);
  BOOST_TEST_MESSAGE("k = 2 over 11 steps: " << value_hvps << " HVPs (value rule) vs " << residual_hvps << " (residual)");
}

// The default sharpness plugin (eigenvalue rule, Rayleigh–Ritz start from the
// extrapolated top vector and the second one of step t − 1 or t − 2, hvp=auto) and the same in
// float64 through the edge of stability of a small net: GD at η = 2 crosses
// 2/η and oscillates; every step's λmax is within tol = 1e-3 of a tight cold
// solve at the same θ_t; the float64 one takes under 2 HVPs a step (1.81;
// 1.84 with the guard from step t − 1 always, 2.28 with it at every step, 2.7 before the kept vectors took a free
// power step). The default runs mixed (float32 HVPs, then the float64 check)
// exactly where one of the last two solves took 3 HVPs or more, their check
// not counted (and for the cold first solve), and float64-lead elsewhere:
// there a solve of two HVPs is the lead's float64 one and the guard's
// float32 one, with no check; one of one HVP is the lead's alone, on a
// third of the smaller gap of the last two guarded solves (guard_every = 2: two
// guarded solves, then at most two on the lead alone, in a calm run); a
// longer one pays the lead and the check in float64. Most steps end with
// the lead alone.
BOOST_AUTO_TEST_CASE(default_sharpness_tracks_the_edge_of_stability_within_tol_at_every_step) {
  nn::ObjectiveSpec spec;
  spec.data = {.source = "gaussian_clusters", .n = 200, .standardize = true, .dim = 8, .classes = 3, .separation = 1.0, .seed = 1};
  spec.hidden = {16, 16};
  spec.init_seed = 2;
  auto built = nn::build_objective(spec);
  const double eta = 2.0, tol = 1e-3;
  const std::size_t steps = 150;
  RunResult runs[3];
  const char* specs[3] = {"sharpness", "sharpness:hvp=float64", "sharpness:k=2,tol=1e-12,max_iter=400,warm=0"};
  for (int i = 0; i < 3; ++i) {
    optim::GradientDescent gd(optim::Schedule::constant(eta));
    TrainerOptions o;
    o.max_steps = steps;
    Trainer t(*built.objective, gd, o);
    t.attach(PluginRegistry::global().create_from_spec(specs[i]));
    runs[i] = t.run(built.theta0);
  }
  auto has = [](const MetricsTable& m, const char* c) { return std::ranges::find(m.columns, c) != m.columns.end(); };
  BOOST_TEST_REQUIRE(has(runs[0].metrics, "sharpness_float32_hvps"));  // the default is mixed at tol 1e-3
  BOOST_TEST(!has(runs[1].metrics, "sharpness_float32_hvps"));
  double float64_hvps = 0, mixed_float32 = 0, mixed_float64 = 0, worst = 0, above = 0;
  std::size_t mixed_steps = 0, lead_alone = 0, unguarded = 0, unguarded_in_a_row = 0;
  double worst_gap_ratio = INFINITY;  // true gap / assumed gap at the unguarded steps
  std::vector<double> lengths;  // the default's solve lengths, the check not counted
  for (std::size_t s = 0; s <= steps; ++s) {
    const double truth = runs[2].metrics.at(s, "lambda_max").value();
    for (int i = 0; i < 2; ++i) {
      const double fast = runs[i].metrics.at(s, "lambda_max").value();
      BOOST_TEST(std::abs(fast - truth) <= tol * truth, specs[i] << " step " << s << ": " << fast << " vs " << truth);
      worst = std::max(worst, std::abs(fast - truth) / truth);
    }
    const double f32 = runs[0].metrics.at(s, "sharpness_float32_hvps").value();
    const double all = runs[0].metrics.at(s, "sharpness_hvps").value(), f64 = all - f32;
    const bool mixed = s == 0 || *std::max_element(lengths.end() - std::min<std::ptrdiff_t>(2, std::ssize(lengths)), lengths.end()) >= 3;
    if (mixed) {  // the start's two vectors on float32 HVPs at least, then the check
      BOOST_TEST((f32 >= 2 && f64 >= 1), "step " << s << " (mixed): " << f32 << " float32 HVPs of " << all);
    } else if (all == 1) {  // the lead alone on the assumed gap: its float64 HVP
      BOOST_TEST(f32 == 0, "step " << s << " (float64-lead, unguarded): " << f32 << " float32 HVPs");
      const double assumed = runs[0].metrics.at(s, "sharpness_assumed_gap").value();
      const double gap = truth - runs[2].metrics.at(s, "lambda_2").value();
      BOOST_TEST(assumed <= gap, "step " << s << ": assumed a gap of " << assumed << ", the true one is " << gap);
      worst_gap_ratio = std::min(worst_gap_ratio, gap / assumed);
      BOOST_TEST(++unguarded_in_a_row <= 2u, "step " << s << ": unguarded " << unguarded_in_a_row << " times in a row");
      ++unguarded;
    } else if (all == 2) {  // the lead alone: its float64 HVP and the guard's float32 one
      BOOST_TEST(f32 == 1, "step " << s << " (float64-lead): " << f32 << " float32 HVPs of " << all);
      lead_alone += s > 0;
    } else {  // the lead and the check
      BOOST_TEST(f64 >= 2, "step " << s << " (float64-lead, checked): " << f64 << " float64 HVPs of " << all);
    }
    if (mixed || all > 1) unguarded_in_a_row = 0;
    lengths.push_back(!mixed && all <= 2 ? all : all - 1);  // k = 1: one check
    if (s > 0) {  // step 0 is a cold solve
      float64_hvps += runs[1].metrics.at(s, "sharpness_hvps").value();
      mixed_float32 += f32;
      mixed_float64 += f64;
      mixed_steps += mixed;
    }
    if (truth * eta / 2 > 1.0) ++above;
  }
  BOOST_TEST(above >= 10, above << " steps above 2/η: the run must reach the edge of stability");
  // two start vectors (the extrapolated top, a second), the second at every other step where the gap is wide
  BOOST_TEST(float64_hvps / double(steps) <= 2.0);
  BOOST_TEST(mixed_steps > 0u);          // the turbulent steps run mixed
  BOOST_TEST(unguarded >= steps / 3);    // 64 of 150
  BOOST_TEST(lead_alone + unguarded >= steps * 3 / 4);  // most end with the lead alone (131 of 150)
  BOOST_TEST((mixed_float32 + mixed_float64) / double(steps) <= 2.1);  // 1.95
  BOOST_TEST(mixed_float64 / double(steps) <= 1.15);  // one float64 HVP a step, and a few checks (1.03)
  BOOST_TEST_MESSAGE("sharpness through the edge of stability: " << float64_hvps / double(steps)
                     << " HVPs/step in float64; the default " << mixed_float32 / double(steps) << " float32 + "
                     << mixed_float64 / double(steps) << " float64, mixed at " << mixed_steps << " of " << steps
                     << " steps, the lead alone at " << lead_alone << " with the guard and " << unguarded
                     << " without (true gap ≥ " << worst_gap_ratio << "× the assumed one); " << above << " steps above 2/η, largest error "
                     << worst);
}

// ½θᵀA_tθ where t = θ₀ (the test puts the step there): a spectrum that
// oscillates with period two, as GD's does at the edge of stability, and
// drifts with acceleration (a rotation by 2e-4·t², so that 2·v(t−2) − v(t−4)
// misses by ~1e-3). Eigenvalues 10, 9.5 (a 5 % gap), 4 … 0.25 and 0; the odd
// steps' top two eigenvectors are the even steps' turned by 0.3 towards the
// null space, so that one phase's u₂, seen from the other phase, is a
// mixture of 9.5 and 0.
class TwoPhaseSpectrum : public Objective {
 public:
  static constexpr std::size_t n = 12;
  std::string describe() const override { return "two-phase spectrum"; }
  std::size_t dim() const override { return n; }
  double value(const Tensor& t) override { return 0.5 * inner(t, matvec(at(t), t)); }
  using Objective::value_and_grad;
  double value_and_grad(const Tensor& t, Tensor& g) override {
    g = matvec(at(t), t);
    return 0.5 * inner(t, g);
  }
  Tensor hvp(const Tensor& t, const Tensor& v) override { return matvec(at(t), v); }
  std::unique_ptr<HessianOperator> hessian_at(const Tensor& t) override {
    auto H = std::make_unique<Dense>();
    H->A = at(t);
    H->g = matvec(H->A, t);
    H->f = 0.5 * inner(t, H->g);
    return H;
  }
  static Tensor at(const Tensor& t) {
    const Tensor Q = eigenvectors(t(0));
    Tensor A = zeros({n, n});
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t k = 0; k < n; ++k) A(i, j) += Q(i, k) * kLambda[k] * Q(j, k);
    return A;
  }
  static constexpr double kLambda[n] = {10, 9.5, 4, 3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0.25, 0};

 private:
  struct Dense : HessianOperator {
    Tensor A, g;
    double f = 0;
    std::size_t dim() const override { return n; }
    double value() const override { return f; }
    const Tensor& grad() const override { return g; }
    void apply(const Tensor& v, Tensor& out) override {
      out = matvec(A, v);
      ++applications_;
    }
  };
  static Tensor matvec(const Tensor& A, const Tensor& v) {
    Tensor out = zeros({n});
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) out(i) += A(i, j) * v(j);
    return out;
  }
  // A Givens rotation by `angle` in the plane (i, j) of Q's rows.
  static void rotate(Tensor& Q, std::size_t i, std::size_t j, double angle) {
    const double c = std::cos(angle), s = std::sin(angle);
    for (std::size_t k = 0; k < n; ++k) {
      const double a = Q(i, k), b = Q(j, k);
      Q(i, k) = c * a - s * b;
      Q(j, k) = s * a + c * b;
    }
  }
  static Tensor eigenvectors(double step) {
    Tensor Q = zeros({n, n});
    for (std::size_t i = 0; i < n; ++i) Q(i, i) = 1;
    if (std::llround(step) % 2 != 0) rotate(Q, 1, n - 1, 0.3), rotate(Q, 0, n - 2, 0.3);  // the odd phase
    for (std::size_t i = 0; i + 1 < n; ++i) rotate(Q, i, i + 1, 2e-4 * step * step * (1.0 + 0.1 * double(i)));
    return Q;
  }
};

// The crossing guard of a sharpness solve comes from the oscillation's own
// phase (step t − 2), where it is close to u₂: the rule sees the gap and the
// solve stops on its start (2 HVPs). From the other phase (t − 1) the
// guard's Ritz pair has a residual larger than its distance to θ₁, the rule
// sees no gap and asks for r ≤ tol·θ: more HVPs at every step.
BOOST_AUTO_TEST_CASE(sharpness_takes_its_guard_from_the_oscillations_own_phase) {
  TwoPhaseSpectrum f;
  auto plugin = PluginRegistry::global().create_from_spec("sharpness:hvp=float64");
  const std::size_t steps = 40, settled = 6;
  std::size_t hvps = 0, long_solves = 0;
  for (std::size_t t = 0; t < steps; ++t) {
    StepData d;
    d.theta = zeros({TwoPhaseSpectrum::n});
    d.theta(0) = double(t);
    d.theta(1) = 1.0;
    d.step = t;
    d.lr = 0.1;
    StepContext ctx(d, f, nullptr, 0, 1);
    Row row(plugin->columns());
    plugin->observe(ctx, row);
    const double lambda = *row.get("lambda_max"), solve = *row.get("sharpness_hvps");
    BOOST_TEST(std::abs(lambda - 10.0) <= 1e-3 * 10.0, "step " << t << ": λmax " << lambda);
    if (t < settled) continue;
    hvps += std::size_t(solve);
    long_solves += solve > 2;
  }
  BOOST_TEST(long_solves == 0u, long_solves << " solves of 3 HVPs or more");
  BOOST_TEST_MESSAGE("two-phase spectrum: " << double(hvps) / double(steps - settled) << " HVPs a step");
}

// hvp=auto (the default) chooses float32 products for the top of the
// spectrum at tol ≥ 1e-4 only; lambda_min keeps float64; mixed and float64
// are obeyed whatever the tol.
BOOST_AUTO_TEST_CASE(hvp_auto_chooses_float32_products_for_the_top_of_the_spectrum_at_loose_tol) {
  auto uses_float32 = [](const char* spec) { return PluginRegistry::global().create_from_spec(spec)->float32_products(); };
  BOOST_TEST(uses_float32("sharpness"));
  BOOST_TEST(uses_float32("sharpness:tol=1e-4"));
  BOOST_TEST(!uses_float32("sharpness:tol=9e-5"));
  BOOST_TEST(!uses_float32("sharpness:tol=1e-10"));
  BOOST_TEST(uses_float32("sharpness:tol=1e-10,hvp=mixed"));
  BOOST_TEST(uses_float32("sharpness:hvp=float64-lead"));
  BOOST_TEST(!uses_float32("sharpness:hvp=float64"));
  BOOST_TEST(uses_float32("eigvec_overlap"));
  BOOST_TEST(!uses_float32("lambda_min"));
  BOOST_TEST(uses_float32("lambda_min:hvp=mixed"));
  BOOST_TEST(!uses_float32("loss"));
  BOOST_TEST(!uses_float32("hessian_trace"));
}

// sharpness:hvp=mixed along a trajectory: each step's λmax within tol of a
// tight float64 solve, most HVPs float32 (the rest the float64 checks), and
// the trajectory bit for bit the one without it (λmax does not feed back).
BOOST_AUTO_TEST_CASE(mixed_precision_sharpness_agrees_and_leaves_the_trajectory_alone) {
  auto built = nn::build_objective(small_spec());
  const std::size_t steps = 12;
  RunResult runs[3];
  const char* specs[3] = {"sharpness:hvp=mixed", "sharpness:tol=1e-12,max_iter=400,warm=0", "loss"};
  for (int i = 0; i < 3; ++i) {
    optim::GradientDescent gd(optim::Schedule::constant(0.5));
    TrainerOptions o;
    o.max_steps = steps;
    Trainer t(*built.objective, gd, o);
    t.attach(PluginRegistry::global().create_from_spec(specs[i]));
    if (i != 2) t.attach(PluginRegistry::global().create_from_spec("loss"));
    runs[i] = t.run(built.theta0);
  }
  double float32 = 0, all = 0;
  for (std::size_t s = 0; s <= steps; ++s) {
    const double truth = runs[1].metrics.at(s, "lambda_max").value(), mixed = runs[0].metrics.at(s, "lambda_max").value();
    BOOST_TEST(std::abs(mixed - truth) <= 1e-3 * truth, "step " << s << ": " << mixed << " vs " << truth);
    BOOST_TEST(runs[0].metrics.at(s, "loss").value() == runs[2].metrics.at(s, "loss").value());
    float32 += runs[0].metrics.at(s, "sharpness_float32_hvps").value();
    all += runs[0].metrics.at(s, "sharpness_hvps").value();
  }
  BOOST_TEST(float32 > 0.5 * all, float32 << " of " << all << " HVPs in float32");
  BOOST_TEST(float32 <= all - double(steps + 1));  // one float64 check per step at least
}

// Where a run's Hessian grows past float32's range (~3.4e38) while float64
// still holds it, the default sharpness plugin's float32 products are not
// finite: its solve is done again in float64, and the run goes on as with
// hvp=float64 (before, it ended there as diverged). A ReLU MLP with MSE at
// η = 15: λmax reaches 4e52 at step 4, then every unit is dead and λmax = 1
// while the loss grows ×196 a step.
BOOST_AUTO_TEST_CASE(float32_products_past_their_range_do_not_end_a_run) {
  nn::ObjectiveSpec spec = small_spec();
  spec.activation = "relu";
  spec.loss = "mse";
  auto built = nn::build_objective(spec);
  const std::size_t steps = 12;
  RunResult runs[2];
  const char* specs[2] = {"sharpness", "sharpness:hvp=float64"};
  for (int i = 0; i < 2; ++i) {
    optim::GradientDescent gd(optim::Schedule::constant(15.0));
    TrainerOptions o;
    o.max_steps = steps;
    o.divergence_factor = INFINITY;  // only a non-finite loss ends it
    Trainer t(*built.objective, gd, o);
    t.attach(PluginRegistry::global().create_from_spec(specs[i]));
    runs[i] = t.run(built.theta0);
  }
  BOOST_TEST_REQUIRE((runs[1].outcome == Outcome::MaxSteps), runs[1].describe());
  BOOST_TEST((runs[0].outcome == Outcome::MaxSteps), runs[0].describe());
  double largest = 0;
  for (std::size_t s = 0; s <= steps; ++s) {
    const double mixed = runs[0].metrics.at(s, "lambda_max").value_or(NAN);
    const double exact = runs[1].metrics.at(s, "lambda_max").value();
    largest = std::max(largest, exact);
    BOOST_TEST(std::abs(mixed - exact) <= 1e-3 * exact, "step " << s << ": " << mixed << " vs " << exact);
  }
  BOOST_TEST(largest > 1e39);  // the premise: the Hessian leaves float32's range
}

// A plugin whose computation fails numerically ends the run as diverged at
// that step, says which plugin and why, and keeps every earlier row.
class FailsAtStep : public Plugin {
 public:
  std::string name() const override { return "fails_at_3"; }
  std::vector<std::string> columns() const override { return {"ok"}; }
  void observe(StepContext& ctx, Row& row) override {
    if (ctx.step() == 3) throw NumericalError("an HVP came back NaN");
    row.set("ok", 1.0);
  }
};

// A solve that max_iter stops before its rule leaves a Ritz value in the row
// that is not good to tol. Each eigen-plugin counts such solves over the run
// in its summary (what `eoslab train` warns from), and keeps the count in its
// checkpoint state, so that a resumed run counts from step 0; a checkpoint
// from before the count starts it at zero.
BOOST_AUTO_TEST_CASE(eigen_solves_out_of_hvps_are_counted_in_the_summary) {
  auto built = nn::build_objective(small_spec());
  auto& reg = PluginRegistry::global();
  const std::size_t steps = 3;
  for (const std::string name :
       {"sharpness", "lambda_min", "eigvec_overlap", "block_sharpness", "corollary1", "central_flow"}) {
    // central_flow: k = 3 eigenpairs at tol 1e-6, so 3 HVPs (its least max_iter) cannot meet its rule; its
    // later substeps solve only where λ₁ nears 2/η, so its count of solves depends on the values found
    const bool flow = name == "central_flow";
    auto summary_after_run = [&](const std::string& spec) {
      optim::GradientDescent gd(optim::Schedule::constant(0.3));
      TrainerOptions o;
      o.max_steps = steps;
      Trainer t(*built.objective, gd, o);
      auto plugin = reg.create_from_spec(spec);
      Plugin& p = *plugin;
      t.attach(std::move(plugin));
      t.run(built.theta0);
      StateDict state;
      p.save_state(state);
      return std::pair{nlohmann::json::parse(p.summary_json()), state};
    };
    // solves per step: corollary1 one per point (3 by default), block_sharpness one per layer block
    const auto [tight, tight_state] = summary_after_run(name);
    const std::uint64_t solves = tight.at("solves");
    if (!flow) BOOST_TEST(solves % (steps + 1) == 0u, name);
    BOOST_TEST(solves >= steps + 1, name);
    BOOST_TEST(tight.at("unconverged_solves").get<std::uint64_t>() == 0u, name);
    BOOST_TEST(!tight.contains("first_unconverged_step"), name);

    const std::string cut_spec = name + (flow ? ":max_iter=3" : ":max_iter=1");
    const auto [cut, cut_state] = summary_after_run(cut_spec);
    const std::uint64_t cut_solves = cut.at("solves");
    if (!flow) BOOST_TEST(cut_solves == solves, name);
    BOOST_TEST(cut_solves >= steps + 1, name);
    BOOST_TEST(cut.at("unconverged_solves").get<std::uint64_t>() == cut_solves, name);  // too few HVPs to prove any
    BOOST_TEST(cut.at("first_unconverged_step").get<std::uint64_t>() == 0u, name);
    BOOST_TEST(cut.at("largest_unconverged_residual").get<double>() > 1e-3, name);

    // the count survives a checkpoint: a fresh plugin loaded from the state says the same
    auto resumed = reg.create_from_spec(cut_spec);
    resumed->load_state(cut_state, built.objective->dim());
    BOOST_TEST(nlohmann::json::parse(resumed->summary_json()) == cut, name);  // central_flow: before its flow is rebuilt
    // a checkpoint without the count (before 2026-12-06) loads as none counted
    StateDict older;
    for (const auto& [key, entry] : cut_state.entries())
      if (key != "solves" && key != "unconverged_solves" && key != "first_unconverged_step" &&
          key != "largest_unconverged_residual")
        std::visit([&, &key = key](const auto& value) { older.put(key, value); }, entry);
    BOOST_TEST(older.size() + 4 == cut_state.size(), name);
    resumed->load_state(older, built.objective->dim());
    const nlohmann::json none = nlohmann::json::parse(resumed->summary_json());
    BOOST_TEST(none.at("solves").get<std::uint64_t>() == 0u, name);
    BOOST_TEST(none.at("unconverged_solves").get<std::uint64_t>() == 0u, name);
  }
}

BOOST_AUTO_TEST_CASE(a_numerical_error_in_a_plugin_is_divergence_with_a_reason) {
  auto built = nn::build_objective(small_spec());
  optim::GradientDescent gd(optim::Schedule::constant(0.5));
  TrainerOptions o;
  o.max_steps = 10;
  SummarySink summary_sink(temp_dir("numerical-error") + "/summary.json");
  Trainer t(*built.objective, gd, o);
  t.record_to(summary_sink);
  t.attach(PluginRegistry::global().create("loss"));
  t.attach(std::make_unique<FailsAtStep>());
  const RunResult r = t.run(built.theta0);
  BOOST_TEST((r.outcome == Outcome::Diverged));
  BOOST_TEST(r.diverged_at.value_or(99) == 3u);
  BOOST_TEST(r.describe() == "diverged at step 3 (plugin fails_at_3: an HVP came back NaN)");
  BOOST_TEST(r.metrics.rows.size() == 4u);  // steps 0…3, the failing step's loss kept
  BOOST_TEST(r.metrics.at(2, "ok").has_value());
  BOOST_TEST(r.metrics.at(3, "loss").has_value());
  BOOST_TEST(!r.metrics.at(3, "ok").has_value());
  std::ifstream in(summary_sink.path());
  const auto j = nlohmann::json::parse(in);
  BOOST_TEST(j["outcome"] == "diverged");
  BOOST_TEST(j["outcome_text"].get<std::string>().find("an HVP came back NaN") != std::string::npos);
}

// Our own CSV reads back (issue 9's probe): a subnormal the writer produced,
// inf/nan; a short or long row names the file and line; a last line cut off
// by a crash (no newline) is skipped.
BOOST_AUTO_TEST_CASE(metrics_csv_reader_round_trips_and_names_bad_rows) {
  const std::string dir = temp_dir("metrics-csv");
  const std::string path = dir + "/m.csv";
  {
    CsvWriter w(path, {"step", "x", "y"});
    w.write({0.0, 5e-324, INFINITY});
    w.write({1.0, std::nullopt, NAN});
  }
  const MetricsTable t = read_metrics_csv(path);
  BOOST_TEST(t.rows.size() == 2u);
  BOOST_TEST(t.at(0, "x").value() == 5e-324);
  BOOST_TEST(std::isinf(t.at(0, "y").value()));
  BOOST_TEST(!t.at(1, "x").has_value());
  BOOST_TEST(std::isnan(t.at(1, "y").value()));
  auto error_of = [&](const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
    try {
      read_metrics_csv(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  BOOST_TEST(error_of("step,x,y\n0,1\n") == path + ":2: 2 fields, the header has 3 columns");
  BOOST_TEST(error_of("step,x,y\n0,1,2,3\n") == path + ":2: more fields than the header's 3 columns");
  BOOST_TEST(error_of("step,x,y\n0,1e999,2\n") == path + ":2: '1e999' is not a number");
  BOOST_TEST(error_of("step,x,y\n0,abc,2\n") == path + ":2: 'abc' is not a number");
  std::ofstream(path, std::ios::trunc) << "step,x,y\n0,1,2\n1,3,";  // killed mid-row
  const MetricsTable cut = read_metrics_csv(path);
  BOOST_TEST(cut.rows.size() == 1u);
}

// A damaged manifest is refused with the key named, never read as something
// else (issue 9's probe: negative steps wrapped to 2⁶⁴−1, '../' escaped the folder).
BOOST_AUTO_TEST_CASE(damaged_trajectory_manifests_are_refused) {
  auto built = nn::build_objective(small_spec());
  optim::GradientDescent gd(optim::Schedule::constant(0.5));
  TrainerOptions o;
  o.max_steps = 4;
  TrajectorySink traj_sink(temp_dir("damaged-manifest") + "/traj", 2);
  Trainer(*built.objective, gd, o).record_to(traj_sink).run(built.theta0);
  const std::string dir = traj_sink.dir();
  const std::string path = dir + "/manifest.json";
  nlohmann::json good;
  std::ifstream(path) >> good;
  BOOST_TEST(read_trajectory(dir).manifest.steps.size() == 3u);
  auto error_after = [&](auto&& damage) {
    nlohmann::json j = good;
    damage(j);
    std::ofstream(path, std::ios::trunc) << j.dump();
    try {
      read_trajectory(dir);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto has = [](const std::string& m, const std::string& s) { return m.find(s) != std::string::npos; };
  std::string m = error_after([](nlohmann::json& j) { j["steps"][1] = -2; });
  BOOST_TEST(has(m, "steps[1] = -2: expected a non-negative integer"), m);
  m = error_after([](nlohmann::json& j) { j["steps"][2] = j["steps"][1]; });
  BOOST_TEST(has(m, "steps[2] = 2 does not follow steps[1] = 2"), m);
  m = error_after([](nlohmann::json& j) { j["files"][0] = "../../etc/passwd"; });
  BOOST_TEST(has(m, "files[0] = '../../etc/passwd' is not a file name inside the trajectory folder"), m);
  m = error_after([](nlohmann::json& j) { j["files"][1] = ".."; });
  BOOST_TEST(has(m, "files[1] = '..'"), m);
  m = error_after([](nlohmann::json& j) { j["seed"] = -1; });
  BOOST_TEST(has(m, "'seed' = -1: expected a non-negative integer"), m);
  m = error_after([](nlohmann::json& j) { j["lr"] = -0.5; });
  BOOST_TEST(has(m, "'lr' = -0.5"), m);
  m = error_after([](nlohmann::json& j) { j["step_lrs"][0] = 0.0; });
  BOOST_TEST(has(m, "step_lrs[0] = 0"), m);
  m = error_after([](nlohmann::json& j) { j["every"] = 0; });
  BOOST_TEST(has(m, "'every' is 0"), m);
}

// Determinism: the same seed (and thread count) gives bitwise identical
// metrics and θ, for GD with every analysis plugin and for SGD and Adam
// minibatches with stochastic plugins.
BOOST_AUTO_TEST_CASE(same_seed_same_bits) {
  auto run = [](std::size_t batch, bool adam) {
    auto built = nn::build_objective(small_spec());
    std::unique_ptr<optim::Optimizer> opt;
    if (adam) opt = std::make_unique<optim::Adam>(optim::Schedule::constant(0.01));
    else opt = std::make_unique<optim::GradientDescent>(optim::Schedule::constant(0.3));
    TrainerOptions o;
    o.max_steps = 6;
    o.batch_size = batch;
    o.seed = 42;
    Trainer t(*built.objective, *opt, o);
    for (const auto& s : analysis_specs())  // the central flow is GD's alone
      if (!batch || s.rfind("central_flow", 0) != 0) t.attach(PluginRegistry::global().create_from_spec(s), When::every_k(2));
    if (batch) t.attach(PluginRegistry::global().create_from_spec("sgd_rp:draws=4"), When::every_k(3));
    return t.run(built.theta0);
  };
  for (const auto& [batch, adam] : std::vector<std::pair<std::size_t, bool>>{{0, false}, {16, false}, {16, true}}) {
    const RunResult a = run(batch, adam), b = run(batch, adam);
    BOOST_TEST(a.metrics.rows.size() == b.metrics.rows.size());
    bool same = a.metrics.columns == b.metrics.columns;
    for (std::size_t r = 0; same && r < a.metrics.rows.size(); ++r)
      for (std::size_t c = 0; c < a.metrics.rows[r].size(); ++c) {
        const auto &x = a.metrics.rows[r][c], &y = b.metrics.rows[r][c];
        if (x.has_value() != y.has_value() || (x && std::memcmp(&*x, &*y, sizeof(double)) != 0)) same = false;
      }
    BOOST_TEST(same, "batch " << batch << (adam ? " Adam" : " GD/SGD") << ": metrics differ between identical runs");
    BOOST_TEST(std::memcmp(a.theta.data(), b.theta.data(), a.theta.size() * sizeof(double)) == 0);
  }
}

BOOST_AUTO_TEST_CASE(registry_and_bad_options) {
  auto& reg = PluginRegistry::global();
  for (const char* name : {"loss", "accuracy", "grad_norm", "rp", "tau_profile", "sharpness", "corollary1", "sgd_rp",
                           "hessian_trace", "precond_sharpness"}) {
    BOOST_TEST(reg.contains(name), name);
    BOOST_TEST(!reg.info(name).columns.empty());
  }
  auto msg = [&](const std::string& spec) {
    try {
      reg.create_from_spec(spec);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  BOOST_TEST(msg("sharpnes").find("unknown plugin 'sharpnes'") != std::string::npos);
  BOOST_TEST(msg("sharpness:k=two").find("k=two is not a non-negative integer") != std::string::npos);
  BOOST_TEST(msg("sharpness:kk=2").find("unknown option 'kk'") != std::string::npos);
  BOOST_TEST(msg("tau_profile:grid=simpson").find("grid=simpson") != std::string::npos);
  BOOST_TEST(msg("rp:x").find("not key=value") != std::string::npos);
  BOOST_TEST(msg("sharpness:stop=ritz").find("stop=ritz (expected value or residual)") != std::string::npos);
  // limits are checked when the plugin is created (issue 9's probe: these hung or exhausted memory)
  BOOST_TEST(msg("sharpness:k=100000000").find("option k=100000000 is out of range [1, 1000]") != std::string::npos);
  BOOST_TEST(msg("tau_profile:grid=gauss,m=300000").find("m=300000 is out of range [1, 1000]") != std::string::npos);
  BOOST_TEST(msg("sharpness:tol=0").find("tol=0 is out of range") != std::string::npos);
  BOOST_TEST(msg("sharpness:k=2,k=3").find("option 'k' is given twice") != std::string::npos);
  // a solve for k eigenvalues takes at least k HVPs: refused when made, not at the first solve
  BOOST_TEST(msg("sharpness:k=3,max_iter=2").find("plugin sharpness: max_iter=2 is less than k=3") != std::string::npos);
  BOOST_TEST(msg("lambda_min:k=2,max_iter=1").find("plugin lambda_min: max_iter=1 is less than k=2") != std::string::npos);
  BOOST_TEST(msg("eigvec_overlap:k=4,max_iter=3").find("max_iter=3 is less than k=4") != std::string::npos);
  BOOST_TEST(msg("central_flow:max_iter=2").find("plugin central_flow: max_iter=2 is less than k=3") != std::string::npos);
  BOOST_TEST(msg("sharpness:k=3,max_iter=3") == "no error");
  BOOST_TEST(msg("central_flow:k=2,max_iter=2") == "no error");
  // two plugins may not claim the same column
  auto obj = toys::quadratic();
  optim::GradientDescent gd(optim::Schedule::constant(0.01));
  Trainer t(*obj, gd, {});
  t.attach(reg.create("loss"));
  BOOST_CHECK_THROW(t.attach(reg.create("loss")), std::invalid_argument);
  // more eigenpairs than H has (2 × 2): refused when attached, before any step
  for (const char* spec : {"sharpness:k=3", "lambda_min:k=3", "eigvec_overlap:k=3"}) {
    try {
      t.attach(reg.create_from_spec(spec));
      BOOST_ERROR(spec << " was attached");
    } catch (const std::invalid_argument& e) {
      BOOST_TEST(std::string(e.what()).find("k=3 but 'quadratic") != std::string::npos, e.what());
    }
  }
  t.attach(reg.create_from_spec("sharpness:k=2"));  // all of H: fits
}

BOOST_AUTO_TEST_SUITE_END()
