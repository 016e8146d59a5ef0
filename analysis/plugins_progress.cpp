// The plugins of progress along the trajectory: loss, accuracy, gradient
// norm, θ, relative progress and directional smoothness along the GD step
// and along the actual update, the τ-profile of Theorem 2, Corollary 1's
// bound, and the SGD expectations. Each block: the quantity (the paper's
// definition), its columns, its options.
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <filesystem>
#include <numbers>
#include <numeric>

#include <fmt/format.h>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xview.hpp>

#include "../core/npy.hpp"
#include "../core/random.hpp"
#include "eigen.hpp"
#include "plugin.hpp"
#include "plugins_common.hpp"
#include "quadrature.hpp"

namespace eos::analysis {
namespace detail {
namespace {

// L(θ; ητ∇f) = ⟨∇f, ∇f − ∇f(θ − ητ∇f)⟩ / (ητ‖∇f‖²)
double smoothness_at(StepContext& ctx, double tau, Tensor& point) {
  const Tensor& g = ctx.grad();
  if (tau == 1.0) return ctx.directional_smoothness();  // the probe: free under GD
  point = ctx.theta();
  xt::noalias(point) -= (ctx.lr() * tau) * g;
  // v = ητ∇f, so L = ⟨∇f, ∇f − ∇f(θ − v)⟩/(ητ‖∇f‖²)
  return directional_smoothness(g, g, ctx.objective().value_and_grad(point).grad) / (ctx.lr() * tau);
}

// ---------------------------------------------------------------------------
class LossPlugin : public Plugin {
 public:
  std::string name() const override { return "loss"; }
  std::vector<std::string> columns() const override { return {"loss"}; }
  void observe(StepContext& ctx, Row& row) override { row.set("loss", ctx.loss()); }
};

class AccuracyPlugin : public Plugin {
 public:
  std::string name() const override { return "accuracy"; }
  std::vector<std::string> columns() const override { return {"accuracy"}; }
  void observe(StepContext& ctx, Row& row) override {
    if (auto a = ctx.objective().accuracy(ctx.theta())) row.set("accuracy", *a);
  }
};

class GradNormPlugin : public Plugin {
 public:
  std::string name() const override { return "grad_norm"; }
  std::vector<std::string> columns() const override { return {"grad_norm"}; }
  void observe(StepContext& ctx, Row& row) override { row.set("grad_norm", ctx.grad_norm()); }
};

// The first n coordinates of θ_t (for the two-parameter toys: the iterate in the plane).
class ThetaPlugin : public Plugin {
 public:
  explicit ThetaPlugin(std::size_t n) : n_(n) {
    if (n_ == 0 || n_ > 64) throw std::invalid_argument(fmt::format("plugin theta: n={} (expected 1 … 64)", n_));
  }
  std::string name() const override { return "theta"; }
  std::vector<std::string> columns() const override {
    std::vector<std::string> c;
    for (std::size_t i = 1; i <= n_; ++i) c.push_back(fmt::format("theta_{}", i));
    return c;
  }
  void observe(StepContext& ctx, Row& row) override {
    if (n_ > ctx.theta().size())
      throw std::invalid_argument(fmt::format("plugin theta: n={} but θ has {} coordinates", n_, ctx.theta().size()));
    for (std::size_t i = 0; i < n_; ++i) row.set(fmt::format("theta_{}", i + 1), ctx.theta()(i));
  }

