// Issue 11's first plugins, with known answers: update_rp along the actual
// update (equal to rp under GD; the closed form of a quadratic under
// momentum; online = offline) and lambda_min (against a dense solve, with
// negative curvature).
#include <cmath>
#include <filesystem>

#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;
using namespace eos::analysis;

namespace {

RunResult run(Objective& f, optim::Optimizer& opt, const Tensor& theta0, std::vector<std::string> specs,
              std::size_t steps, const std::string& trajectory = "") {
  TrainerOptions o;
  o.max_steps = steps;
  o.divergence_factor = INFINITY;
  if (!trajectory.empty()) {
    o.trajectory_every = 1;
    o.trajectory_dir = trajectory;
  }
  Trainer t(f, opt, o);
  for (const auto& s : specs) t.attach(PluginRegistry::global().create_from_spec(s));
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
  const auto dir = std::filesystem::temp_directory_path() / "eoslab-tests-update-rp";
  std::filesystem::remove_all(dir);
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
