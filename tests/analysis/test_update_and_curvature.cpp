// Issue 11's first plugins, with known answers: update_rp along the actual
// update (equal to rp under GD; the closed form of a quadratic under
// momentum; online = offline) and lambda_min (against a dense solve, with
// negative curvature).
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xview.hpp>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;
using namespace eos::analysis;

namespace {

RunResult run(Objective& f, optim::Optimizer& opt, const Tensor& theta0, std::vector<std::string> specs,
              std::size_t steps, const std::string& trajectory = "") {
  TrainerOptions o;
  o.max_steps = steps;
  o.divergence_factor = INFINITY;
  Trainer t(f, opt, o);
  for (const auto& s : specs) t.attach(PluginRegistry::global().create_from_spec(s));
  TrajectorySink traj(trajectory.empty() ? "unused" : trajectory, 1);
  if (!trajectory.empty()) t.record_to(traj);
  return t.run(theta0);
}

// −H, to get the smallest eigenvalues from dense_top.
class Negated : public HessianOperator {
 public:
  explicit Negated(HessianOperator& H) : H_(H) {}
  std::size_t dim() const override { return H_.dim(); }
  double value() const override { return H_.value(); }
  const Tensor& grad() const override { return H_.grad(); }
  void apply(const Tensor& v, Tensor& out) override {
    H_.apply(v, out);
    out *= -1.0;
  }
  using HessianOperator::apply;

