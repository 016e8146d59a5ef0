// The plugins of curvature: the top and bottom of the Hessian's spectrum
// (warm-started Lanczos), eigenvector tracking, per-block curvature, the
// spectral density, the trace, and preconditioned sharpness. Each block: the
// quantity, its columns, its options.
#include <array>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <numeric>
#include <optional>

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

// Warm-start vectors as plugin state: one [count, dim] tensor.
void save_vectors(StateDict& into, const std::vector<Tensor>& vectors, const std::string& key) {
  Tensor all = zeros({vectors.size(), vectors.empty() ? 0 : vectors[0].size()});
  for (std::size_t i = 0; i < vectors.size(); ++i) xt::view(all, i, xt::all()) = vectors[i];
  into.put(key, all);
}
std::vector<Tensor> load_vectors(const StateDict& from, std::size_t dim, const std::string& key) {
  const Tensor& all = from.tensor(key);
  if (all.dimension() != 2 || (all.shape()[0] > 0 && all.shape()[1] != dim))
    throw StateError(fmt::format("state: warm-start vectors '{}' have shape {}, expected [count, {}]", key,
                                 shape_str_of(all.shape()), dim));
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < all.shape()[0]; ++i) out.emplace_back(xt::view(all, i, xt::all()));
  return out;
}

nlohmann::json unconverged_json(const UnconvergedSolves& u, std::uint64_t step_offset) {
  nlohmann::json j = {{"solves", u.solves}, {"unconverged_solves", u.unconverged}};
  if (u.unconverged > 0) {
    j["first_unconverged_step"] = u.first_step + step_offset;
    j["largest_unconverged_residual"] =
        std::isfinite(u.largest_residual) ? nlohmann::json(u.largest_residual) : nlohmann::json("inf");
  }
  return j;
}

OptionDecl tol_option(const char* default_text, double max, const char* doc) {
  return OptionDecl::number("tol", default_text, 1e-15, max, doc);
}
OptionDecl max_iter_option(std::size_t min) { return OptionDecl::count("max_iter", "200", min, 100000, "HVP cap"); }

std::vector<OptionDecl> lanczos_option_decls(const char* k_default) {
  return {OptionDecl::count("k", k_default, 1, 1000, "eigenvalues wanted"),
          tol_option(),
          OptionDecl::choice("stop", {"value", "residual"},
                             "value: stop when the eigenvalue itself is good to tol, min(r, r²/δ) ≤ tol·|θ| "
                             "(Kato–Temple, δ the gap to the next Ritz value less its residual) and r ≤ 10·tol·|θ| "
                             "(an eigenvalue lies within r of θ whatever the gap; inside a cluster narrower than that "
                             "the error can reach the cluster's width); residual: ‖Hv − θv‖ ≤ tol·|θ|, which also makes "
                             "the vector good to tol·|θ|/gap and takes ~2× the HVPs at every-step tracking"),
          max_iter_option(),
          OptionDecl::count("extra", "1", 0, 100,
                            "Ritz vectors kept beyond k and joined to the next start: at the edge of stability the "
                            "top two eigenvalues cross, and a start without the old second vector can converge to "
                            "the old top eigenvalue, now the second (0 saves ~0.8 HVP a step and risks that: "
                            "3.7 % off at step 730 of the 1000-step benchmark, docs/PERFORMANCE.md)"),
          OptionDecl::choice("start", {"extrapolate", "last", "sum"},
                             "extrapolate: the top k from 2·v(t−2) − v(t−4), the Ritz vectors of the analysed steps "
                             "two and four back (at the edge of stability θ oscillates with period two: they are the "
                             "same phase, drifting; v(t−2) until there are four, v(t−1) until two), and the extra "
                             "ones (the guard against a crossing) from step t − 1 or t − 2, whichever top vector is closer to the "
                             "predicted one (t − 2, the same phase, at the edge of stability); Rayleigh–Ritz on the start, then each HVP adds the residual. "
                             "last: the same from step t − 1's vectors. sum: Lanczos from their sum (before 2026-12)"),
          OptionDecl::choice("hvp", {"auto", "float64", "mixed", "float64-lead"},
                             "mixed: the solve's HVPs with float32 matrix products (sgemm on float32 copies of the "
                             "linearization's weights and activations), then each of the k top pairs checked with one "
                             "float64 HVP, whose Rayleigh quotient and residual are reported; a float64 solve takes "
                             "over where the check fails (operators without float32 products, such as batch-norm "
                             "parts, run float64). float64-lead: as mixed, but the start's k predicted top vectors take "
                             "float64 HVPs, and where Rayleigh–Ritz on them alone meets the rule against the whole "
                             "start (the extra vectors on float32 HVPs guard against crossings) their pairs are reported "
                             "with no check: k float64 and `extra` float32 HVPs where the prediction is good (eigvec_overlap: "
                             "the vectors returned are then the start's own). auto: at tol ≥ 1e-4 "
                             "for the top of the spectrum (sharpness, eigvec_overlap), mixed for the cold first solve and "
                             "for each warm one where one of the last two solves took 3 HVPs or more (there the lead's "
                             "float64 HVP and a check both cost more than float32 saves), float64-lead otherwise (float64 "
                             "for eigvec_overlap, whose vectors are its measurement: a lead's is the start itself); "
                             "float64 at smaller tol and for lambda_min (float32's rounding is relative to ‖H‖ ≈ λmax, "
                             "and λmin is small next to it)")};
}

