// Predicted dynamics: the central flow (analysis/central_flow.hpp) integrated
// beside the run from the same θ₀, with what it predicts at each step.
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "central_flow.hpp"
#include "plugin.hpp"
#include "plugins_common.hpp"

namespace eos::analysis {
namespace {

// The flow starts at the first analysed step's θ and is advanced to each
// analysed step t with the step size of the step before (exact for a
// constant schedule; with a schedule, observe every step). A flow that
// fails — f not finite, or no Σ can hold the sharpness at 2/η — stops there:
// its columns stay empty from then on, and summary.json says when and why.
class CentralFlowPlugin : public Plugin {
 public:
  explicit CentralFlowPlugin(CentralFlowOptions o) : opt_(std::move(o)) {}
  std::string name() const override { return "central_flow"; }
  std::size_t memory_vectors() const override { return opt_.lanczos.max_iter + 4 * opt_.k + 12; }
  void check_run(std::size_t batch_size, const optim::Optimizer* optimizer) const override {
    if (batch_size != 0)
      throw std::invalid_argument(fmt::format("plugin central_flow: the central flow is that of full-batch GD, and the "
                                              "run uses minibatches of {} (--batch-size 0 for full batch)",
                                              batch_size));
    if (optimizer && !optimizer->is_plain_gradient_step())
      throw std::invalid_argument(fmt::format("plugin central_flow: the central flow is that of plain GD (θ − η∇f), "
                                              "not {}",
                                              optimizer->describe()));
  }
  std::vector<std::string> columns() const override {
    return {"flow_loss",          "flow_predicted_loss", "flow_lambda_max", "flow_trace_sigma",
            "flow_oscillation",   "flow_critical",       "flow_distance",   "flow_gd_displacement",
            "flow_hvps"};
  }
  void reset() override {
    flow_.reset();
    pending_.reset();
    failure_.clear();
    failed_at_.reset();
    last_lr_ = 0.0;
    max_critical_ = at_k_ = 0;
  }
  void observe(StepContext& ctx, Row& row) override {
    if (failed_at_) return;
    check_run(ctx.batch_size(), ctx.optimizer());  // offline too
    if (!flow_) {
      flow_.emplace(ctx.objective(), ctx.theta(), opt_);
      start_ = ctx.step();
      if (pending_) {
        start_ = pending_->integer("start");
        last_lr_ = pending_->tensor("last_lr", {1})(0);
        flow_->load_state(*pending_);
        pending_.reset();
      }
    }
    try {
      while (start_ + flow_->time() < ctx.step()) flow_->advance(last_lr_);
      last_lr_ = ctx.lr();
      const CentralFlowPoint& p = flow_->point(ctx.lr());
      row.set("flow_loss", p.loss);
      row.set("flow_predicted_loss", p.predicted_loss(ctx.lr()));
      row.set("flow_lambda_max", p.eigenvalues.at(0));
      row.set("flow_trace_sigma", p.trace_sigma);
      row.set("flow_oscillation", std::sqrt(p.trace_sigma));
      row.set("flow_critical", double(p.critical));
      max_critical_ = std::max(max_critical_, p.critical);
      at_k_ += p.critical >= opt_.k;
      const Tensor d = flow_->w() - ctx.theta();
      row.set("flow_distance", eos::norm(d));
      if (!p.U.empty()) {
        double s2 = 0.0;
        for (const Tensor& u : p.U) s2 += std::pow(inner(u, d), 2);
        row.set("flow_gd_displacement", std::sqrt(s2));
      }
      row.set("flow_hvps", double(p.hvps));
    } catch (const NumericalError& e) {
      failed_at_ = ctx.step();
      failure_ = e.what();
    }
  }
  std::string summary_json() const override {
    nlohmann::json j = {{"failed_at", failed_at_ ? nlohmann::json(*failed_at_) : nlohmann::json(nullptr)},
                        {"failure", failure_},
                        {"k", opt_.k},
                        {"max_critical", max_critical_},
                        {"steps_critical_at_k", at_k_}};
    // the flow's eigen-solves, counted in flow time from its start (a resumed flow not yet rebuilt: its state)
    UnconvergedSolves u;
    std::uint64_t start = start_;
    if (flow_) {
      u = flow_->unconverged();
    } else if (pending_) {
      u.load_state(*pending_);
      start = pending_->integer("start");
    }
    j.update(detail::unconverged_json(u, start));
    return j.dump();
  }
  void save_state(StateDict& into) const override {
    if (flow_) {
      flow_->save_state(into);
      into.put_integer("start", start_);
      into.put("last_lr", Tensor{last_lr_});
      into.put_integer("started", 1);
    } else {
      into.put_integer("started", 0);
    }
    into.put_integer("failed", failed_at_ ? 1 : 0);
    into.put_integer("failed_at", failed_at_.value_or(0));
    into.put("failure", failure_);
    into.put("counts", StateDict::Integers{max_critical_, at_k_});
  }
  void load_state(const StateDict& from, std::size_t) override {
    reset();
    if (from.integer("started")) pending_ = from;  // the flow is rebuilt at the next step, on its objective
    if (from.integer("failed")) failed_at_ = from.integer("failed_at");
    failure_ = from.text("failure");
    const auto& c = from.integers("counts");
    if (c.size() != 2) throw StateError("state: central_flow counts are not [max_critical, steps_at_k]");
    max_critical_ = c[0];
    at_k_ = c[1];
  }