 private:
  std::size_t n_;
};

// RP(θ) = (f(θ − η∇f) − f(θ))/(η‖∇f‖²); L(θ; η∇f); (4.3): RP ≈ −1 + (η/2)L.
class RelativeProgressPlugin : public Plugin {
 public:
  std::string name() const override { return "rp"; }
  std::vector<std::string> columns() const override { return {"rp", "L_dir", "rp_pred_43", "two_over_eta"}; }
  void observe(StepContext& ctx, Row& row) override {
    const double L = ctx.directional_smoothness();
    row.set("rp", ctx.relative_progress());
    row.set("L_dir", L);
    row.set("rp_pred_43", -1.0 + 0.5 * ctx.lr() * L);
    row.set("two_over_eta", 2.0 / ctx.lr());
  }
};

// RP and L along the update the optimizer actually made, v = θ_t − θ_{t+1}
// (= η_t U_t): RP_U = (f(θ_{t+1}) − f(θ_t)) / ⟨∇f(θ_t), v⟩ and
// L(θ_t; v) = ⟨v, ∇f(θ_t) − ∇f(θ_{t+1})⟩/‖v‖² (Definition 2). Under plain GD,
// v = η∇f and both are the rp plugin's RP and L_dir. For momentum or Adam,
// RP_U < 0 means the step went downhill relative to its first-order
// prediction along v, and L(θ; v) is the curvature met along v: an update
// whose L exceeds 2/η overshoots along its own direction.
class UpdateRelativeProgressPlugin : public Plugin {
 public:
  std::string name() const override { return "update_rp"; }
  std::vector<std::string> columns() const override {
    return {"update_rp", "update_L", "update_cos", "update_norm"};
  }
  void observe(StepContext& ctx, Row& row) override {
    if (!ctx.has_next()) return;  // the last step, or offline without θ_{t+1}: empty cells
    const Tensor& g = ctx.grad();
    copy_into(v_, ctx.theta());
    v_ -= ctx.next_theta();
    const double gv = inner(g, v_), vv = inner(v_, v_), gg = inner(g, g);
    const double nv = square_in_range(vv) ? std::sqrt(vv) : eos::norm(v_);
    if (nv == 0.0) return;  // no move: nothing to measure along
    const double change = ctx.next_loss() - ctx.loss();
    row.set("update_L", analysis::directional_smoothness(v_, g, ctx.next_grad()));
    row.set("update_norm", nv);
    if (square_in_range(gv) && square_in_range(vv) && square_in_range(gg) && square_in_range(gg * vv)) {
      row.set("update_rp", change / gv);
      row.set("update_cos", gv / std::sqrt(gg * vv));
      return;
    }
    // A square or product past float64's range (a diverging run, or one at
    // rest): ⟨∇f, v⟩ = ‖∇f‖‖v‖·cos, with cos = ⟨∇f/‖∇f‖, v/‖v‖⟩.
    const double ng = eos::norm(g);
    if (!(ng > 0) || !std::isfinite(ng) || !std::isfinite(nv)) {
      row.set("update_rp", change / gv);
      return;
    }
    double cos = 0.0;
    for (std::size_t i = 0; i < g.size(); ++i) cos += g.data()[i] / ng * (v_.data()[i] / nv);
    row.set("update_rp", change / ng / nv / cos);
    row.set("update_cos", cos);
  }

 private:
  Tensor v_;
};

// L(θ; ητ∇f) over a τ grid; Theorem 2: RP = −1 + (η/2)·2∫₀¹ τ L dτ.
class TauProfilePlugin : public Plugin {
 public:
  TauProfilePlugin(std::string grid, std::size_t m) : grid_(std::move(grid)) {
    if (grid_ == "uniform") q_ = uniform_trapezoid(m);
    else if (grid_ == "gauss") q_ = gauss_legendre(m);
    else throw std::invalid_argument(fmt::format("plugin tau_profile: grid={} (expected uniform or gauss)", grid_));
  }
  std::string name() const override { return "tau_profile"; }
  std::vector<std::string> columns() const override {
    return {"tau_L_mean", "tau_L_std", "thm2_integral", "thm2_rp", "thm2_residual"};
  }
  void observe(StepContext& ctx, Row& row) override {
    std::vector<double> L;
    double integral = 0.0;
    for (std::size_t j = 0; j < q_.nodes.size(); ++j) {
      L.push_back(smoothness_at(ctx, q_.nodes[j], point_));
      integral += 2.0 * q_.weights[j] * q_.nodes[j] * L.back();
    }
    double mean = std::accumulate(L.begin(), L.end(), 0.0) / double(L.size()), var = 0.0;
    for (double v : L) var += (v - mean) * (v - mean) / double(L.size());
    const double pred = -1.0 + 0.5 * ctx.lr() * integral;
    row.set("tau_L_mean", mean);
    row.set("tau_L_std", std::sqrt(var));
    row.set("thm2_integral", integral);
    row.set("thm2_rp", pred);
    row.set("thm2_residual", std::abs(ctx.relative_progress() - pred));
  }