LanczosOptions lanczos_options(const OptionValues& v, bool tracked, bool top_of_spectrum) {
  LanczosOptions o;
  o.tol = v.number("tol");
  o.max_iter = v.count("max_iter");
  if (tracked) {
    o.k = v.count("k");
    o.stop = v.text("stop") == "value" ? LanczosStop::Value : LanczosStop::Residual;
    o.extra = v.count("extra");
    o.start = v.text("start") == "sum" ? WarmStart::Sum : WarmStart::Subspace;
    const std::string hvp = v.text("hvp");
    o.float32_products = hvp == "mixed" || hvp == "float64-lead" ||
                         (hvp == "auto" && top_of_spectrum && o.tol >= kMixedByDefaultFromTol);
    o.float64_lead = hvp == "float64-lead";
    require_max_iter_covers_k(v, o.k, o.max_iter);
  }
  return o;
}

void require_max_iter_covers_k(const OptionValues& v, std::size_t k, std::size_t max_iter) {
  if (max_iter < k)
    throw std::invalid_argument(fmt::format("plugin {}: max_iter={} is less than k={} (a solve for k eigenvalues "
                                            "takes at least k HVPs)",
                                            v.plugin(), max_iter, k));
}

StartFrom start_from(const OptionValues& v) {
  return v.text("start") == "extrapolate" ? StartFrom::Extrapolate : StartFrom::Last;
}

namespace {

// v ↦ c·DHDv: H scaled by a number c and on both sides by a diagonal D (none:
// the identity). −H (c = −1) turns Lanczos's top into λmin; D = P^{-1/2}
// gives the preconditioned Hessian.
class ScaledHessian : public HessianOperator {
 public:
  ScaledHessian(HessianOperator& H, double c, std::optional<Tensor> d = std::nullopt)
      : H_(H), c_(c), d_(std::move(d)) {}
  std::size_t dim() const override { return H_.dim(); }
  double value() const override { return H_.value(); }
  const Tensor& grad() const override { return H_.grad(); }
  void apply(const Tensor& v, Tensor& out) override {
    if (d_) {
      xt::noalias(dv_) = *d_ * v;
      H_.apply(dv_, out);
      out *= *d_;
    } else {
      H_.apply(v, out);
    }
    if (c_ != 1.0) out *= c_;
    ++applications_;
  }
  using HessianOperator::apply;
  bool float32_products(bool on) override { return H_.float32_products(on); }

 private:
  HessianOperator& H_;
  double c_;
  std::optional<Tensor> d_;
  Tensor dv_;
};

// What the Lanczos plugins share: options, and the Ritz vectors of the last
// four analysed steps that warm-start the next solve (plugin state, so a
// resumed run solves from the same start).
class WarmStartedEigenPlugin : public Plugin {
 public:
  void reset() override {
    for (auto& h : history_) h.clear();
    solve_lengths_ = {};
    guard_ = GuardSchedule{guard_.every};
    unconverged_ = {};
  }
  std::string summary_json() const override { return unconverged_json(unconverged_).dump(); }
  // k eigenpairs of an operator of the objective's dimension: refused when attached, before any file is written
  void bind(const Objective& objective) override {
    if (opt_.k > objective.dim())
      throw std::invalid_argument(fmt::format("plugin {}: k={} but '{}' has {} parameters (H is {} × {})", name(),
                                              opt_.k, objective.describe(), objective.dim(), objective.dim(),
                                              objective.dim()));
  }
  void save_state(StateDict& into) const override {
    save_vectors(into, history_[0]);
    for (std::size_t back = 1; back < kKept; ++back) save_vectors(into, history_[back], older_key(back));
    for (std::size_t back = 0; back < solve_lengths_.size(); ++back)
      into.put_integer(length_key(back), solve_lengths_[back]);
    into.put_number("guard_gap_back_1", guard_.gaps[0]);
    into.put_number("guard_gap_back_2", guard_.gaps[1]);
    into.put_integer("guarded_in_a_row", guard_.guarded_in_a_row);
    into.put_integer("unguarded_in_a_row", guard_.unguarded_in_a_row);
    unconverged_.save_state(into);
  }
  void load_state(const StateDict& from, std::size_t dim) override {
    history_[0] = load_vectors(from, dim);
    for (std::size_t back = 1; back < kKept; ++back)  // checkpoints before 2026-12 keep the last step's only
      history_[back] = from.contains(older_key(back)) ? load_vectors(from, dim, older_key(back)) : std::vector<Tensor>{};
    for (std::size_t back = 0; back < solve_lengths_.size(); ++back)  // older checkpoints: unknown, 0
      solve_lengths_[back] = from.contains(length_key(back)) ? from.integer(length_key(back)) : 0;
    // older checkpoints: no gaps, the next two solves pay their guard
    for (std::size_t back = 0; back < 2; ++back) {
      const std::string key = fmt::format("guard_gap_back_{}", back + 1);
      const double gap = from.contains(key) ? from.number(key) : 0.0;
      if (!(gap >= 0 && std::isfinite(gap)))
        throw StateError(fmt::format("state: {} = {}, expected a finite gap ≥ 0", key, gap));
      guard_.gaps[back] = gap;
    }
    guard_.guarded_in_a_row = from.contains("guarded_in_a_row") ? from.integer("guarded_in_a_row") : 0;
    guard_.unguarded_in_a_row = from.contains("unguarded_in_a_row") ? from.integer("unguarded_in_a_row") : 0;
    unconverged_.load_state(from);
  }
  bool needs_hessian() const override { return true; }
  bool float32_products() const override { return opt_.float32_products; }
  // the Krylov basis (Subspace: V and HV up to the restart size), the Ritz
  // vectors of four steps and the start, and the solver's work vectors
  std::size_t memory_vectors() const override {
    const std::size_t basis = opt_.start == WarmStart::Subspace
                                  ? 2 * std::max(opt_.restart_size, 3 * (opt_.k + opt_.extra + 1)) + opt_.k
                                  : opt_.max_iter;
    return basis + (kKept + 1) * (opt_.k + opt_.extra) + 4;
  }