 private:
  HessianOperator& H_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(update_and_curvature)

BOOST_AUTO_TEST_CASE(update_rp_is_rp_under_gd) {
  auto f = toys::tanh_neuron();
  optim::GradientDescent gd(optim::Schedule::constant(2.0 / 150));
  const RunResult r = run(*f, gd, Tensor{13.0, 0.01}, {"rp", "update_rp"}, 300);
  std::size_t compared = 0;
  for (std::size_t i = 0; i + 1 < r.metrics.rows.size(); ++i) {
    const double rp = *r.metrics.at(i, "rp"), urp = *r.metrics.at(i, "update_rp");
    const double L = *r.metrics.at(i, "L_dir"), uL = *r.metrics.at(i, "update_L");
    // θ_t − θ_{t+1} is η∇f up to one rounding of θ_{t+1}: agreement to ~|θ|·ε/‖η∇f‖.
    BOOST_TEST(std::abs(urp - rp) <= 1e-8 * std::max(1.0, std::abs(rp)), "step " << i << ": " << urp << " vs " << rp);
    BOOST_TEST(std::abs(uL - L) <= 1e-8 * std::max(1.0, std::abs(L)), "step " << i << ": " << uL << " vs " << L);
    BOOST_TEST(std::abs(*r.metrics.at(i, "update_cos") - 1.0) < 1e-10);
    ++compared;
  }
  BOOST_TEST(compared == 300u);
  BOOST_TEST(!r.metrics.at(300, "update_rp").has_value());  // no update after the last step
}

// On the quadratic 20θ₁² + θ₂², RP, L, cosines and λmax do not depend on
// the scale of θ, and ‖∇f‖ scales with it — also where ‖∇f‖² leaves
// float64's range: θ ~ 1e153 (f ~ 1e307, ‖∇f‖² ~ 1e309) and θ ~ 1e-170
// (‖∇f‖² ~ 1e-337; f itself underflows there, so RP is not compared).
// Before, a diverging run's last rows got grad_norm = inf and RP, cosines 0.
BOOST_AUTO_TEST_CASE(step_quantities_are_scale_free_past_float64s_squares) {
  auto f = toys::quadratic();
  const std::vector<std::string> specs = {"grad_norm", "rp", "update_rp", "sharpness:tol=1e-10"};
  auto run_at = [&](double scale) {
    optim::GradientDescent gd(optim::Schedule::constant(0.04));
    return run(*f, gd, Tensor{0.7 * scale, 1.3 * scale}, specs, 1);
  };
  const RunResult at_one = run_at(1.0);
  for (const double scale : {1e153, 1e-170}) {
    const RunResult r = run_at(scale);
    BOOST_TEST_REQUIRE((r.outcome == Outcome::MaxSteps), r.describe());
    auto same = [&](const char* column, double times) {
      const double want = *at_one.metrics.at(0, column) * times, got = r.metrics.at(0, column).value_or(NAN);
      BOOST_TEST(std::abs(got - want) <= 1e-12 * std::abs(want), column << " at scale " << scale << ": " << got << " vs " << want);
    };
    same("grad_norm", scale);
    same("L_dir", 1.0);
    same("update_L", 1.0);
    same("update_cos", 1.0);
    same("update_norm", scale);
    same("lambda_max", 1.0);
    same("cos_grad_top", 1.0);
    if (scale > 1) {
      same("rp", 1.0);
      same("update_rp", 1.0);
    }
  }
  BOOST_TEST(std::abs(*at_one.metrics.at(0, "lambda_max") - 40.0) <= 1e-9);
}

BOOST_AUTO_TEST_CASE(update_rp_under_momentum_has_the_quadratic_closed_form) {
  // f = ½θᵀAθ, A = diag(40, 2): for any step v, L(θ; v) = vᵀAv/‖v‖² and
  // RP_U = −1 + ½·vᵀAv/⟨Aθ, v⟩.
  auto f = toys::quadratic();
  optim::Momentum heavy_ball(optim::Schedule::constant(0.02), 0.9);
  const RunResult r = run(*f, heavy_ball, Tensor{1.0, 1.0}, {"theta:n=2", "update_rp"}, 60);
  for (std::size_t i = 0; i + 1 < r.metrics.rows.size(); ++i) {
    const double a = *r.metrics.at(i, "theta_1"), b = *r.metrics.at(i, "theta_2");
    const double v1 = a - *r.metrics.at(i + 1, "theta_1"), v2 = b - *r.metrics.at(i + 1, "theta_2");
    const double vAv = 40 * v1 * v1 + 2 * v2 * v2, vv = v1 * v1 + v2 * v2, gv = 40 * a * v1 + 2 * b * v2;
    BOOST_TEST(std::abs(*r.metrics.at(i, "update_L") - vAv / vv) < 1e-9 * 40, "step " << i);
    BOOST_TEST(std::abs(*r.metrics.at(i, "update_rp") - (-1.0 + 0.5 * vAv / gv)) < 1e-8 * std::max(1.0, std::abs(vAv / gv)),
               "step " << i);
    BOOST_TEST(*r.metrics.at(i, "update_cos") <= 1.0 + 1e-12);
  }
  // Momentum's update leaves the gradient's direction: the cosine drops below 1 somewhere.
  double lowest = 1.0;
  for (std::size_t i = 0; i + 1 < r.metrics.rows.size(); ++i) lowest = std::min(lowest, *r.metrics.at(i, "update_cos"));
  BOOST_TEST(lowest < 0.9);
}

BOOST_AUTO_TEST_CASE(update_rp_offline_equals_online) {
  auto f = toys::tanh_quadratic();
  const auto dir = eos::test::scratch_dir("update-rp");
  optim::Adam adam(optim::Schedule::constant(0.05));
  const RunResult online = run(*f, adam, Tensor{0.3, 1.0}, {"update_rp"}, 25, dir.string());
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(PluginRegistry::global().create("update_rp"));
  const MetricsTable offline = analyze_trajectory(read_trajectory(dir.string()), *f, plugins);
  BOOST_TEST_REQUIRE(offline.rows.size() == online.metrics.rows.size());
  for (std::size_t i = 0; i < offline.rows.size(); ++i)
    for (const char* c : {"update_rp", "update_L", "update_cos", "update_norm"}) {
      const auto a = online.metrics.at(i, c), b = offline.at(i, c);
      BOOST_TEST(a.has_value() == b.has_value(), c << " at " << i);
      if (a && b) BOOST_TEST(*a == *b, c << " at " << i);
    }
}

BOOST_AUTO_TEST_CASE(lambda_min_finds_negative_curvature) {
  // tanh(20θ₁² + θ₂²) far from the origin: sech² flattens the bowl and the
  // −2·tanh·sech²·(Aθ)(Aθ)ᵀ term bends it down along Aθ.
  auto f = toys::tanh_quadratic();
  for (const Tensor theta : {Tensor{0.05, 0.3}, Tensor{0.2, 0.5}, Tensor{0.0, 0.1}}) {
    auto H = f->hessian_at(theta);
    Negated N(*H);
    const EigenResult dense = dense_top(N, 2);
    StepData d;
    d.theta = theta;
    d.lr = 0.1;
    StepContext ctx(d, *f, nullptr, 0, 1);
    auto p = PluginRegistry::global().create_from_spec("lambda_min:k=2,tol=1e-12");
    Row row(std::vector<std::string>{"lambda_min", "lambda_min_2", "lambda_min_residual", "lambda_min_hvps"});
    p->observe(ctx, row);
    BOOST_TEST(std::abs(*row.get("lambda_min") - -dense.values[0]) < 1e-10 * std::max(1.0, dense.values[0]));
    BOOST_TEST(std::abs(*row.get("lambda_min_2") - -dense.values[1]) < 1e-10 * std::max(1.0, dense.values[0]));
    BOOST_TEST(*row.get("lambda_min") <= *row.get("lambda_min_2"));
  }
  // A point where the smallest eigenvalue is negative, and the quadratic's exact λmin = 2.
  {
    auto H = f->hessian_at(Tensor{0.2, 0.5});
    Negated N(*H);
    BOOST_TEST(-dense_top(N, 1).values[0] < 0.0);
  }
  auto q = toys::quadratic();
  StepData d;
  d.theta = Tensor{0.7, -0.4};
  d.lr = 0.01;
  StepContext ctx(d, *q, nullptr, 0, 1);
  auto p = PluginRegistry::global().create_from_spec("lambda_min:tol=1e-12");
  Row row(p->columns());
  p->observe(ctx, row);
  BOOST_TEST(std::abs(*row.get("lambda_min") - 2.0) < 1e-10);
}

BOOST_AUTO_TEST_SUITE_END()

// block_sharpness, eigvec_overlap, density and regime
BOOST_AUTO_TEST_SUITE(spectra_and_regimes)

namespace {

// f = ½θᵀAθ with A = blockdiag(A₁, A₂, a₃): blocks "a.weight" (3), "a.bias"
// (2), "b.weight" (1), as a model's would be named.
class BlockQuadratic : public Objective {
 public:
  BlockQuadratic() : A_(zeros({6, 6})) {
    const double A1[3][3] = {{4, 1, 0}, {1, 3, 1}, {0, 1, 2}};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) A_(i, j) = A1[i][j];
    A_(3, 3) = 5;
    A_(4, 4) = -1;  // a diagonal block: Rademacher probes give its trace exactly
    A_(5, 5) = 7;
    f_ = std::make_unique<FunctionObjective>("block quadratic", 6, [this](ad::Var th) {
      ad::Var col = ad::reshape(th, {6, 1});
      return 0.5 * ad::dot(col, ad::matmul(th.tape()->constant(A_), col));
    });
  }
  std::string describe() const override { return "block quadratic"; }
  std::size_t dim() const override { return 6; }
  double value(const Tensor& t) override { return f_->value(t); }
  using Objective::value_and_grad;
  double value_and_grad(const Tensor& t, Tensor& g) override { return f_->value_and_grad(t, g); }
  Tensor hvp(const Tensor& t, const Tensor& v) override { return f_->hvp(t, v); }
  std::unique_ptr<HessianOperator> hessian_at(const Tensor& t) override { return f_->hessian_at(t); }
  std::vector<ParameterSlice> parameter_slices() const override {
    return {{"a.weight", 0, {3}}, {"a.bias", 3, {2}}, {"b.weight", 5, {1}}};
  }