 private:
  std::string grid_;
  Quadrature q_;
  Tensor point_;
};

// Corollary 1: L_t = sup over θ_t → θ_t − η∇f of λmax ≥ (2/η)(RP + 1).
class Corollary1Plugin : public Plugin {
 public:
  Corollary1Plugin(std::size_t points, LanczosOptions o) : points_(points), opt_(std::move(o)) {
    if (points_ < 2) throw std::invalid_argument("plugin corollary1: points must be at least 2");
  }
  std::string name() const override { return "corollary1"; }
  bool needs_hessian() const override { return true; }
  std::size_t memory_vectors() const override { return opt_.max_iter + 6; }
  std::vector<std::string> columns() const override { return {"seg_lambda_max", "cor1_bound", "cor1_slack"}; }
  void reset() override { unconverged_ = {}; }
  std::string summary_json() const override { return unconverged_json(unconverged_).dump(); }
  void save_state(StateDict& into) const override { unconverged_.save_state(into); }
  void load_state(const StateDict& from, std::size_t) override { unconverged_.load_state(from); }
  void observe(StepContext& ctx, Row& row) override {
    const Tensor& g = ctx.grad();
    double best = -INFINITY;
    std::vector<Tensor> warm;
    for (std::size_t j = 0; j < points_; ++j) {
      const double tau = double(j) / double(points_ - 1);
      std::unique_ptr<HessianOperator> at_point;
      if (j > 0) {
        Tensor p = ctx.theta();
        xt::noalias(p) -= (ctx.lr() * tau) * g;
        at_point = ctx.objective().hessian_at(p);
      }
      HessianOperator& H = j == 0 ? ctx.hessian() : *at_point;  // τ = 0 is θ_t: the step's own linearization
      LanczosOptions o = opt_;
      o.seed = ctx.seed_for("corollary1") + j;
      o.warm_start = warm;
      const EigenResult r = lanczos_top(H, o);
      unconverged_.record(r, ctx.step());
      best = std::max(best, r.values[0]);
      warm = r.vectors;
    }
    const double bound = 2.0 / ctx.lr() * (ctx.relative_progress() + 1.0);
    row.set("seg_lambda_max", best);
    row.set("cor1_bound", bound);
    row.set("cor1_slack", best - bound);
  }