 protected:
  // What hvp=auto does in a warm solve that the last two predict short (see
  // solve): float64-lead where the value is the measurement (sharpness);
  // float64 where the vectors are (eigvec_overlap: a lead's vector is the
  // start itself, built from the earlier steps' vectors it is compared with).
  enum class WhenShort { Float64, Float64Lead };
  // auto_short: hvp=auto chose float32 products, and each warm solve then
  // chooses between mixed and `*auto_short` (none: opt_ as it is).
  explicit WarmStartedEigenPlugin(LanczosOptions o, StartFrom from = StartFrom::Last, bool warm = true,
                                  std::optional<WhenShort> auto_short = std::nullopt)
      : opt_(std::move(o)), from_(from), warm_(warm), auto_short_(opt_.float32_products ? auto_short : std::nullopt) {}
  // The top k (+ extra) eigenpairs of H, seeded by the plugin's name and
  // warm-started from earlier steps' vectors; remember() keeps new ones.
  // Under hvp=auto a warm solve is mixed where one of the last two solves
  // took kMixedFromLength HVPs or more, else float64-lead (or float64): a
  // float64-lead's float64 HVP is the answer where the prediction is good
  // (2 HVPs, one of them float32), but in a long solve it comes on top of the
  // check, which is all that mixed pays in float64; float64 costs less than
  // mixed's check where a solve takes 2 (docs/PERFORMANCE.md). Solve lengths
  // come in runs (calm stretches of 2, turbulent ones of 4–17).
  EigenResult solve(HessianOperator& H, StepContext& ctx) {
    LanczosOptions o = opt_;
    o.seed = ctx.seed_for(name());
    if (warm_) o.warm_start = start_vectors();
    const bool long_solve = std::max(solve_lengths_[0], solve_lengths_[1]) >= kMixedFromLength;
    if (auto_short_ && !o.warm_start.empty()) {
      o.float32_products = long_solve || *auto_short_ == WhenShort::Float64Lead;
      o.float64_lead = !long_solve && *auto_short_ == WhenShort::Float64Lead;
    }
    if (!o.warm_start.empty()) o.assumed_gap = guard_.next(/*calm=*/!long_solve);
    EigenResult r = lanczos_top(H, o);
    unconverged_.record(r, ctx.step());
    solve_lengths_ = {r.hvps - r.check_hvps, solve_lengths_[0]};
    guard_.record(r, o.k);
    return r;
  }
  static constexpr std::uint64_t kMixedFromLength = 3;
  // sharpness's guard_every (1, every solve pays its guard, for the others); calm: the last two solves short
  GuardSchedule guard_;
  UnconvergedSolves unconverged_;
  void remember(std::vector<Tensor> vectors) {
    // a solve on the lead alone (assumed_gap) returns the top k: the extra ones carry over, from the
    // step they were taken from (guard_source)
    const std::vector<Tensor>& guards = guard_source();
    for (std::size_t i = vectors.size(); i < guards.size(); ++i) vectors.push_back(guards[i]);
    for (std::size_t back = kKept - 1; back > 0; --back) history_[back] = std::move(history_[back - 1]);
    history_[0] = std::move(vectors);
  }
  // Keeps Hv/‖Hv‖ instead of each Ritz vector v with θ > 0 where the solve
  // returned Hv without an HVP (EigenResult::products): a free step of power
  // iteration, which scales v's error along each eigenvector uᵢ by |λᵢ|/θ.
  // At the top of a Hessian's spectrum that removes most of the error in the
  // bulk near 0, which a solve stopped at tol leaves at ~1 %: the next step
  // starts closer (1000-step benchmark: 3.08 → 2.69 HVPs a step, largest
  // error 9.0e-4 → 4.4e-4; docs/PERFORMANCE.md). Not for −H (lambda_min),
  // where |λmax| > θ would grow instead.
  void remember_power_stepped(EigenResult& r) {
    for (std::size_t i = 0; i < r.vectors.size() && i < r.products.size(); ++i) {
      const double length = eos::norm(r.products[i]);
      if (r.values[i] > 0 && length > 0 && std::isfinite(length)) r.vectors[i] = r.products[i] / length;
    }
    remember(std::move(r.vectors));
  }
  // The last analysed step's vectors (t − 1).
  const std::vector<Tensor>& previous() const { return history_[0]; }

  LanczosOptions opt_;
  StartFrom from_;
  bool warm_;