 private:
  CentralFlowOptions opt_;
  std::optional<CentralFlow> flow_;
  std::optional<StateDict> pending_;
  std::size_t start_ = 0;
  double last_lr_ = 0.0;
  std::optional<std::size_t> failed_at_;
  std::string failure_;
  std::uint64_t max_critical_ = 0, at_k_ = 0;  // when flow_critical reaches k, k was too small
};

}  // namespace

void detail::register_flow_plugins(PluginRegistry& reg) {
  reg.add({"central_flow",
           "the central flow of GD (Cohen et al. 2024) from the same θ₀, beside the run: its loss, predicted "
           "time-averaged loss, sharpness and oscillation (full-batch GD only)",
           {{"flow_loss", "f(w(t)) on the central flow"},
            {"flow_predicted_loss", "f(w) + tr(Σ)/η: the time-averaged loss of GD the theory predicts"},
            {"flow_lambda_max", "λmax(∇²f(w(t))): held at 2/η once GD is at the edge of stability"},
            {"flow_trace_sigma", "tr Σ: the oscillation's variance"},
            {"flow_oscillation", "√tr Σ: the predicted size of GD's oscillation around the flow"},
            {"flow_critical", "eigenvalues held at 2/η (the rank of Σ)"},
            {"flow_distance", "‖w(t) − θ_t‖ between the flow and the run"},
            {"flow_gd_displacement", "‖Uᵀ(θ_t − w(t))‖ with U the top eigenvectors near 2/η at w(t): the run's "
                                     "oscillation that the flow predicts to have size √tr Σ (empty: none near)"},
            {"flow_hvps", "HVPs for this step's first substep (eigenpairs and third derivatives)"}},
           {OptionDecl::count("substeps", "4", 1, 10000, "Euler substeps per GD step"),
            OptionDecl::count("k", "3", 1, 20,
                              "top eigenpairs tracked: the critical space must be among them (raise k when "
                              "flow_critical reaches it)"),
            OptionDecl::number("margin", "0.05", 0.0, 0.99,
                               "eigenvalues below (1 − margin)·2/η are not candidates for the critical space"),
            OptionDecl::number("h", "1e-4", 1e-12, 1.0,
                               "step of the central difference of HVPs that gives the third derivative"),
            tol_option("1e-6", 0.1, "Lanczos tolerance (eigenvalue; stop=value)"), max_iter_option(2)},
           [](const OptionValues& o) {
             CentralFlowOptions c;
             c.substeps = o.count("substeps");
             c.k = o.count("k");
             c.margin = o.number("margin");
             c.h = o.number("h");
             c.lanczos = lanczos_options(o, false);
             require_max_iter_covers_k(o, c.k, c.lanczos.max_iter);
             c.lanczos.stop = LanczosStop::Value;
             c.lanczos.extra = 1;
             return std::make_unique<CentralFlowPlugin>(c);
           }});
}

}  // namespace eos::analysis