 private:
  std::size_t points_;
  LanczosOptions opt_;
  UnconvergedSolves unconverged_;
};

// b of n indices, uniformly without replacement (partial Fisher–Yates).
// The pool starts from 0..n−1 every time: draws depend on the seed alone, not
// on earlier steps, so online, offline and resumed runs draw alike.
std::vector<std::size_t> draw_batch(Rng& rng, std::size_t n, std::size_t b, std::vector<std::size_t>& pool) {
  pool.resize(n);
  std::iota(pool.begin(), pool.end(), 0);
  for (std::size_t i = 0; i < b; ++i) std::swap(pool[i], pool[i + rng.below(n - i)]);
  return std::vector<std::size_t>(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(b));
}

// Definition 3: E[RP] = (E f(θ − η g_B) − f(θ)) / (η‖∇f(θ)‖²);
// (5.1): E[RP] ≈ −1 + (η/2)·E[‖g_B‖²/‖∇f‖² · L(θ; η g_B)], from M draws.
class SgdRelativeProgressPlugin : public Plugin {
 public:
  SgdRelativeProgressPlugin(std::size_t draws, std::size_t batch) : draws_(draws), batch_(batch) {
    if (draws_ < 2) throw std::invalid_argument("plugin sgd_rp: draws must be at least 2 (for a standard error)");
  }
  std::string name() const override { return "sgd_rp"; }
  void check_run(std::size_t batch_size, const optim::Optimizer*) const override {
    if (batch_ == 0 && batch_size == 0)
      throw std::invalid_argument("plugin sgd_rp: the run is full-batch GD, so there is no minibatch size to draw "
                                  "with: give sgd_rp:batch=B, or run SGD with --batch-size B");
  }
  std::vector<std::string> columns() const override {
    return {"sgd_erp", "sgd_erp_se", "sgd_rhs51", "sgd_rhs51_se"};
  }
  void observe(StepContext& ctx, Row& row) override {
    Objective& obj = ctx.objective();
    const std::size_t n = obj.num_examples(), b = batch_ ? batch_ : ctx.batch_size();
    if (n == 0) throw std::invalid_argument("plugin sgd_rp: the objective is not a sum over examples");
    if (b == 0 || b > n)
      throw std::invalid_argument(fmt::format("plugin sgd_rp: batch size {} for {} examples (set batch=…)", b, n));
    Rng rng(ctx.seed_for("sgd_rp"));
    const double f = ctx.loss(), g2 = ctx.grad_norm_sq(), eta = ctx.lr();
    // ‖∇f‖² past float64's range (a diverging run): ratios of norms instead
    const bool squares_in_range = square_in_range(g2);
    const double gn = squares_in_range ? 0.0 : ctx.grad_norm();
    const Tensor& g = ctx.grad();
    std::vector<double> rp, rhs;
    Tensor p;
    for (std::size_t m = 0; m < draws_; ++m) {
      const auto idx = draw_batch(rng, n, b, pool_);
      const Tensor gb = obj.batch_value_and_grad(ctx.theta(), idx).grad;
      p = ctx.theta();
      xt::noalias(p) -= eta * gb;
      const auto fp = obj.value_and_grad(p);
      // ‖g_B‖²/‖∇f‖² · L(θ; ηg_B), with L(θ; ηg_B) = directional_smoothness(g_B, …)/η
      const double eta_L = directional_smoothness(gb, g, fp.grad);
      if (squares_in_range) {
        rp.push_back((fp.value - f) / (eta * g2));
        rhs.push_back(inner(gb, gb) / g2 * eta_L / eta);
      } else {
        rp.push_back((fp.value - f) / gn / (eta * gn));
        rhs.push_back(std::pow(eos::norm(gb) / gn, 2) * eta_L / eta);
      }
    }
    const MeanSe a = mean_se(rp), c = mean_se(rhs);
    row.set("sgd_erp", a.mean);
    row.set("sgd_erp_se", a.se);
    row.set("sgd_rhs51", -1.0 + 0.5 * eta * c.mean);
    row.set("sgd_rhs51_se", 0.5 * eta * c.se);
  }