 private:
  // Extrapolate: at the edge of stability θ, H and the top eigenvectors
  // oscillate with period two, and each phase drifts slowly; the eigenvector
  // of step t is predicted from its own phase, 2·v(t−2) − v(t−4) (the sign of
  // v(t−4) matched to v(t−2)), and v(t−2) alone until there are four steps,
  // v(t−1) until there are two. Last: v(t−1).
  // The extra vectors (beyond k) guard against a crossing: where the top two
  // eigenvalues cross, the new top eigenvector is the old second, which the
  // extrapolation of the old top cannot reach in a few HVPs (measured: 3.7 %
  // off at step 730 of bench_sharpness without it). Extrapolate takes them
  // from whichever of steps t − 1 and t − 2 has the top vector closer to the
  // predicted one: at the edge of stability that is t − 2, the same phase
  // (the two phases' second eigenvectors differ as their top ones do, and a
  // guard close to u₂ gives the rule a gap where one from the other phase
  // left a residual as large as the gap: 1000-step benchmark, steps
  // 520–949, 2.99 → 2.57 HVPs a step in float64); while the spectrum drifts
  // without oscillating it is t − 1, the freshest (from t − 2 there, the
  // guarded solves measured gaps up to 3.6× too large: docs/PERFORMANCE.md).
  // Last, and Extrapolate until there are two steps: t − 1.
  const std::vector<Tensor>& guard_source() const {
    const auto &last = history_[0], &two = history_[1];
    if (from_ != StartFrom::Extrapolate || two.size() != last.size() || last.empty()) return last;
    const Tensor x = predicted_top(0);
    return std::abs(inner(x, two[0])) > std::abs(inner(x, last[0])) ? two : last;
  }
  // Extrapolate's prediction of top vector i (needs history_[1] as large as history_[0]).
  Tensor predicted_top(std::size_t i) const {
    const auto &two = history_[1], &four = history_[3];
    return four.size() != two.size() ? two[i]
                                     : Tensor(2.0 * two[i] - (inner(two[i], four[i]) < 0 ? -1.0 : 1.0) * four[i]);
  }
  std::vector<Tensor> start_vectors() const {
    const auto& last = history_[0];
    if (from_ != StartFrom::Extrapolate || history_[1].size() != last.size()) return last;
    const std::size_t k = std::min(opt_.k, last.size());
    std::vector<Tensor> x;
    for (std::size_t i = 0; i < k; ++i) x.push_back(predicted_top(i));
    const auto& guards = guard_source();
    x.insert(x.end(), guards.begin() + std::ptrdiff_t(k), guards.end());
    return x;
  }
  static constexpr std::size_t kKept = 4;
  static std::string older_key(std::size_t back) { return fmt::format("vectors_back_{}", back + 1); }
  static std::string length_key(std::size_t back) { return fmt::format("solve_hvps_back_{}", back + 1); }
  std::array<std::vector<Tensor>, kKept> history_;  // the k + extra Ritz vectors of steps t − 1, …, t − 4
  std::optional<WhenShort> auto_short_;
  std::array<std::uint64_t, 2> solve_lengths_{};  // HVPs of the solves at t − 1, t − 2, their float64 check not counted
};

// The most negative curvature: the smallest eigenvalues of ∇²f(θ_t), by
// Lanczos on −∇²f, warm-started along the trajectory like sharpness.
class LambdaMinPlugin : public WarmStartedEigenPlugin {
 public:
  LambdaMinPlugin(LanczosOptions o, StartFrom from) : WarmStartedEigenPlugin(std::move(o), from) {
    for (std::size_t i = 2; i <= opt_.k; ++i) columns_.push_back(fmt::format("lambda_min_{}", i));
  }
  std::string name() const override { return "lambda_min"; }
  std::vector<std::string> columns() const override {
    std::vector<std::string> c = {"lambda_min"};
    c.insert(c.end(), columns_.begin(), columns_.end());
    c.insert(c.end(), {"lambda_min_residual", "lambda_min_hvps"});
    return c;
  }
  void observe(StepContext& ctx, Row& row) override {
    ScaledHessian N(ctx.hessian(), -1.0);
    EigenResult r = solve(N, ctx);  // the top of −H: −λmin, −λmin₂, …
    row.set("lambda_min", -r.values[0]);
    for (std::size_t i = 1; i < opt_.k; ++i) row.set(columns_[i - 1], -r.values[i]);
    row.set("lambda_min_residual", r.residuals[0] / std::max(std::abs(r.values[0]), 1e-300));
    row.set("lambda_min_hvps", double(r.hvps));
    remember(std::move(r.vectors));
  }

 private:
  std::vector<std::string> columns_;
};

// λmax and the top k by warm-started Lanczos; |cos(∇f, v₁)|.
class SharpnessPlugin : public WarmStartedEigenPlugin {
 public:
  SharpnessPlugin(LanczosOptions o, StartFrom from, bool warm, bool hvp_auto, std::uint64_t guard_every)
      : WarmStartedEigenPlugin(std::move(o), from, warm, hvp_auto ? std::optional(WhenShort::Float64Lead) : std::nullopt) {
    guard_.every = guard_every;
    for (std::size_t i = 0; i < opt_.k; ++i) lambda_columns_.push_back(fmt::format("lambda_{}", i + 1));
  }
  std::string name() const override { return "sharpness"; }
  std::vector<std::string> columns() const override {
    std::vector<std::string> c = {"lambda_max"};
    for (std::size_t i = 2; i <= opt_.k; ++i) c.push_back(fmt::format("lambda_{}", i));
    c.insert(c.end(), {"sharpness_residual", "sharpness_hvps", "cos_grad_top"});
    if (opt_.float32_products) c.push_back("sharpness_float32_hvps");
    if (guard_.every > 1) c.push_back("sharpness_assumed_gap");
    return c;
  }
  void observe(StepContext& ctx, Row& row) override {
    HessianOperator& H = ctx.hessian();
    EigenResult r = solve(H, ctx);
    row.set("lambda_max", r.values[0]);
    for (std::size_t i = 1; i < opt_.k; ++i) row.set(lambda_columns_[i], r.values[i]);
    row.set("sharpness_residual", r.residuals[0] / std::abs(r.values[0]));
    row.set("sharpness_hvps", double(r.hvps));
    if (opt_.float32_products) row.set("sharpness_float32_hvps", double(r.float32_hvps));
    if (guard_.every > 1) row.set("sharpness_assumed_gap", r.on_assumed_gap ? r.gaps[0] : 0.0);
    const Tensor& g = H.grad();
    const double gn = eos::norm(g);
    if (gn > 0) row.set("cos_grad_top", std::abs(inner(g, r.vectors[0])) / gn);
    remember_power_stepped(r);
  }