 private:
  Tensor A_;
  std::unique_ptr<FunctionObjective> f_;
};

Row observe_once(Plugin& p, Objective& f, const Tensor& theta) {
  StepData d;
  d.theta = theta;
  d.lr = 0.1;
  StepContext ctx(d, f, nullptr, 0, 1);
  Row row(p.columns());
  p.observe(ctx, row);
  return row;
}

}  // namespace

BOOST_AUTO_TEST_CASE(block_sharpness_known_answers) {
  BlockQuadratic f;
  const Tensor theta{0.1, -0.2, 0.3, 0.4, -0.5, 0.6};
  // λmax of [[4,1,0],[1,3,1],[0,1,2]] = 3 + √3; trace 9.
  auto per_parameter = PluginRegistry::global().create_from_spec("block_sharpness:tol=1e-12,probes=400");
  per_parameter->bind(f);
  const std::vector<std::string> cols = per_parameter->columns();
  BOOST_TEST(cols.size() == 9u);
  BOOST_TEST(cols[0] == "block_lambda_max[a.weight]");
  Row r = observe_once(*per_parameter, f, theta);
  BOOST_TEST(std::abs(*r.get("block_lambda_max[a.weight]") - (3.0 + std::sqrt(3.0))) < 1e-10);
  BOOST_TEST(std::abs(*r.get("block_lambda_max[a.bias]") - 5.0) < 1e-10);
  BOOST_TEST(std::abs(*r.get("block_lambda_max[b.weight]") - 7.0) < 1e-10);
  const double t1 = *r.get("block_trace[a.weight]"), se1 = *r.get("block_trace_se[a.weight]");
  BOOST_TEST(std::abs(t1 - 9.0) < 5 * se1 + 1e-12, t1 << " ± " << se1);
  BOOST_TEST(se1 > 0.0);
  // A diagonal block: every probe gives its trace; only the mean's rounding is left.
  BOOST_TEST(std::abs(*r.get("block_trace[a.bias]") - 4.0) < 1e-12);
  BOOST_TEST(*r.get("block_trace_se[a.bias]") < 1e-12);
  BOOST_TEST(std::abs(*r.get("block_trace[b.weight]") - 7.0) < 1e-12);
  // Per layer: "a" = a.weight and a.bias together, blockdiag(A₁, diag(5, −1)): λmax 5, trace 13.
  auto per_layer = PluginRegistry::global().create_from_spec("block_sharpness:group=layer,tol=1e-12,probes=400");
  per_layer->bind(f);
  BOOST_TEST(per_layer->columns().size() == 6u);
  r = observe_once(*per_layer, f, theta);
  BOOST_TEST(std::abs(*r.get("block_lambda_max[a]") - 5.0) < 1e-10);
  BOOST_TEST(std::abs(*r.get("block_trace[a]") - 13.0) < 5 * *r.get("block_trace_se[a]") + 1e-12);
  // A bare function has no blocks: refused by name when attached.
  auto toy = toys::quadratic();
  optim::GradientDescent gd(optim::Schedule::constant(0.01));
  Trainer t(*toy, gd, {});
  try {
    t.attach(PluginRegistry::global().create("block_sharpness"));
    BOOST_ERROR("a function without blocks was accepted");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("has no named parameter blocks") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(block_sharpness_of_an_mlp_matches_its_dense_hessian) {
  nn::ObjectiveSpec s;
  s.data = {.source = "gaussian_clusters", .n = 40, .standardize = true, .dim = 4, .classes = 3, .separation = 1.0, .seed = 1};
  s.hidden = {5};
  s.init_seed = 2;
  auto built = nn::build_objective(s);
  const std::size_t n = built.objective->dim();
  // The dense Hessian, one HVP per basis vector.
  Tensor H = zeros({n, n}), e = zeros({n});
  for (std::size_t j = 0; j < n; ++j) {
    e(j) = 1.0;
    const Tensor col = built.objective->hvp(built.theta0, e);
    for (std::size_t i = 0; i < n; ++i) H(i, j) = col(i);
    e(j) = 0.0;
  }
  auto p = PluginRegistry::global().create_from_spec("block_sharpness:tol=1e-12,probes=2000");
  p->bind(*built.objective);
  const Row r = observe_once(*p, *built.objective, built.theta0);
  for (const auto& b : built.objective->parameter_slices()) {
    Tensor block = xt::view(H, xt::range(b.offset, b.end()), xt::range(b.offset, b.end()));
    block = 0.5 * (block + xt::transpose(block));
    const Tensor eig = xt::linalg::eigvalsh(block);
    const double lmax = eig(b.size() - 1), trace = xt::sum(xt::diagonal(block))();
    BOOST_TEST(std::abs(*r.get("block_lambda_max[" + b.name + "]") - lmax) < 1e-9 * std::max(1.0, std::abs(lmax)),
               b.name);
    const double est = *r.get("block_trace[" + b.name + "]"), se = *r.get("block_trace_se[" + b.name + "]");
    BOOST_TEST(std::abs(est - trace) < 5 * se + 1e-10, b.name << ": " << est << " ± " << se << " vs " << trace);
  }
}

BOOST_AUTO_TEST_CASE(eigvec_overlap_tracks_and_saves_the_top_eigenvectors) {
  // The quadratic's eigenvectors are e₁ (λ = 40) and e₂ (λ = 2) everywhere:
  // overlap 1 at every step; the saved vectors are ±e₁, signs aligned.
  auto f = toys::quadratic();
  const auto dir = eos::test::scratch_dir("eigvecs");
  optim::GradientDescent gd(optim::Schedule::constant(0.01));
  const RunResult r = run(*f, gd, Tensor{1.0, 1.0},
                          {"eigvec_overlap:k=2,tol=1e-12,save_every=2,dir=" + dir.string()}, 6);
  BOOST_TEST(!r.metrics.at(0, "eigvec_overlap").has_value());  // nothing to compare with at the first step
  for (std::size_t i = 1; i < r.metrics.rows.size(); ++i) {
    BOOST_TEST(std::abs(*r.metrics.at(i, "eigvec_overlap") - 1.0) < 1e-12);
    BOOST_TEST(std::abs(*r.metrics.at(i, "eigvec_subspace_overlap") - 1.0) < 1e-12);
  }
  std::vector<std::string> saved;
  for (const auto& e : std::filesystem::directory_iterator(dir)) saved.push_back(e.path().filename().string());
  std::sort(saved.begin(), saved.end());
  BOOST_TEST(saved == (std::vector<std::string>{"eigvecs_step_00000000.npy", "eigvecs_step_00000002.npy",
                                                "eigvecs_step_00000004.npy", "eigvecs_step_00000006.npy"}),
             boost::test_tools::per_element());
  const Tensor v0 = read_npy((dir / "eigvecs_step_00000000.npy").string());
  const Tensor v6 = read_npy((dir / "eigvecs_step_00000006.npy").string());
  BOOST_TEST(v0.shape()[0] == 2u);
  BOOST_TEST(std::abs(std::abs(v0(0, 0)) - 1.0) < 1e-12);  // v₁ = ±e₁
  BOOST_TEST(v6(0, 0) == v0(0, 0));                         // the sign kept along the run
  BOOST_TEST(v6(1, 1) == v0(1, 1));

  // On the tanh neuron at the edge of stability the top direction turns: overlap below 1.
  auto neuron = toys::tanh_neuron();
  optim::GradientDescent gd2(optim::Schedule::constant(2.0 / 150));
  const RunResult e = run(*neuron, gd2, Tensor{13.0, 0.01}, {"eigvec_overlap:tol=1e-10"}, 200);
  double lowest = 1.0;
  for (std::size_t i = 1; i < e.metrics.rows.size(); ++i) {
    const double o = *e.metrics.at(i, "eigvec_overlap");
    BOOST_TEST((o >= 0.0 && o <= 1.0 + 1e-12));
    lowest = std::min(lowest, o);
  }
  BOOST_TEST(lowest < 0.999);
}

BOOST_AUTO_TEST_CASE(density_by_lanczos_quadrature_has_known_answers) {
  // f = ½ Σ aᵢθᵢ² with 30 distinct aᵢ in [−3, 12]: with m ≥ 30 Lanczos steps
  // from a Rademacher probe the Gauss nodes are the aᵢ, each with weight 1/30,
  // and zᵀHz = Σ aᵢ for every probe (a diagonal H): the trace is exact.
  const std::size_t n = 30;
  Tensor a = Tensor::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) a(i) = -3.0 + 15.0 * double(i * i) / double((n - 1) * (n - 1));
  FunctionObjective f("diagonal quadratic", n, [a](ad::Var th) {
    return 0.5 * ad::sum(ad::mul(th.tape()->constant(a), ad::square(th)));
  });
  const auto dir = eos::test::scratch_dir("density");
  StepData d;
  d.step = 7;
  d.theta = zeros({n});
  d.lr = 0.1;
  StepContext ctx(d, f, nullptr, 0, 1);
  ctx.set_output_dir(dir.string());
  auto p = PluginRegistry::global().create_from_spec("density:probes=4,steps=40,points=2000,sigma=0.005");
  Row row(p->columns());
  p->observe(ctx, row);
  BOOST_TEST(std::abs(*row.get("density_lambda_min") - -3.0) < 1e-10);
  BOOST_TEST(std::abs(*row.get("density_lambda_max") - 12.0) < 1e-10);
  const double trace = xt::sum(a)();
  BOOST_TEST(std::abs(*row.get("density_trace") - trace) < 1e-10 * std::abs(trace));
  BOOST_TEST(*row.get("density_trace_se") < 1e-10);

  // The nodes file: 4 probes × 30 nodes, weights 1/30; the density integrates to 1.
  const MetricsTable nodes = read_metrics_csv((dir / "density" / "step_00000007_nodes.csv").string());
  BOOST_TEST(nodes.rows.size() == 4 * n);
  for (std::size_t r = 0; r < nodes.rows.size(); ++r) BOOST_TEST(std::abs(*nodes.at(r, "weight") - 1.0 / n) < 1e-10);
  const MetricsTable grid = read_metrics_csv((dir / "density" / "step_00000007.csv").string());
  BOOST_TEST(grid.rows.size() == 2000u);
  double integral = 0.0;
  for (std::size_t r = 1; r < grid.rows.size(); ++r)
    integral += 0.5 * (*grid.at(r, "density") + *grid.at(r - 1, "density")) *
                (*grid.at(r, "lambda") - *grid.at(r - 1, "lambda"));
  BOOST_TEST(std::abs(integral - 1.0) < 1e-3, integral);

  // Fewer steps than the dimension: the extreme nodes still bracket inside
  // the spectrum (Ritz values interlace) and the weights still sum to 1.
  const auto q = lanczos_quadrature(*f.hessian_at(d.theta), Tensor(xt::ones<double>({n})), 6);
  BOOST_TEST(q.nodes.size() == 6u);
  BOOST_TEST(q.nodes.front() >= -3.0 - 1e-12);
  BOOST_TEST(q.nodes.back() <= 12.0 + 1e-12);
  double total = 0.0;
  for (double w : q.weights) total += w;
  BOOST_TEST(std::abs(total - 1.0) < 1e-12);

  // One probe (PyHessian's default): the trace is its zᵀHz (Σ aᵢ for a
  // Rademacher z on a diagonal H), and the standard error is left empty.
  auto one = PluginRegistry::global().create_from_spec("density:probes=1,steps=40");
  Row single(one->columns());
  one->observe(ctx, single);
  BOOST_TEST(std::abs(*single.get("density_trace") - trace) < 1e-10 * std::abs(trace));
  BOOST_TEST(!single.get("density_trace_se").has_value());
  BOOST_CHECK_THROW(PluginRegistry::global().create_from_spec("density:probes=0"), std::invalid_argument);
}

namespace {
struct RegimeRun {
  RunResult result;
  nlohmann::json summary;
};
RegimeRun run_regime(Objective& f, double eta, const Tensor& theta0, std::size_t steps, const std::string& name,
                     std::size_t sharpness_every = 0) {
  const auto dir = eos::test::scratch_dir("regime-" + name);
  optim::GradientDescent gd(optim::Schedule::constant(eta));
  TrainerOptions o;
  o.max_steps = steps;
  o.divergence_factor = INFINITY;
  const std::string summary_json = (dir / "summary.json").string();
  Trainer t(f, gd, o);
  t.attach(PluginRegistry::global().create("loss"));
  if (sharpness_every) t.attach(PluginRegistry::global().create("sharpness"), When::every_k(sharpness_every));
  t.attach(PluginRegistry::global().create("regime"));
  SummarySink summary(summary_json);
  t.record_to(summary);
  RegimeRun r;
  r.result = t.run(theta0);
  std::ifstream in(summary_json);
  r.summary = nlohmann::json::parse(in).at("regime");
  return r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(regime_labels_example_1s_three_step_sizes) {
  // f = 20θ₁² + θ₂² (L = 40): η = 2/41 converges (stable), η = 2/40
  // oscillates forever along θ₁ (L(θ; η∇f) → 2/η: unstable, not diverging),
  // η = 2/39 diverges (the loss grows ×1.105 a step).
  auto f = toys::quadratic();
  const RegimeRun stable = run_regime(*f, 2.0 / 41, Tensor{1.0, 1.0}, 80, "41");
  BOOST_TEST(stable.summary.at("first_unstable_step").is_null());
  BOOST_TEST(stable.summary.at("fractions").at("stable").get<double>() == 1.0);
  const RegimeRun edge = run_regime(*f, 2.0 / 40, Tensor{1.0, 1.0}, 80, "40");
  // L(θ_t; η∇f) → 40 as θ₂ dies out: ηL/2 passes 1 − 0.001 within a few steps.
  BOOST_TEST(edge.summary.at("first_unstable_step").get<int>() <= 10);
  BOOST_TEST(edge.summary.at("fractions").at("diverging").get<double>() == 0.0);
  BOOST_TEST(*edge.result.metrics.at(80, "regime") == 1.0);
  const RegimeRun diverging = run_regime(*f, 2.0 / 39, Tensor{1.0, 1.0}, 80, "39");
  BOOST_TEST(*diverging.result.metrics.at(80, "regime") == 2.0);
  BOOST_TEST(diverging.summary.at("fractions").at("diverging").get<double>() > 0.5);
}

BOOST_AUTO_TEST_CASE(regime_finds_the_edge_of_stability_of_the_tanh_neuron) {
  // Example 3 at η = 2/150 from (13, 0.01): the first step overshoots
  // (ηλmax/2 = 2.25: the loss rises 6000× in four steps, a catapult), GD
  // then converges unstably (RP > 0 at many steps) for about 30 steps, and
  // finally descends with λmax ≈ 0.99·2/η and RP ≈ −0.01: stable again.
  auto f = toys::tanh_neuron();
  const RegimeRun r = run_regime(*f, 2.0 / 150, Tensor{13.0, 0.01}, 400, "neuron");
  BOOST_TEST_REQUIRE(!r.summary.at("first_unstable_step").is_null());
  BOOST_TEST(r.summary.at("first_unstable_step").get<std::size_t>() == 0u);
  const double unstable = r.summary.at("fractions").at("unstable").get<double>();
  BOOST_TEST((unstable > 0.03 && unstable < 0.5), unstable);
  BOOST_TEST(r.summary.at("fractions").at("diverging").get<double>() == 0.0);  // the catapult is not divergence
  BOOST_TEST(*r.result.metrics.at(400, "regime") == 0.0);
  BOOST_TEST_MESSAGE("tanh neuron: fractions " << r.summary.at("fractions").dump());
}

BOOST_AUTO_TEST_CASE(regime_on_fashion_mnist_at_a_stable_and_an_unstable_step_size,
                     *boost::unit_test::label("slow")) {
  // fc-tanh 784-200-200-10 on the first 1000 Fashion-MNIST images (the CLI's
  // preparation): at η = 2/100 GD stays stable; at η = 2/10 λmax reaches 2/η
  // and the loss first goes up at step 133, GD oscillates at the edge of
  // stability for about 150 steps, then settles into a flat region.
  nn::ObjectiveSpec spec;
  spec.data.n = 1000;
  nn::BuiltObjective b = nn::build_objective(spec);
  const RegimeRun stable = run_regime(*b.objective, 2.0 / 100, b.theta0, 300, "fmnist-stable");
  BOOST_TEST(stable.summary.at("first_unstable_step").is_null());
  BOOST_TEST(stable.summary.at("fractions").at("stable").get<double>() == 1.0);

  const RegimeRun edge = run_regime(*b.objective, 2.0 / 10, b.theta0, 400, "fmnist-unstable", 10);
  std::optional<std::size_t> first_increase;
  for (std::size_t t = 0; t < 400 && !first_increase; ++t)
    if (*edge.result.metrics.at(t + 1, "loss") > *edge.result.metrics.at(t, "loss")) first_increase = t;
  BOOST_TEST_REQUIRE(first_increase.has_value());
  BOOST_TEST_REQUIRE(!edge.summary.at("first_unstable_step").is_null());
  const auto first = edge.summary.at("first_unstable_step").get<std::size_t>();
  // Dated within one window of where GD stops being a descent method…
  BOOST_TEST(std::abs(double(first) - double(*first_increase)) <= 20.0, first << " vs " << *first_increase);
  // … where the sharpness is at 2/η (measured every 10 steps),
  const auto near = edge.result.metrics.at(first / 10 * 10 + 10, "lambda_max");
  BOOST_TEST_REQUIRE(near.has_value());
  BOOST_TEST(*near * 0.2 / 2 >= 0.95, "ηλmax/2 = " << *near * 0.2 / 2);
  // … and the edge-of-stability spikes are not divergence.
  BOOST_TEST(edge.summary.at("fractions").at("diverging").get<double>() == 0.0);
  BOOST_TEST(edge.summary.at("fractions").at("unstable").get<double>() >= 0.2);
  BOOST_TEST_MESSAGE("Fashion-MNIST η = 2/10: first unstable step " << first << ", first loss increase "
                                                                     << *first_increase << ", fractions "
                                                                     << edge.summary.at("fractions").dump());
}

BOOST_AUTO_TEST_SUITE_END()