 private:
  std::size_t draws_, batch_;
  std::vector<std::size_t> pool_;
};

// The regime of each step — stable, unstable (the edge of stability) or
// diverging — from the paper's quantities, with hysteresis. A step is
// unstable when ηL(θ_t; η∇f)/2 ≥ 1 − margin, i.e. L at or past 2/η (by (4.3)
// RP is then at or above 0), or, when a sharpness plugin attached before
// this one has set lambda_max in the row, when ηλmax/2 ≥ 1 − margin.
// Proposed label, over the last `window` analysed steps:
//   diverging  a full window in which the loss rose at ≥ 80 % of the steps,
//              is now at its window maximum and has grown ≥ `growth`-fold
//              (GD past 2/L on a quadratic grows ×(ηλ − 1)² a step; an edge-
//              of-stability spike on a network about doubles the loss, then
//              falls back, and a catapult falls back within a few steps);
//   unstable   at least `fraction` of the window's steps were unstable, or the
//              regime is already unstable and the last unstable step is fewer
//              than `calm` steps back (at the edge of stability the sharpness
//              dips below 2/η for tens of steps at a time, self-stabilizing,
//              before it returns: those dips stay inside the regime);
//   stable     otherwise.
// The label changes only after the new one has been proposed `hold` steps in
// a row; the change is dated to the first of them.
class RegimePlugin : public Plugin {
 public:
  enum Label { Stable = 0, Unstable = 1, Diverging = 2 };
  RegimePlugin(std::size_t window, std::size_t hold, std::size_t calm, double margin, double fraction, double growth)
      : window_(window), hold_(hold), calm_(calm), margin_(margin), fraction_(fraction), growth_(growth) {}
  std::string name() const override { return "regime"; }
  std::vector<std::string> columns() const override { return {"regime", "regime_unstable_fraction"}; }
  void reset() override {
    unstable_.clear();
    losses_.clear();
    rises_.clear();
    label_ = pending_ = Stable;
    streak_ = 0;
    since_unstable_ = 0;
    pending_since_ = 0;
    counts_ = {0, 0, 0};
    first_unstable_.reset();
  }
  void observe(StepContext& ctx, Row& row) override {
    const double eta = ctx.lr(), f = ctx.loss();
    bool unstable = eta * ctx.directional_smoothness() / 2 >= 1 - margin_;
    if (row.has_column("lambda_max"))
      if (const auto& lmax = row.get("lambda_max"); lmax) unstable |= eta * *lmax / 2 >= 1 - margin_;
    rises_.push_back(!losses_.empty() && f > losses_.back());
    unstable_.push_back(unstable);
    losses_.push_back(f);
    if (unstable_.size() > window_) {
      unstable_.erase(unstable_.begin());
      rises_.erase(rises_.begin());
      losses_.erase(losses_.begin());
    }
    since_unstable_ = unstable ? 0 : since_unstable_ + 1;
    const double n = double(unstable_.size());
    const double p = double(std::count(unstable_.begin(), unstable_.end(), true)) / n;
    const double up = double(std::count(rises_.begin(), rises_.end(), true)) / std::max(n - 1, 1.0);
    const bool at_window_max = f >= *std::max_element(losses_.begin(), losses_.end());
    Label proposed = Stable;
    if (unstable_.size() == window_ && up >= 0.8 && at_window_max && f >= growth_ * losses_.front())
      proposed = Diverging;
    else if (p >= fraction_ || (label_ == Unstable && since_unstable_ < calm_))
      proposed = Unstable;
    if (proposed == label_) {
      streak_ = 0;
    } else {
      if (proposed != pending_ || streak_ == 0) {
        pending_ = proposed;
        pending_since_ = ctx.step();
        streak_ = 0;
      }
      if (++streak_ >= hold_) {
        label_ = pending_;
        streak_ = 0;
        if (label_ == Unstable && !first_unstable_) first_unstable_ = pending_since_;
      }
    }
    ++counts_[label_];
    row.set("regime", double(label_));
    row.set("regime_unstable_fraction", p);
  }
  std::string summary_json() const override {
    const double total = double(counts_[0] + counts_[1] + counts_[2]);
    auto frac = [&](int i) { return total > 0 ? double(counts_[i]) / total : 0.0; };
    return fmt::format(R"({{"first_unstable_step": {}, "fractions": {{"stable": {}, "unstable": {}, "diverging": {}}}, )"
                       R"("codes": {{"0": "stable", "1": "unstable", "2": "diverging"}}}})",
                       first_unstable_ ? std::to_string(*first_unstable_) : "null", frac(0), frac(1), frac(2));
  }
  void save_state(StateDict& into) const override {
    into.put("unstable", StateDict::Integers(unstable_.begin(), unstable_.end()));
    into.put("rises", StateDict::Integers(rises_.begin(), rises_.end()));
    Tensor losses = Tensor::from_shape({losses_.size()});
    std::copy(losses_.begin(), losses_.end(), losses.begin());
    into.put("losses", losses);
    into.put("labels", StateDict::Integers{std::uint64_t(label_), std::uint64_t(pending_), streak_, pending_since_,
                                           first_unstable_ ? 1u : 0u, first_unstable_.value_or(0)});
    into.put("counts", StateDict::Integers{counts_[0], counts_[1], counts_[2], since_unstable_});
  }
  void load_state(const StateDict& from, std::size_t) override {
    const auto& u = from.integers("unstable");
    const auto& r = from.integers("rises");
    const Tensor& l = from.tensor("losses");
    const auto& s = from.integers("labels");
    const auto& c = from.integers("counts");
    if (u.size() != r.size() || u.size() != l.size() || u.size() > window_ || s.size() != 6 || c.size() != 4 ||
        s[0] > 2 || s[1] > 2)
      throw StateError("state: regime plugin state does not fit its window or labels");
    unstable_.assign(u.begin(), u.end());
    rises_.assign(r.begin(), r.end());
    losses_.assign(l.begin(), l.end());
    label_ = Label(s[0]);
    pending_ = Label(s[1]);
    streak_ = s[2];
    pending_since_ = s[3];
    first_unstable_ = s[4] ? std::optional<std::size_t>(s[5]) : std::nullopt;
    counts_ = {c[0], c[1], c[2]};
    since_unstable_ = c[3];
  }