 private:
  std::vector<std::string> lambda_columns_;
};

// The diagonal block H_SS of ∇²f for the coordinates S = [offset, offset + size):
// v_S ↦ (H·[0, v_S, 0])_S.
class BlockHessian : public HessianOperator {
 public:
  BlockHessian(HessianOperator& H, std::size_t offset, std::size_t size)
      : H_(H), offset_(offset), size_(size), embedded_(zeros({H.dim()})),
        grad_(xt::view(H.grad(), xt::range(offset, offset + size))) {}
  std::size_t dim() const override { return size_; }
  double value() const override { return H_.value(); }
  const Tensor& grad() const override { return grad_; }
  void apply(const Tensor& v, Tensor& out) override {
    std::copy(v.begin(), v.end(), embedded_.begin() + std::ptrdiff_t(offset_));
    H_.apply(embedded_, hv_);
    std::fill(embedded_.begin() + std::ptrdiff_t(offset_), embedded_.begin() + std::ptrdiff_t(offset_ + size_), 0.0);
    if (out.size() != size_) out = Tensor::from_shape({size_});
    std::copy(hv_.begin() + std::ptrdiff_t(offset_), hv_.begin() + std::ptrdiff_t(offset_ + size_), out.begin());
    ++applications_;
  }
  using HessianOperator::apply;

 private:
  HessianOperator& H_;
  std::size_t offset_, size_;
  Tensor embedded_, hv_, grad_;
};

// Per-block curvature: λmax and the Hutchinson trace (with its standard
// error) of each diagonal block H_SS, for the model's named parameter blocks
// ("0.weight", "0.bias", …) or grouped per layer ("0" = its weight and bias).
// Probes are Rademacher vectors supported on the block: exact for a diagonal
// block, and without the cross-block variance of one probe for all blocks.
class BlockSharpnessPlugin : public Plugin {
 public:
  BlockSharpnessPlugin(bool per_layer, std::size_t probes, LanczosOptions o)
      : per_layer_(per_layer), probes_(probes), opt_(std::move(o)) {}
  std::string name() const override { return "block_sharpness"; }
  void bind(const Objective& objective) override {
    const auto blocks = objective.parameter_slices();
    if (blocks.empty())
      throw std::invalid_argument(fmt::format("plugin block_sharpness: the objective '{}' has no named parameter "
                                              "blocks (a model objective has one per layer parameter)",
                                              objective.describe()));
    groups_.clear();
    for (const auto& b : blocks) {
      const std::string layer = b.name.substr(0, b.name.rfind('.'));
      const std::string key = per_layer_ ? layer : b.name;
      if (!groups_.empty() && groups_.back().name == key && groups_.back().end() == b.offset)
        groups_.back().shape = {groups_.back().size() + b.size()};  // the next parameter of the same layer, right after it in θ
      else
        groups_.push_back({key, b.offset, {b.size()}});
    }
    previous_.assign(groups_.size(), {});
  }
  std::vector<std::string> columns() const override {
    std::vector<std::string> c;
    for (const auto& g : groups_)
      for (const char* what : {"block_lambda_max", "block_trace", "block_trace_se"})
        c.push_back(fmt::format("{}[{}]", what, g.name));
    return c;
  }
  bool needs_hessian() const override { return true; }
  std::size_t memory_vectors() const override { return opt_.max_iter + 2 * groups_.size() + 4; }
  void reset() override {
    previous_.assign(groups_.size(), {});
    unconverged_ = {};
  }
  std::string summary_json() const override { return unconverged_json(unconverged_).dump(); }
  void save_state(StateDict& into) const override {
    for (std::size_t i = 0; i < previous_.size(); ++i) {
      StateDict part;
      save_vectors(part, previous_[i]);
      into.merge(fmt::format("block{}", i), part);
    }
    unconverged_.save_state(into);
  }
  void load_state(const StateDict& from, std::size_t) override {
    for (std::size_t i = 0; i < groups_.size(); ++i)
      previous_[i] = load_vectors(from.extract(fmt::format("block{}", i)), groups_[i].size());
    unconverged_.load_state(from);
  }
  void observe(StepContext& ctx, Row& row) override {
    HessianOperator& H = ctx.hessian();
    Rng rng(ctx.seed_for("block_sharpness"));
    for (std::size_t i = 0; i < groups_.size(); ++i) {
      const ParameterSlice& g = groups_[i];
      BlockHessian B(H, g.offset, g.size());
      LanczosOptions o = opt_;
      o.k = std::min(o.k, g.size());
      o.extra = std::min(o.extra, g.size() - o.k);
      o.seed = rng.next_u64();
      o.warm_start = previous_[i];
      const EigenResult r = lanczos_top(B, o);
      unconverged_.record(r, ctx.step());
      previous_[i] = r.vectors;
      row.set(fmt::format("block_lambda_max[{}]", g.name), r.values[0]);
      Tensor z = Tensor::from_shape({g.size()}), Bz;
      std::vector<double> q;
      for (std::size_t p = 0; p < probes_; ++p) {
        for (auto& v : z) v = (rng.next_u64() >> 63) ? 1.0 : -1.0;
        B.apply(z, Bz);
        q.push_back(inner(z, Bz));
      }
      const MeanSe m = mean_se(q);
      row.set(fmt::format("block_trace[{}]", g.name), m.mean);
      row.set(fmt::format("block_trace_se[{}]", g.name), m.se);
    }
  }

 private:
  bool per_layer_;
  std::size_t probes_;
  LanczosOptions opt_;
  std::vector<ParameterSlice> groups_;  // flat: a layer's parameters joined
  std::vector<std::vector<Tensor>> previous_;
  UnconvergedSolves unconverged_;
};

// Eigenvector tracking: the top-k eigenvectors at each analysed step (warm-
// started Lanczos), their overlap with the previous analysed step's, signs
// aligned to it, and, every `save_every` analysed steps, saved as
// DIR/eigvecs_step_TTTTTTTT.npy (t in 8 digits) ([k, dim], row i = v_{i+1}) for further analysis.
class EigvecOverlapPlugin : public WarmStartedEigenPlugin {
 public:
  EigvecOverlapPlugin(LanczosOptions o, StartFrom from, bool hvp_auto, std::size_t save_every, std::string dir)
      : WarmStartedEigenPlugin(std::move(o), from, true, hvp_auto ? std::optional(WhenShort::Float64) : std::nullopt),
        save_every_(save_every), dir_(std::move(dir)) {}
  std::string name() const override { return "eigvec_overlap"; }
  std::vector<std::string> columns() const override { return {"eigvec_overlap", "eigvec_subspace_overlap"}; }
  void reset() override {
    WarmStartedEigenPlugin::reset();
    analysed_ = 0;
  }
  void save_state(StateDict& into) const override {
    WarmStartedEigenPlugin::save_state(into);
    into.put_integer("analysed", analysed_);
  }
  void load_state(const StateDict& from, std::size_t dim) override {
    WarmStartedEigenPlugin::load_state(from, dim);
    analysed_ = from.integer("analysed");
  }
  void observe(StepContext& ctx, Row& row) override {
    EigenResult r = solve(ctx.hessian(), ctx);
    const std::size_t k = opt_.k;
    const std::vector<Tensor>& last = previous();
    if (last.size() >= k) {
      // |⟨v₁(t), v₁(t')⟩| and ‖V(t)ᵀV(t')‖²_F / k (1: the same k-dimensional subspace)
      double fro = 0.0;
      for (std::size_t i = 0; i < k; ++i)
        for (std::size_t j = 0; j < k; ++j) fro += std::pow(inner(r.vectors[i], last[j]), 2);
      row.set("eigvec_overlap", std::abs(inner(r.vectors[0], last[0])));
      row.set("eigvec_subspace_overlap", fro / double(k));
      for (std::size_t i = 0; i < k; ++i)  // sign alignment: the saved sequence varies continuously
        if (inner(r.vectors[i], last[i]) < 0) r.vectors[i] *= -1.0;
    }
    if (!dir_.empty() && analysed_ % save_every_ == 0) {
      Tensor all = zeros({k, r.vectors[0].size()});
      for (std::size_t i = 0; i < k; ++i) xt::view(all, i, xt::all()) = r.vectors[i];
      std::error_code ec;
      std::filesystem::create_directories(dir_, ec);
      write_npy(fmt::format("{}/eigvecs_step_{:08d}.npy", dir_, ctx.step()), all);
    }
    ++analysed_;
    remember(std::move(r.vectors));
  }

 private:
  std::size_t save_every_;
  std::string dir_;
  std::uint64_t analysed_ = 0;
};

// Spectral density by stochastic Lanczos quadrature (Lin, Saad & Yang 2016;
// Ghorbani et al. 2019): m Lanczos steps from each of n_v random unit probes
// give Gauss nodes θ_jk and weights w_jk of the spectral measure seen from
// probe j; the density is (1/n_v) Σ_j Σ_k w_jk N(λ; θ_jk, σ²). The trace is
// estimated per probe as ‖z‖²·Σ_k w_jk θ_jk (= zᵀHz exactly), with its
// standard error across probes (none from one probe). Per evaluated step t,
// when the run has a folder: density/step_TTTTTTTT.csv (t in 8 digits:
// lambda, density on the grid) and density/step_TTTTTTTT_nodes.csv (probe,
// node, weight).
class DensityPlugin : public Plugin {
 public:
  DensityPlugin(std::size_t probes, std::size_t steps, bool gaussian, std::size_t points, double sigma)
      : probes_(probes), steps_(steps), gaussian_(gaussian), points_(points), sigma_(sigma) {}
  std::string name() const override { return "density"; }
  std::vector<std::string> columns() const override {
    return {"density_lambda_min", "density_lambda_max", "density_trace", "density_trace_se"};
  }
  bool needs_hessian() const override { return true; }
  std::size_t memory_vectors() const override { return steps_ + 4; }
  void observe(StepContext& ctx, Row& row) override {
    HessianOperator& H = ctx.hessian();
    Rng rng(ctx.seed_for("density"));
    Tensor z = Tensor::from_shape({H.dim()});
    std::vector<Quadrature1D> q;
    std::vector<double> traces;
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t j = 0; j < probes_; ++j) {
      for (auto& v : z) v = gaussian_ ? rng.normal() : ((rng.next_u64() >> 63) ? 1.0 : -1.0);
      q.push_back(lanczos_quadrature(H, z, steps_));
      double mean = 0.0;
      for (std::size_t k = 0; k < q.back().nodes.size(); ++k) mean += q.back().weights[k] * q.back().nodes[k];
      traces.push_back(inner(z, z) * mean);
      lo = std::min(lo, q.back().nodes.front());
      hi = std::max(hi, q.back().nodes.back());
    }
    const MeanSe t = mean_se(traces);
    row.set("density_lambda_min", lo);
    row.set("density_lambda_max", hi);
    row.set("density_trace", t.mean);
    if (probes_ > 1) row.set("density_trace_se", t.se);  // one probe (PyHessian's default) has none: left empty
    if (ctx.output_dir().empty()) return;
    // The broadened density on a grid padded by 5σ beyond the extreme nodes.
    const double sigma = sigma_ * std::max(hi - lo, 1e-12 * std::max(1.0, std::abs(hi)));
    const double a = lo - 5 * sigma, b = hi + 5 * sigma;
    const std::string dir = ctx.output_dir() + "/density";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::string grid = "lambda,density\n", nodes = "probe,node,weight\n";
    for (std::size_t i = 0; i < points_; ++i) {
      const double lam = a + (b - a) * double(i) / double(points_ - 1);
      double phi = 0.0;
      for (const auto& p : q)
        for (std::size_t k = 0; k < p.nodes.size(); ++k)
          phi += p.weights[k] * std::exp(-0.5 * std::pow((lam - p.nodes[k]) / sigma, 2));
      phi /= double(probes_) * sigma * std::sqrt(2 * std::numbers::pi);
      grid += fmt::format("{:.17g},{:.17g}\n", lam, phi);
    }
    for (std::size_t j = 0; j < q.size(); ++j)
      for (std::size_t k = 0; k < q[j].nodes.size(); ++k)
        nodes += fmt::format("{},{:.17g},{:.17g}\n", j, q[j].nodes[k], q[j].weights[k]);
    write_file_atomically(fmt::format("{}/step_{:08d}.csv", dir, ctx.step()), grid);
    write_file_atomically(fmt::format("{}/step_{:08d}_nodes.csv", dir, ctx.step()), nodes);
  }