 private:
  std::size_t window_, hold_, calm_;
  double margin_, fraction_, growth_;
  std::vector<bool> unstable_, rises_;
  std::vector<double> losses_;
  Label label_ = Stable, pending_ = Stable;
  std::size_t streak_ = 0, pending_since_ = 0, since_unstable_ = 0;
  std::array<std::uint64_t, 3> counts_{0, 0, 0};
  std::optional<std::size_t> first_unstable_;
};

}  // namespace

void register_progress_plugins(PluginRegistry& reg) {
  reg.add({"regime", "labels each step stable, unstable (edge of stability) or diverging from RP, L and λmax vs "
                     "2/η, with hysteresis; summary.json gets first_unstable_step and the fraction of each",
           {{"regime", "0 stable, 1 unstable (ηL/2 ≥ 1 − margin at ≥ fraction of the window, and until calm steps "
                       "pass without it), 2 diverging (the loss rose at ≥ 80 % of a full window, is at its window "
                       "maximum and grew ≥ growth-fold)"},
            {"regime_unstable_fraction", "fraction of unstable steps in the window (ηL/2, or ηλmax/2 when a "
                                         "sharpness plugin attached before sets lambda_max, ≥ 1 − margin)"}},
           {OptionDecl::count("window", "20", 2, 100000, "analysed steps looked back over"),
            OptionDecl::count("hold", "5", 1, 100000, "steps a new label must be proposed in a row before it is taken"),
            OptionDecl::count("calm", "100", 1, 10000000,
                              "steps without an unstable step after which an unstable regime may end"),
            OptionDecl::number("margin", "0.001", 0.0, 0.5, "relative margin below 2/η that already counts as unstable"),
            OptionDecl::number("fraction", "0.2", 1e-6, 1.0,
                               "fraction of unstable steps in the window that makes the regime unstable"),
            OptionDecl::number("growth", "4", 1.0, 1e300,
                               "growth of the loss over a full window that, with a rising loss, makes it diverging")},
           [](const OptionValues& o) {
             return std::make_unique<RegimePlugin>(o.count("window"), o.count("hold"), o.count("calm"),
                                                   o.number("margin"), o.number("fraction"), o.number("growth"));
           }});
  reg.add({"loss", "full-batch training loss f(θ_t)", {{"loss", "f(θ_t)"}}, {},
           simple_factory([] { return std::make_unique<LossPlugin>(); })});
  reg.add({"accuracy", "training accuracy (argmax of the outputs vs labels)", {{"accuracy", "fraction correct"}}, {},
           simple_factory([] { return std::make_unique<AccuracyPlugin>(); })});
  reg.add({"grad_norm", "norm of the full-batch gradient", {{"grad_norm", "‖∇f(θ_t)‖"}}, {},
           simple_factory([] { return std::make_unique<GradNormPlugin>(); })});
  reg.add({"theta", "the first n coordinates of θ_t (the paper's toys: the iterate in the plane)",
           {{"theta_i", "θ_t[i], i = 1…n"}},
           {OptionDecl::count("n", "2", 1, 64, "coordinates recorded")},
           [](const OptionValues& o) { return std::make_unique<ThetaPlugin>(o.count("n")); }});
  reg.add({"rp", "relative progress and directional smoothness along the GD step (free under GD)",
           {{"rp", "RP(θ_t) = (f(θ_t − η∇f) − f(θ_t))/(η‖∇f‖²)"},
            {"L_dir", "L(θ_t; η∇f) = ⟨η∇f, ∇f(θ_t) − ∇f(θ_t − η∇f)⟩/‖η∇f‖²"},
            {"rp_pred_43", "−1 + (η/2)·L_dir, the (4.3) prediction of RP"},
            {"two_over_eta", "2/η"}},
           {},
           simple_factory([] { return std::make_unique<RelativeProgressPlugin>(); })});
  reg.add({"update_rp", "relative progress and directional smoothness along the update the optimizer made (any "
                        "optimizer; equal to rp under GD; free when θ_{t+1}'s loss and gradient are known)",
           {{"update_rp", "RP_U = (f(θ_{t+1}) − f(θ_t))/⟨∇f(θ_t), θ_t − θ_{t+1}⟩ (= η⟨∇f, U⟩ with U the update)"},
            {"update_L", "L(θ_t; θ_t − θ_{t+1}), Definition 2 along the actual step"},
            {"update_cos", "cos(∇f(θ_t), θ_t − θ_{t+1}): 1 for GD, less for momentum and Adam"},
            {"update_norm", "‖θ_t − θ_{t+1}‖"}},
           {},
           simple_factory([] { return std::make_unique<UpdateRelativeProgressPlugin>(); })});
  reg.add({"tau_profile", "L(θ; ητ∇f) over a τ grid and Theorem 2's integral",
           {{"tau_L_mean", "mean of L(θ; ητ∇f) over the grid"},
            {"tau_L_std", "its standard deviation"},
            {"thm2_integral", "I = 2∫₀¹ τ L(θ; ητ∇f) dτ by the grid's quadrature"},
            {"thm2_rp", "−1 + (η/2)·I"},
            {"thm2_residual", "|RP − thm2_rp| (quadrature error only)"}},
           {OptionDecl::choice("grid", {"uniform", "gauss"},
                               "uniform: τ = 1/m … 1 (the paper's 0.01 … 1 for m = 100), trapezoid; gauss: "
                               "Gauss–Legendre"),
            OptionDecl::count("m", "", 0, 0, "number of τ nodes (one gradient each)")
                .depending_on("grid", {{"uniform", "100", 2, 100000}, {"gauss", "16", 1, 1000}})},
           [](const OptionValues& o) { return std::make_unique<TauProfilePlugin>(o.text("grid"), o.count("m")); }});
  reg.add({"corollary1", "Corollary 1: max λmax on the segment θ_t → θ_t − η∇f vs (2/η)(RP + 1)",
           {{"seg_lambda_max", "max of λmax over the segment's sample points"},
            {"cor1_bound", "(2/η)(RP + 1)"},
            {"cor1_slack", "seg_lambda_max − cor1_bound (≥ 0 up to sampling of the segment)"}},
           {OptionDecl::count("points", "5", 2, 1000, "points on the segment, ends included"),
            tol_option("1e-3", 0.5, "Lanczos tolerance"), max_iter_option()},
           [](const OptionValues& o) {
             return std::make_unique<Corollary1Plugin>(o.count("points"), lanczos_options(o, false));
           }});
  reg.add({"sgd_rp", "SGD: expected relative progress (Definition 3) and the (5.1) right-hand side",
           {{"sgd_erp", "mean over draws of (f(θ − ηg_B) − f(θ))/(η‖∇f‖²)"},
            {"sgd_erp_se", "its standard error"},
            {"sgd_rhs51", "−1 + (η/2)·mean of ‖g_B‖²/‖∇f‖² · L(θ; ηg_B)"},
            {"sgd_rhs51_se", "its standard error"}},
           {OptionDecl::count("draws", "64", 2, 1000000, "minibatch draws M"),
            OptionDecl::count("batch", "0", 0, 1000000000,
                              "minibatch size (uniform without replacement); 0: the run's batch size")},
           [](const OptionValues& o) { return std::make_unique<SgdRelativeProgressPlugin>(o.count("draws"), o.count("batch")); }});
}

}  // namespace detail
}  // namespace eos::analysis