 private:
  std::size_t probes_, steps_;
  bool gaussian_;
  std::size_t points_;
  double sigma_;
};

// tr ∇²f ≈ mean of zᵀHz over Rademacher z.
class HessianTracePlugin : public Plugin {
 public:
  explicit HessianTracePlugin(std::size_t probes) : probes_(probes) {
    if (probes_ < 2) throw std::invalid_argument("plugin hessian_trace: probes must be at least 2");
  }
  std::string name() const override { return "hessian_trace"; }
  std::vector<std::string> columns() const override { return {"trace", "trace_se"}; }
  bool needs_hessian() const override { return true; }
  void observe(StepContext& ctx, Row& row) override {
    HessianOperator& H = ctx.hessian();
    Rng rng(ctx.seed_for("hessian_trace"));
    Tensor z = Tensor::from_shape({H.dim()}), Hz;
    std::vector<double> q;
    for (std::size_t i = 0; i < probes_; ++i) {
      for (auto& v : z) v = (rng.next_u64() >> 63) ? 1.0 : -1.0;
      H.apply(z, Hz);
      q.push_back(inner(z, Hz));
    }
    const MeanSe m = mean_se(q);
    row.set("trace", m.mean);
    row.set("trace_se", m.se);
  }

 private:
  std::size_t probes_;
};

// λmax(P^{-1/2} H P^{-1/2}) with P the optimizer's preconditioner (identity
// for GD and momentum), against the optimizer's stability threshold.
class PreconditionedSharpnessPlugin : public WarmStartedEigenPlugin {
 public:
  explicit PreconditionedSharpnessPlugin(LanczosOptions o) : WarmStartedEigenPlugin(std::move(o)) {}
  std::string name() const override { return "precond_sharpness"; }
  std::vector<std::string> columns() const override { return {"precond_lambda_max", "precond_threshold"}; }
  void observe(StepContext& ctx, Row& row) override {
    const optim::Optimizer* opt = ctx.optimizer();
    if (!opt)
      throw std::invalid_argument("plugin precond_sharpness: needs the optimizer (its preconditioner is "
                                  "optimizer state); attach it to a Trainer or pass the optimizer offline");
    HessianOperator& H = ctx.hessian();
    std::optional<Tensor> d;  // P^{-1/2}; none for GD and momentum
    if (auto P = opt->preconditioner()) {
      d = Tensor::from_shape({P->size()});
      std::transform(P->begin(), P->end(), d->begin(), [](double p) { return 1.0 / std::sqrt(p); });
    }
    ScaledHessian S(H, 1.0, std::move(d));
    EigenResult r = solve(S, ctx);
    row.set("precond_lambda_max", r.values[0]);
    row.set("precond_threshold", opt->stability_threshold(ctx.lr()));
    remember(std::move(r.vectors));
  }
};

// The warm-started Lanczos plugins, which share lanczos_option_decls and,
// under hvp=auto, choose their precision per solve.
void register_tracked_eigen_plugins(PluginRegistry& reg) {
  std::vector<OptionDecl> sharpness_options = lanczos_option_decls();
  sharpness_options.push_back(
      OptionDecl::count("warm", "1", 0, 1, "warm start from the previous analysed step (0: cold)"));
  sharpness_options.push_back(OptionDecl::count(
      "guard_every", "2", 1, 1000,
      "the extra vectors (the guard against an eigenvalue crossing into the top k) are paid by two solves in a row "
      "(at the edge of stability, one of each phase), then the next 2·(n − 1) solves may each pay only the k "
      "predicted top vectors, and stop there where these meet the rule with δ = a third of the smaller gap below "
      "the top k that the two guarded solves measured; only where both gaps were at least 10 % of λ, the last two "
      "solves took fewer than 3 HVPs, and the lead is float64 (hvp=float64, or the float64 lead of float64-lead and "
      "auto). It assumes that the gap does not shrink by two thirds meanwhile, and the gaps are Ritz estimates, "
      "which can be too large (on the 1000-step benchmark, below the true gap at all 227 such solves, true/assumed "
      "≥ 1.13; with the guard from step t − 1, as before 2026-12-06, 1.7× above it at 1 of 236, whose λmax was still "
      "within 5.1e-4; the column sharpness_assumed_gap has each). 1: every solve "
      "(before 2026-12-05's fifth session)"));
  reg.add({"sharpness", "top Hessian eigenvalues by Lanczos, warm-started along the trajectory",
           {{"lambda_max", "λmax(∇²f(θ_t))"},
            {"lambda_i", "the i-th largest eigenvalue, i = 2…k"},
            {"sharpness_residual", "‖Hv − λv‖/|λ| of the top pair"},
            {"sharpness_hvps", "HVPs used"},
            {"cos_grad_top", "|cos(∇f, v₁)|"},
            {"sharpness_float32_hvps", "of the HVPs, those with float32 products (hvp=mixed, or auto: 0 at the steps it "
                                       "solved in float64)"},
            {"sharpness_assumed_gap", "the gap δ below the top k that the solve assumed where it stopped on the "
                                      "predicted top vectors alone (guard_every ≥ 2); 0 where it paid its guard"}},
           sharpness_options,
           [](const OptionValues& o) {
             return std::make_unique<SharpnessPlugin>(lanczos_options(o), start_from(o), o.count("warm") != 0,
                                                      o.text("hvp") == "auto", o.count("guard_every"));
           }});
  reg.add({"lambda_min", "the smallest (most negative) Hessian eigenvalues by Lanczos on −H, warm-started",
           {{"lambda_min", "λmin(∇²f(θ_t))"},
            {"lambda_min_i", "the i-th smallest eigenvalue, i = 2…k"},
            {"lambda_min_residual", "‖Hv − λv‖/|λ| of the smallest pair"},
            {"lambda_min_hvps", "HVPs used"}},
           lanczos_option_decls(),
           [](const OptionValues& o) {
             return std::make_unique<LambdaMinPlugin>(lanczos_options(o, true, /*top_of_spectrum=*/false), start_from(o));
           }});
  std::vector<OptionDecl> overlap_options = lanczos_option_decls();
  overlap_options.push_back(
      OptionDecl::text("dir", "", "save the top-k eigenvectors (signs aligned step to step) as DIR/eigvecs_step_TTTTTTTT.npy (t in 8 digits), "
                                  "[k, dim]; empty: none"));
  overlap_options.push_back(OptionDecl::count("save_every", "1", 1, 1000000000, "save at every n-th analysed step"));
  reg.add({"eigvec_overlap", "top Hessian eigenvectors tracked along the trajectory: overlap with the previous analysed "
                             "step, and saved as .npy",
           {{"eigvec_overlap", "|⟨v₁(t), v₁(t')⟩|, t' the previous analysed step"},
            {"eigvec_subspace_overlap", "‖V(t)ᵀV(t')‖²_F / k for the top-k eigenvectors (1: the same subspace)"}},
           overlap_options,
           [](const OptionValues& o) {
             return std::make_unique<EigvecOverlapPlugin>(lanczos_options(o), start_from(o), o.text("hvp") == "auto",
                                                          o.count("save_every"), o.text("dir"));
           }});
}

}  // namespace

void register_curvature_plugins(PluginRegistry& reg) {
  register_tracked_eigen_plugins(reg);
  reg.add({"block_sharpness", "λmax and Hutchinson trace of each diagonal block of the Hessian, per parameter or per layer",
           {{"block_lambda_max[NAME]", "λmax of the block H_SS of parameter (or layer) NAME, e.g. 0.weight or 0"},
            {"block_trace[NAME]", "tr H_SS by Hutchinson with Rademacher probes on the block"},
            {"block_trace_se[NAME]", "its standard error across probes"}},
           {OptionDecl::choice("group", {"parameter", "layer"},
                               "parameter: one block per named parameter (0.weight, 0.bias, …); layer: per layer"),
            OptionDecl::count("probes", "10", 2, 100000, "Hutchinson probes per block (one HVP each)"),
            tol_option("1e-3", 0.5, "Lanczos tolerance of each block's λmax"), max_iter_option()},
           [](const OptionValues& o) {
             LanczosOptions lo = lanczos_options(o, false);
             lo.extra = 1;
             return std::make_unique<BlockSharpnessPlugin>(o.text("group") == "layer", o.count("probes"), lo);
           }});
  reg.add({"density", "Hessian spectral density by stochastic Lanczos quadrature; per step t density/step_TTTTTTTT.csv "
                      "(t in 8 digits, e.g. step_00000010.csv: lambda, density) and density/step_TTTTTTTT_nodes.csv "
                      "(probe, node, weight) in the run's or analysis' folder",
           {{"density_lambda_min", "smallest Ritz node over probes (estimate of λmin)"},
            {"density_lambda_max", "largest Ritz node over probes (estimate of λmax)"},
            {"density_trace", "tr ∇²f estimated from the quadratures (zᵀHz per probe)"},
            {"density_trace_se", "its standard error across probes (empty with probes=1)"}},
           {OptionDecl::count("probes", "5", 1, 10000, "random probe vectors n_v (PyHessian's default is 1)"),
            OptionDecl::count("steps", "80", 1, 10000,
                              "Lanczos steps m per probe (one HVP each; exact for polynomials of degree < 2m)"),
            OptionDecl::choice("dist", {"rademacher", "gaussian"}, "probe distribution"),
            OptionDecl::count("points", "400", 2, 1000000, "grid points of the density file"),
            OptionDecl::number("sigma", "0.01", 1e-6, 1.0,
                               "Gaussian broadening, as a fraction of the spectrum's estimated width")},
           [](const OptionValues& o) {
             return std::make_unique<DensityPlugin>(o.count("probes"), o.count("steps"), o.text("dist") == "gaussian",
                                                    o.count("points"), o.number("sigma"));
           }});
  reg.add({"hessian_trace", "Hutchinson estimate of tr ∇²f with Rademacher probes",
           {{"trace", "mean of zᵀHz"}, {"trace_se", "its standard error"}},
           {OptionDecl::count("probes", "20", 2, 1000000, "number of probes (one HVP each)")},
           [](const OptionValues& o) { return std::make_unique<HessianTracePlugin>(o.count("probes")); }});
  reg.add({"precond_sharpness", "λmax(P^{-1/2} H P^{-1/2}) with P the optimizer's preconditioner",
           {{"precond_lambda_max", "λmax of the preconditioned Hessian"},
            {"precond_threshold", "the optimizer's stability threshold (2/η for GD, RMSProp; (2+2β₁)/((1−β₁)η) for Adam)"}},
           {tol_option("1e-3", 0.5, "Lanczos tolerance"), max_iter_option()},
           [](const OptionValues& o) {
             return std::make_unique<PreconditionedSharpnessPlugin>(lanczos_options(o, false));
           }});
}

}  // namespace detail
}  // namespace eos::analysis
