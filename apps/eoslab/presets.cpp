// The presets of `eoslab reproduce`, one per result of the paper, as data:
// each declares its runs (the `eoslab train` commands, shared across presets
// by their directory name), its claims (mostly ColumnCheck rows of
// claims.hpp, whose criterion text is generated from the numbers they check;
// the rest bespoke checks with their text beside their code), and its
// figures. Runs are referred to by the handles their declaration returns.
#include "presets.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <fmt/format.h>

namespace eos::cli {
namespace {

const std::string kAhn =
    "Ahn, Zhang & Sra (2022), \"Understanding the Unstable Convergence of Gradient Descent\", ICML";
const std::string kCentralFlows =
    "Cohen, Damian, Talwalkar, Kolter & Lee (2024), \"Understanding Optimization in Deep Learning with Central Flows\"";

// ---- bespoke statistics ------------------------------------------------------

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n, mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}
// Steps t with f(θ_{t+1}) > f(θ_t).
std::size_t loss_increases(const LoadedRun& r) {
  const auto v = r.values("loss");
  std::size_t k = 0;
  for (std::size_t i = 1; i < v.size(); ++i) k += v[i] > v[i - 1];
  return k;
}
// The first measured step with λmax ≥ 2/η: the sharpness reaches the stability threshold.
std::optional<double> threshold_crossing(const LoadedRun& r) {
  for (const auto& [s, v] : r.series("lambda_max"))
    if (v >= 2.0 / r.lr()) return s;
  return std::nullopt;
}
// The steps between two sharpness measurements.
double sharpness_interval(const LoadedRun& r) {
  const auto v = r.series("lambda_max");
  return v.size() > 1 ? v[1].first - v[0].first : 1.0;
}
// ratio of a column to 2/η at each step
std::vector<double> over_two_eta(const LoadedRun& r, const std::string& column, double from = -INFINITY) {
  std::vector<double> out;
  for (double v : r.values(column, from)) out.push_back(v * r.lr() / 2.0);
  return out;
}
double fraction(const std::vector<double>& v, const std::function<bool(double)>& pred) {
  if (v.empty()) throw std::runtime_error("no measured values");
  return double(std::count_if(v.begin(), v.end(), pred)) / double(v.size());
}

// The regime plugin's verdict on runs that reach the edge of stability: the
// first unstable step lies within one window (20 steps) of the first loss
// increase, and no step is labelled diverging.
constexpr double kRegimeWindow = 20;
Check regime_finds_the_onset(std::vector<RunHandle> runs) {
  return each_run(std::move(runs),
                  fmt::format("plugin regime's first unstable step within {} steps (its window) of the first loss "
                              "increase, and no step labelled diverging",
                              kRegimeWindow),
                  [](const LoadedRun& r) {
                    const auto first = r.first_unstable_step();
                    const auto onset = first_loss_increase(r);
                    const double diverging = r.regime_fraction("diverging");
                    return Verdict{first && onset && std::abs(*first - *onset) <= kRegimeWindow && diverging == 0,
                                   fmt::format("first unstable step {}, first loss increase {}, {:.1f} % of steps "
                                               "labelled diverging",
                                               first ? fmt::format("{}", *first) : std::string("— (none)"),
                                               onset ? fmt::format("{}", *onset) : std::string("— (none)"),
                                               100 * diverging)};
                  });
}

// The regime plugin never leaves "stable".
Check regime_stays_stable(std::vector<RunHandle> runs) {
  Check c = each_run(std::move(runs), "", [](const LoadedRun& r) {
    return Verdict{!r.first_unstable_step() && r.regime_fraction("stable") == 1.0, r.regime_text()};
  });
  c.criterion = "plugin regime: no first unstable step and every step labelled stable, in each run";
  return c;
}

// Shorthands for the rows.
ColumnCheck row(std::vector<RunHandle> runs, Quantity q, Window w, Statistic st, Range accepted) {
  return {std::move(runs), std::move(q), w, st, accepted};
}
Quantity RP() { return Quantity::column("rp", "RP"); }
Quantity L_scaled() { return Quantity::times_eta_over_2("L_dir", "L(θ_t; η∇f)·η/2"); }
Quantity sharpness_scaled() { return Quantity::times_eta_over_2("lambda_max", "λmax·η/2"); }
Quantity loss() { return Quantity::column("loss", "loss"); }
Quantity rp_vs_43() { return Quantity::abs_difference("rp", "rp_pred_43", "|RP − (4.3)|"); }

// Progressive sharpening reaches 2/η before the loss first goes up, in each run.
Check sharpening_before_the_loss_rises(std::vector<RunHandle> runs) {
  return each_run(std::move(runs),
                  "a measured λmax ≥ 2/η, and the first loss increase no earlier than one measurement interval "
                  "before the first such measurement",
                  [](const LoadedRun& run) {
                    const auto cross = threshold_crossing(run);
                    const auto onset = first_loss_increase(run);
                    return Verdict{cross && onset && *onset >= *cross - sharpness_interval(run),
                                   fmt::format("λmax first measured ≥ 2/η at step {}; first loss increase at step {}",
                                               cross ? fmt::format("{}", *cross) : std::string("— (never)"),
                                               onset ? fmt::format("{}", *onset) : std::string("— (never)"))};
                  });
}

// Cohen et al.'s edge of stability with the paper's Section 4 quantities, for
// runs that reach it (the eos and cnn presets).
std::vector<Claim> edge_of_stability_claims(const std::vector<RunHandle>& r) {
  return {
      {"Progressive sharpening: λmax rises from below 2/η until it reaches 2/η, and only then does the loss start "
       "to go up.",
       {row(r, sharpness_scaled(), Window::whole(), Statistic::first(), Range::below(1)).check(),
        sharpening_before_the_loss_rises(r)}},
      {"Then λmax hovers at (or slightly above) 2/η.",
       {row(r, sharpness_scaled(), Window::from_onset(), Statistic::median(), Range::within(0.9, 1.2)).check(),
        row(r, sharpness_scaled(), Window::from_onset(), Statistic::fraction_in(Range::within(0.8, 1.4)),
            Range::at_least(0.8))
            .check()}},
      {"Once it does, RP oscillates around 0 (no progress relative to η‖∇f‖²).",
       {row(r, RP(), Window::from_onset(), Statistic::median(), Range::within(-0.25, 0.25)).check()}},
      {"… and L(θ_t; η∇f) sits at 2/η (GD oscillates along the top eigendirection).",
       {row(r, L_scaled(), Window::from_onset(), Statistic::median(), Range::within(0.85, 1.15)).check()}},
      {"The onset can be found automatically, from L and λmax against 2/η, without reading the loss curve.",
       {regime_finds_the_onset(r)}},
  };
}

// ---- runs ------------------------------------------------------------------

std::string lr_tag(const std::string& lr) {
  std::string s = lr;
  std::replace(s.begin(), s.end(), '/', '_');
  std::replace(s.begin(), s.end(), ',', '_');
  return s;
}

PresetRun toy(const std::string& toy_name, const std::string& theta0, const std::string& lr, std::size_t steps,
              const std::string& label) {
  return {fmt::format("{}-{}-eta{}", toy_name, lr_tag(theta0), lr_tag(lr)),
          label,
          {"--toy", toy_name, "--theta0", theta0, "--lr", lr, "--steps", std::to_string(steps), "--plugin", "loss",
           "--plugin", "theta", "--plugin", "rp", "--plugin", "sharpness", "--plugin", "regime"},
          false};
}

// fc-<activation> on the first 5000 images, standardized (Cohen et al.'s protocol).
PresetRun net(const std::string& name, const std::string& label, std::vector<std::string> args) {
  return {name, label, std::move(args), true};
}

std::string steps(bool quick, std::size_t q, std::size_t full) { return std::to_string(quick ? q : full); }

// The shared edge-of-stability run (exp3, exp4, eos): fc-tanh at η = 2/15.
PresetRun tanh_eos_run(bool quick) {
  return net("fc-tanh-eta2_15", "fc-tanh, η = 2/15",
             {"--activation", "tanh", "--lr", "2/15", "--steps", steps(quick, 700, 3000), "--plugin", "loss", "--plugin",
              "accuracy@10", "--plugin", "rp", "--plugin", quick ? "sharpness@10" : "sharpness@2", "--plugin", "regime"});
}
// exp3/exp4's second unstable run, until 95 % accuracy as in the paper.
PresetRun tanh_unstable_run(bool quick) {
  return net("fc-tanh-eta2_10", "fc-tanh, η = 2/10",
             {"--activation", "tanh", "--lr", "2/10", "--steps", steps(quick, 600, 3000), "--accuracy-goal", "0.95",
              "--plugin", "loss", "--plugin", "accuracy@10", "--plugin", "rp", "--plugin", "sharpness@10", "--plugin",
              "regime"});
}
// exp2/exp4's stable runs
std::vector<PresetRun> tanh_stable_runs(bool quick) {
  std::vector<PresetRun> r;
  for (const std::string lr : {"2/60", "2/100"})
    r.push_back(net("fc-tanh-eta" + lr_tag(lr), "fc-tanh, η = " + lr,
                    {"--activation", "tanh", "--lr", lr, "--steps", steps(quick, 400, lr == "2/60" ? 4000 : 7000),
                     "--accuracy-goal", "0.95", "--plugin", "loss", "--plugin", "accuracy@5", "--plugin", "rp",
                     "--plugin", "sharpness@100", "--plugin", "regime"}));
  return r;
}

std::vector<PresetRun> sgd_runs(const std::string& activation, bool quick) {
  std::vector<PresetRun> r;
  for (const std::string lr : {"2/50", "2/100", "2/150"})
    r.push_back(net(fmt::format("sgd-{}-b32-eta{}", activation, lr_tag(lr)), fmt::format("SGD, {}, η = {}", activation, lr),
                    {"--activation", activation, "--lr", lr, "--batch-size", "32", "--epochs", steps(quick, 12, 50),
                     "--plugin", "loss@epoch", "--plugin", "accuracy@epoch", "--plugin",
                     quick ? "sgd_rp:draws=32@epoch" : "sgd_rp:draws=128@epoch"}));
  return r;
}

// ---- figures ---------------------------------------------------------------

plot::Series line(const LoadedRun& r, const std::string& column, const std::string& title,
                  plot::Style style = plot::Style::Lines, int color = -1) {
  plot::Series s;
  s.csv = r.csv();
  s.y = column;
  s.title = title;
  s.style = style;
  s.color = color;
  return s;
}
plot::Series scaled(const LoadedRun& r, const std::string& column, const std::string& title,
                    plot::Style style = plot::Style::Lines, int color = -1) {
  plot::Series s = line(r, column, title, style, color);
  s.expr = fmt::format("column(\"{}\")*column(\"lr\")/2", column);  // value·η/2: 1 is the stability threshold
  return s;
}
plot::Series two_over_eta(const LoadedRun& r, const std::string& title = "2/η") {
  plot::Series s = line(r, "lr", title, plot::Style::Dashed, 6);
  s.expr = "2/column(\"lr\")";
  return s;
}

plot::Figure loss_figure(const std::string& name, const std::string& title, const std::vector<const LoadedRun*>& runs) {
  plot::Figure f{name, title, "step", "training loss"};
  f.logy = true;
  for (const auto* r : runs) f.series.push_back(line(*r, "loss", r->spec.label));
  return f;
}

plot::Figure rp_figure(const std::string& name, const std::string& title, const std::vector<const LoadedRun*>& runs) {
  plot::Figure f{name, title, "step", "RP(θ_t)"};
  std::vector<std::vector<double>> all;
  for (const auto* r : runs) {
    f.series.push_back(line(*r, "rp", r->spec.label));
    all.push_back(r->values("rp"));
  }
  f.hlines = {{0.0, ""}, {-1.0, ""}};
  f.yrange = plot::robust_range(all, {-1.2, 0.6});
  return f;
}

// ---- the presets -----------------------------------------------------------

Preset example1(bool) {
  Preset p;
  p.name = "example1";
  p.title = "Example 1 (Fact 1): on a quadratic, GD diverges past η = 2/L";
  p.source = {kAhn, "Section 2, Fact 1 and the quadratic 20θ₁² + θ₂²"};
  p.setting =
      "GD on f(θ) = 20θ₁² + θ₂² (L = λmax = 40) from θ₀ = (1, 1) with η = 2/39, 2/40 and 2/41, 300 steps each "
      "(the same with and without --quick: a step costs microseconds). Plugins: loss, θ, RP, sharpness. A run "
      "counts as diverged when its loss exceeds 10¹⁰·max(|f(θ₀)|, 1) (the trainer's default), which 2/39 reaches "
      "at step 231.";
  const RunHandle above = p.run(toy("quadratic", "1,1", "2/39", 300, "η = 2/39"));
  const RunHandle at = p.run(toy("quadratic", "1,1", "2/40", 300, "η = 2/40"));
  const RunHandle below = p.run(toy("quadratic", "1,1", "2/41", 300, "η = 2/41"));
  static constexpr double kFlipTol = 1e-12, kFinalTol = 1e-6;
  p.claims = {
      {"With η = 2/39 > 2/L, GD diverges.", {outcome_check({above}, true)}},
      {"With η = 2/40 = 2/L, GD neither converges nor diverges: θ₁ flips between +1 and −1.",
       {outcome_check({at}, false),
        {fmt::format("||θ₁| − 1| ≤ {} at every step, and |f(θ_final) − 20| ≤ {} (θ₂ → 0, 20θ₁² = 20)", kFlipTol,
                     kFinalTol),
         [at](const RunSet& s) {
           const auto& r = s[at];
           double dev = 0;
           const auto th = r.values("theta_1");
           for (double v : th) dev = std::max(dev, std::abs(std::abs(v) - 1.0));
           const double fdev = std::abs(r.last_loss() - 20.0);
           return Verdict{dev <= kFlipTol && fdev <= kFinalTol,
                          fmt::format("max ||θ₁| − 1| = {:.2g}; last two θ₁ = {}, {}; |f − 20| at the end = {:.2g}", dev,
                                      g4(th[th.size() - 2]), g4(th.back()), fdev)};
         }}}},
      {"With η = 2/41 < 2/L, GD converges.",
       {outcome_check({below}, false),
        row({below}, loss(), Window::whole(), Statistic::last_over_first(), Range::at_most(1e-8)).check()}},
  };
  p.figures = [above, at, below](const RunSet& s) {
    std::vector<const LoadedRun*> runs = {&s[above], &s[at], &s[below]};
    plot::Figure th{"theta1", "θ₁ of GD on 20θ₁² + θ₂²", "step", "θ₁"};
    for (const auto* r : runs) th.series.push_back(line(*r, "theta_1", r->spec.label));
    th.yrange = std::pair{-3.0, 3.0};
    return std::vector<FigureNote>{
        {loss_figure("loss", "GD on 20θ₁² + θ₂² (L = 40)", runs),
         "The loss diverges for η = 2/39, stays at 20 for η = 2/40 and converges for η = 2/41, as Fact 1 states for "
         "η above, at and below 2/L."},
        {th, "θ₁ grows in magnitude while flipping sign for η = 2/39, flips between ±1 for 2/40, and shrinks for 2/41."}};
  };
  return p;
}

// The symmetric 2-cycle ±a of GD on tanh(20θ₁²) with θ₂ = 0: θ₁ − η·40θ₁·sech²(20θ₁²) = −θ₁,
// i.e. sech²(20a²) = 1/(20η).
double tanh_quadratic_cycle(double eta) { return std::sqrt(std::acosh(std::sqrt(20.0 * eta)) / 20.0); }

Preset example2(bool) {
  Preset p;
  p.name = "example2";
  p.title = "Example 2: tanh flattens the quadratic, and GD at η = 2/39 no longer diverges";
  p.source = {kAhn, "Section 3, Example 2 (\"flattened\" quadratic tanh(20θ₁² + θ₂²))"};
  p.setting =
      "GD with η = 2/39 > 2/L from θ₀ = (0.5, 0.5), 500 steps, on f = 20θ₁² + θ₂² and on tanh(20θ₁² + θ₂²), which has "
      "the same minimum and Hessian there. The paper does not state θ₀; from (0.5, 0.5) the quadratic diverges and "
      "the flattened cost settles on a 2-cycle, whose amplitude a = √(arcosh(√(20η))/20) follows from "
      "θ₁ − η·∂f/∂θ₁ = −θ₁ on θ₂ = 0.";
  const RunHandle quad = p.run(toy("quadratic", "0.5,0.5", "2/39", 500, "20θ₁² + θ₂²"));
  const RunHandle flat = p.run(toy("tanh_quadratic", "0.5,0.5", "2/39", 500, "tanh(20θ₁² + θ₂²)"));
  static constexpr double kBound = 1.0, kCycleTol = 1e-6;
  p.claims = {
      {"GD with η = 2/39 diverges on the quadratic.", {outcome_check({quad}, true)}},
      {"On the flattened cost tanh(20θ₁² + θ₂²), the same step size does not diverge: the iterates stay in a "
       "compact set.",
       {outcome_check({flat}, false),
        {fmt::format("max |θ_t| over the run ≤ {} (θ₀ has |θ| = 0.71)", kBound), [flat](const RunSet& s) {
           const auto& r = s[flat];
           double m = 0;
           const auto a = r.values("theta_1"), b = r.values("theta_2");
           for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::hypot(a[i], b[i]));
           return Verdict{m <= kBound, fmt::format("max |θ_t| = {}", g4(m))};
         }}}},
      {"GD settles on an oscillation around the minimum rather than converging to it (unstable regime).",
       {{fmt::format("the last |θ₁| equals the analytic 2-cycle amplitude a to {} relative, θ₁ changes sign each "
                     "step, |θ₂| ≤ {}",
                     kCycleTol, kCycleTol),
         [flat](const RunSet& s) {
           const auto& r = s[flat];
           const auto a1 = r.values("theta_1"), a2 = r.values("theta_2");
           const double a = tanh_quadratic_cycle(2.0 / 39.0), last = a1.back(), prev = a1[a1.size() - 2];
           const double rel = std::abs(std::abs(last) - a) / a;
           const bool flips = last * prev < 0;
           return Verdict{rel <= kCycleTol && flips && std::abs(a2.back()) <= kCycleTol,
                          fmt::format("last θ₁ = {:.9f}, previous {:.9f}; a = {:.9f} (relative gap {:.2g}); θ₂ = {:.2g}",
                                      last, prev, a, rel, a2.back())};
         }}}},
  };
  p.figures = [quad, flat](const RunSet& s) {
    const auto& q = s[quad];
    const auto& t = s[flat];
    plot::Figure th{"theta1", "θ₁ under GD with η = 2/39", "step", "θ₁"};
    th.series = {line(q, "theta_1", q.spec.label), line(t, "theta_1", t.spec.label)};
    const double a = tanh_quadratic_cycle(2.0 / 39.0);
    th.hlines = {{a, "±a (analytic 2-cycle)"}, {-a, ""}};
    th.yrange = std::pair{-1.0, 1.0};
    return std::vector<FigureNote>{
        {loss_figure("loss", "GD with η = 2/39 on the quadratic and on its tanh-flattened version", {&q, &t}),
         "The quadratic's loss explodes while the flattened cost's loss stays bounded (it oscillates on a 2-cycle)."},
        {th, "θ₁ of the flattened cost is caught on the 2-cycle ±a predicted analytically, while on the quadratic it "
             "leaves the plot."}};
  };
  return p;
}

Preset example3(bool quick) {
  Preset p;
  p.name = "example3";
  p.title = "Example 3: a single tanh neuron converges past 2/η, a linear one diverges";
  p.source = {kAhn, "Section 3, Example 3 (single-neuron networks fitting (1, 0))"};
  p.setting =
      "GD with η = 2/150 from θ₀ = (13, 0.01) on the linear neuron (θ₁θ₂)² and the tanh neuron (θ₁·tanh θ₂)², as in "
      "the paper; λmax(θ₀) ≈ 338 > 2/η = 150. 1000 steps with --quick, 5000 without; sharpness every step (the "
      "Hessian is 2 × 2).";
  const std::size_t n = quick ? 1000 : 5000;
  const RunHandle lin = p.run(toy("linear_neuron", "13,0.01", "2/150", n, "linear neuron"));
  const RunHandle tanh = p.run(toy("tanh_neuron", "13,0.01", "2/150", n, "tanh neuron"));
  p.claims = {
      {"The linear network diverges at η = 2/150.",
       {outcome_check({lin}, true),
        row({lin}, sharpness_scaled(), Window::whole(), Statistic::first(), Range::above(1)).check()}},
      {"The tanh network converges at the same step size although it starts with λmax > 2/η.",
       {outcome_check({tanh}, false),
        row({tanh}, sharpness_scaled(), Window::whole(), Statistic::first(), Range::above(1)).check(),
        row({tanh}, loss(), Window::whole(), Statistic::last(), Range::at_most(1e-10)).check()}},
      {"The minimum it reaches has sharpness approximately 2/η: GD travels along the valley of minima until one "
       "is flat enough.",
       {row({tanh}, sharpness_scaled(), Window::whole(), Statistic::last(), Range::within(0.98, 1.02)).check()}},
  };
  p.figures = [lin, tanh](const RunSet& s) {
    const auto& l = s[lin];
    const auto& th = s[tanh];
    plot::Figure sh{"sharpness", "λmax along GD with η = 2/150", "step", "λmax"};
    sh.series = {line(l, "lambda_max", l.spec.label), line(th, "lambda_max", th.spec.label), two_over_eta(th)};
    sh.yrange = std::pair{0.0, 400.0};
    plot::Figure rp = rp_figure("rp", "relative progress of the tanh neuron", {&th});
    return std::vector<FigureNote>{
        {loss_figure("loss", "single neurons fitting (1, 0), GD with η = 2/150", {&l, &th}),
         "The linear neuron's loss explodes within a few steps; the tanh neuron's loss is non-monotone, then "
         "converges."},
        {sh, "The tanh neuron starts at λmax ≈ 338 > 2/η and ends at a minimum whose λmax is just below 2/η = 150."},
        {rp, "RP of the tanh neuron is positive at early steps (loss increases) before settling near −1 once at a flat "
             "enough minimum."}};
  };
  return p;
}

Preset exp1(bool quick) {
  Preset p;
  p.name = "exp1";
  p.title = "Experiment 1: past the stable step size, the linear network diverges, tanh and ReLU converge";
  p.source = {kAhn, "Section 3, Experiment 1 (Figure 1's setting)"};
  p.setting =
      "fc networks 784-200-200-10 (linear = no activation, tanh, ReLU), mean cross-entropy, full-batch GD on the "
      "first 5000 Fashion-MNIST training images, standardized. Deviation: η = 2/4 instead of the paper's 2/30. On "
      "Fashion-MNIST all three nets start with λmax ≈ 2–4 and the linear net stays far below 2/η = 30 (it trains "
      "stably at 2/30), so the phenomenon needs a step size past λmax(θ₀): at η = 2/4, 2/η = 4 is below the linear "
      "and tanh nets' initial sharpness. 200 steps with --quick, 2000 without.";
  std::vector<RunHandle> h;
  for (const std::string act : {"identity", "tanh", "relu"})
    h.push_back(p.run(net("fc-" + act + "-eta2_4", (act == "identity" ? std::string("linear") : act) + ", η = 2/4",
                          {"--activation", act, "--lr", "2/4", "--steps", steps(quick, 200, 2000), "--plugin", "loss",
                           "--plugin", "accuracy@10", "--plugin", "rp", "--plugin",
                           quick ? "sharpness@10" : "sharpness@25"})));
  const RunHandle linear = h[0], tanh = h[1], relu = h[2];
  auto converges = [](RunHandle r) {
    return std::vector<Check>{
        outcome_check({r}, false),
        row({r}, loss(), Window::whole(), Statistic::last_over_first(), Range::at_most(0.2)).check()};
  };
  p.claims = {
      {"Without activations (a linear network), GD with this step size diverges.", {outcome_check({linear}, true)}},
      {"With tanh activations, GD converges at the same step size.", converges(tanh)},
      {"With ReLU activations, GD converges at the same step size.", converges(relu)},
  };
  p.figures = [h](const RunSet& s) {
    std::vector<const LoadedRun*> runs = {&s[h[0]], &s[h[1]], &s[h[2]]};
    plot::Figure sh{"sharpness", "λmax along GD with η = 2/4", "step", "λmax"};
    for (const auto* r : runs) sh.series.push_back(line(*r, "lambda_max", r->spec.label, plot::Style::LinesPoints));
    sh.series.push_back(two_over_eta(*runs[1]));
    sh.logy = true;  // the linear net's λmax explodes while the others stay near 2/η
    return std::vector<FigureNote>{
        {loss_figure("loss", "fc nets on 5000 Fashion-MNIST images, GD with η = 2/4", runs),
         "The linear network's loss blows up within a few steps; with tanh or ReLU the loss oscillates but goes down, "
         "as in the paper's Experiment 1."},
        {sh, "Sharpness at the measured steps beside 2/η: the networks with activations converge with λmax near or "
             "above 2/η."}};
  };
  return p;
}

Preset exp2(bool quick) {
  Preset p;
  p.name = "exp2";
  p.title = "Experiment 2: in the stable regime RP stays negative, near −1";
  p.source = {kAhn, "Section 4.1.1, Experiment 2"};
  p.setting =
      "fc-tanh 784-200-200-10, mean cross-entropy, full-batch GD on the first 5000 Fashion-MNIST images, at the small "
      "step sizes η = 2/60 and 2/100, until 95 % training accuracy (at most 4000 and 7000 steps) without --quick; "
      "400 steps each with --quick, which stops well before 95 %. λmax is "
      "measured every 100 steps to confirm the runs stay below 2/η.";
  std::vector<RunHandle> stable;
  for (const PresetRun& r : tanh_stable_runs(quick)) stable.push_back(p.run(r));
  p.claims = {
      {"The runs are in the stable regime (the premise of the experiment).",
       {row(stable, sharpness_scaled(), Window::whole(), Statistic::max(), Range::below(1)).check()}},
      {"RP stays negative for all iterations.",
       {row(stable, RP(), Window::whole(), Statistic::max(), Range::below(0)).check()}},
      {"RP saturates around −1.",
       {row(stable, RP(), Window::second_half(), Statistic::median(), Range::within(-1.05, -0.9)).check()}},
      {"The regime detector agrees: these runs never turn unstable.", {regime_stays_stable(stable)}},
      {"The loss decreases monotonically.",
       {{"f(θ_{t+1}) ≤ f(θ_t) at every step of both runs", [stable](const RunSet& s) {
           const auto a = loss_increases(s[stable[0]]), b = loss_increases(s[stable[1]]);
           return Verdict{a + b == 0, fmt::format("loss increases: {} (η = 2/60), {} (η = 2/100)", a, b)};
         }}}},
  };
  p.figures = [stable](const RunSet& s) {
    std::vector<const LoadedRun*> runs = {&s[stable[0]], &s[stable[1]]};
    return std::vector<FigureNote>{
        {loss_figure("loss", "fc-tanh, stable step sizes", runs), "The loss decreases monotonically."},
        {rp_figure("rp", "relative progress in the stable regime", runs),
         "RP stays negative and close to −1 at every step, as in the paper's Experiment 2."}};
  };
  return p;
}

Preset exp3(bool quick) {
  Preset p;
  p.name = "exp3";
  p.title = "Experiment 3: in the unstable regime RP oscillates around 0";
  p.source = {kAhn, "Section 4.1.2, Experiment 3"};
  p.setting =
      "fc-tanh 784-200-200-10 on the first 5000 Fashion-MNIST images, full-batch GD at η = 2/10 until 95 % training "
      "accuracy as in the paper (at most 600 steps with --quick, 3000 without), and at η = 2/15 for a fixed 700 "
      "steps (3000 without --quick; the run of the eos preset), which passes 95 % on the way. Deviation: larger "
      "step sizes than the paper's CIFAR-10 ones: on Fashion-MNIST fc-tanh reaches 95 % training accuracy soon, "
      "and only for η ≳ 2/15 does its sharpness reach 2/η well before that (at 2/20 GD hits 95 % about when it "
      "turns unstable; at 2/30 the sharpness is still below 2/η after 500 steps). The unstable phase starts at the "
      "onset of unstable convergence: the first step at which the loss goes up (RP > 0).";
  const std::vector<RunHandle> unstable = {p.run(tanh_unstable_run(quick)), p.run(tanh_eos_run(quick))};
  static constexpr double kAccuracy = 0.95;  // the goal of the η = 2/10 run (tanh_unstable_run)
  p.claims = {
      {"Before the edge of stability RP is near −1; once GD is unstable, RP oscillates around 0 instead.",
       {row(unstable, RP(), Window::from_onset(), Statistic::median(), Range::within(-0.25, 0.25)).check(),
        row(unstable, RP(), Window::before_onset(), Statistic::median(), Range::below(-0.9)).check()}},
      {"In the unstable regime the loss goes up at many steps (RP > 0), yet training converges.",
       {row(unstable, RP(), Window::from_onset(), Statistic::fraction_in(Range::above(0)), Range::at_least(0.2)).check(),
        outcome_check(unstable, false),
        each_run(unstable,
                 fmt::format("the training accuracy reaches {:g} % (the run's accuracy goal, or a measured accuracy)",
                             100 * kAccuracy),
                 [](const LoadedRun& r) {
                   const double acc = max_of(r.values("accuracy"));  // measured every 10 steps
                   return Verdict{acc >= kAccuracy || r.summary.value("outcome", "") == "accuracy_goal",
                                  fmt::format("best accuracy measured {}", g4(acc))};
                 })}},
      {"The regime detector dates the onset of unstable convergence where the loss first goes up, and sees no "
       "divergence.",
       {regime_finds_the_onset(unstable)}},
  };
  p.figures = [unstable](const RunSet& s) {
    std::vector<const LoadedRun*> runs = {&s[unstable[0]], &s[unstable[1]]};
    return std::vector<FigureNote>{
        {loss_figure("loss", "fc-tanh, unstable step sizes", runs),
         "The loss is non-monotone once GD reaches the edge of stability, but keeps going down over time."},
        {rp_figure("rp", "relative progress in the unstable regime", runs),
         "RP is near −1 at first, then jumps to oscillate around 0 once λmax reaches 2/η, as in the paper's "
         "Experiment 3."}};
  };
  return p;
}

Preset exp4(bool quick) {
  Preset p;
  p.name = "exp4";
  p.title = "Experiment 4: L(θ_t; η∇f(θ_t)) saturates at 2/η in the unstable regime";
  p.source = {kAhn, "Section 4.2, Experiment 4"};
  p.setting =
      "The runs of exp2 (stable: η = 2/60, 2/100) and exp3 (unstable: η = 2/10, 2/15), with the same deviations; "
      "L(θ_t; η∇f) = ⟨η∇f, ∇f(θ_t) − ∇f(θ_{t+1})⟩/‖η∇f‖² is free under GD (the next step's gradient). It is shown "
      "as L·η/2, so 1 is the threshold 2/η for every step size.";
  std::vector<RunHandle> stable;
  for (const PresetRun& r : tanh_stable_runs(quick)) stable.push_back(p.run(r));
  const RunHandle eos_run = p.run(tanh_eos_run(quick)), fast = p.run(tanh_unstable_run(quick));
  const std::vector<RunHandle> unstable = {fast, eos_run};
  p.claims = {
      {"In the unstable regime, L(θ_t; η∇f(θ_t)) saturates around 2/η: GD oscillates.",
       {row(unstable, L_scaled(), Window::from_onset(), Statistic::median(), Range::within(0.85, 1.15)).check()}},
      {"In the stable regime, L(θ_t; η∇f(θ_t)) stays well below 2/η.",
       {row(stable, L_scaled(), Window::whole(), Statistic::max(), Range::at_most(0.5)).check()}},
  };
  p.figures = [stable, unstable](const RunSet& s) {
    plot::Figure f{"directional_smoothness", "L(θ_t; η∇f(θ_t)) · η/2 (1 = the threshold 2/η)", "step", "L · η/2"};
    std::vector<std::vector<double>> all;
    for (RunHandle h : {unstable[0], unstable[1], stable[0], stable[1]}) {
      const auto& r = s[h];
      f.series.push_back(scaled(r, "L_dir", r.spec.label));
      all.push_back(over_two_eta(r, "L_dir"));
    }
    f.hlines = {{1.0, "2/η"}};
    f.yrange = std::pair{0.0, std::max(1.6, plot::robust_range(all, {}).second)};
    f.key = "top left";
    return std::vector<FigureNote>{
        {f, "In the unstable runs L(θ_t; η∇f) jumps to and stays near 2/η; in the stable runs it stays near 0, as in "
            "the paper's Experiment 4."}};
  };
  return p;
}

Preset exp5(bool quick) {
  Preset p;
  p.name = "exp5";
  p.title = "Experiment 5: L(θ_t; ητ∇f) varies little over τ, so (4.3) approximates Theorem 2";
  p.source = {kAhn, "Section 4.3, Theorem 2 and Experiment 5"};
  p.setting =
      "fc-tanh on the first 5000 Fashion-MNIST images, full-batch GD. Without --quick, as the paper: L(θ_t; ητ∇f) "
      "for τ ∈ {0.01, 0.02, …, 1} (plugin tau_profile, m = 100) every 5 steps for 1000 steps; with --quick, "
      "τ ∈ {0.05, 0.1, …, 1} (m = 20) every 10 steps for 400 steps. Deviation: η = 2/10 instead of the paper's 2/60, "
      "because on Fashion-MNIST fc-tanh at 2/60 stays in the stable regime for thousands of steps, while at 2/10 it "
      "is unstable from about step 130 on (see exp3).";
  const RunHandle r = p.run(net("fc-tanh-eta2_10-tau", "fc-tanh, η = 2/10",
                                {"--activation", "tanh", "--lr", "2/10", "--steps", steps(quick, 400, 1000), "--plugin",
                                 "loss", "--plugin", "rp", "--plugin",
                                 quick ? "tau_profile:m=20@10" : "tau_profile:m=100@5", "--plugin", "sharpness@10"}));
  p.claims = {
      {"L(θ_t; ητ∇f(θ_t)) does not vary much across τ ∈ [0, 1] in the unstable regime.",
       {row({r}, Quantity::ratio("tau_L_std", "tau_L_mean", "std/mean of L(θ_t; ητ∇f) over τ"), Window::from_onset(),
            Statistic::median(), Range::at_most(0.25))
            .check()}},
      {"Theorem 2: RP = −1 + (η/2)·2∫₀¹ τ L(θ; ητ∇f) dτ holds exactly.",
       {row({r}, Quantity::column("thm2_residual", "|RP − Theorem 2's value| (the τ grid's quadrature error)"),
            Window::whole(), Statistic::max(), Range::at_most(1e-2))
            .check()}},
      {"Hence RP ≈ −1 + (η/2)·L(θ; η∇f) (4.3): the single value at τ = 1 stands for the weighted average.",
       {row({r}, rp_vs_43(), Window::from_onset(), Statistic::median(), Range::at_most(0.1)).check()}},
  };
  p.figures = [r](const RunSet& s) {
    const auto& run = s[r];
    plot::Figure f{"tau_profile", "L(θ_t; ητ∇f) over τ ∈ (0, 1]: mean ± std, every evaluated step", "step", "L"};
    plot::Series band = line(run, "tau_L_mean", "mean ± std over τ", plot::Style::Band, 0);
    band.err = "tau_L_std";
    f.series = {band, line(run, "tau_L_mean", "", plot::Style::Lines, 0),
                line(run, "L_dir", "L(θ_t; η∇f)", plot::Style::Points, 1), two_over_eta(run)};
    f.yrange = std::pair{0.0, 1.6 * 2.0 / run.lr()};
    f.key = "top left";
    plot::Figure rp{"rp_vs_43", "RP and its approximation (4.3)", "step", "RP"};
    rp.series = {line(run, "rp", "RP(θ_t)"), line(run, "rp_pred_43", "−1 + (η/2)·L(θ_t; η∇f)", plot::Style::Dashed)};
    rp.hlines = {{0.0, ""}, {-1.0, ""}};
    rp.yrange = plot::robust_range({run.values("rp")}, {-1.2, 0.6});
    return std::vector<FigureNote>{
        {f, "The band of L(θ_t; ητ∇f) over τ is narrow next to its level, which sits at 2/η once GD is unstable, as in "
            "the paper's Experiment 5."},
        {rp, "RP and the one-point approximation (4.3) lie on top of each other."}};
  };
  return p;
}

Preset exp6(bool quick) {
  Preset p;
  p.name = "exp6";
  p.title = "Experiment 6: (4.3) holds for ReLU networks with 2 and 4 hidden layers";
  p.source = {kAhn, "Section 4.3.1, Experiment 6"};
  p.setting =
      "fc-ReLU with 2 and 4 hidden layers of width 200 on the first 5000 Fashion-MNIST images, full-batch GD, 500 "
      "steps with --quick, 2000 without. Deviation: the paper keeps Experiment 2's stable step sizes; here each "
      "depth gets a step size at which it reaches the edge of stability within the run (η = 2/15 for 2 layers, "
      "η = 2/30 for 4 layers, whose sharpness rises much faster), where (4.3) is a non-trivial statement: RP "
      "leaves −1.";
  const std::vector<RunHandle> runs = {
      p.run(net("fc-relu-2x200-eta2_15", "ReLU, 2 hidden layers, η = 2/15",
                {"--activation", "relu", "--widths", "200,200", "--lr", "2/15", "--steps", steps(quick, 500, 2000),
                 "--plugin", "loss", "--plugin", "rp", "--plugin", "sharpness@25"})),
      p.run(net("fc-relu-4x200-eta2_30", "ReLU, 4 hidden layers, η = 2/30",
                {"--activation", "relu", "--widths", "200,200,200,200", "--lr", "2/30", "--steps",
                 steps(quick, 500, 2000), "--plugin", "loss", "--plugin", "rp", "--plugin", "sharpness@25"}))};
  static constexpr double kMinCorrelation = 0.9;
  p.claims = {
      {"RP ≈ −1 + (η/2)·L(θ; η∇f) (4.3) holds for ReLU networks of depth 2 and 4.",
       {row(runs, rp_vs_43(), Window::from_onset(), Statistic::median(), Range::at_most(0.05)).check(),
        each_run(runs,
                 fmt::format("the correlation of RP with (4.3) over the whole run (the jump from −1 to 0) is ≥ {}",
                             kMinCorrelation),
                 [](const LoadedRun& r) {
                   const double t0 = onset_or_throw(r);
                   const double c = correlation(r.values("rp"), r.values("rp_pred_43"));
                   // After the onset RP also flickers from step to step (period 2) around what (4.3) predicts;
                   // the correlation there says how much of that flicker (4.3) follows.
                   return Verdict{c >= kMinCorrelation,
                                  fmt::format("correlation {:.3f} over the run, {:.3f} after the onset; {}", c,
                                              correlation(r.values("rp", t0), r.values("rp_pred_43", t0)),
                                              r.outcome())};
                 })}},
  };
  p.figures = [runs](const RunSet& s) {
    std::vector<FigureNote> out;
    for (const auto& [h, stem] : {std::pair{runs[0], "rp_2layers"}, std::pair{runs[1], "rp_4layers"}}) {
      const auto& r = s[h];
      plot::Figure f{stem, "RP and (4.3), " + r.spec.label, "step", "RP"};
      f.series = {line(r, "rp", "RP(θ_t)"), line(r, "rp_pred_43", "−1 + (η/2)·L(θ_t; η∇f)", plot::Style::Dashed)};
      f.hlines = {{0.0, ""}, {-1.0, ""}};
      f.yrange = plot::robust_range({r.values("rp")}, {-1.2, 0.6});
      out.push_back({f, "RP and its approximation (4.3) for " + r.spec.label + ": the two curves coincide."});
    }
    return out;
  };
  return p;
}

Preset exp7(bool quick) {
  Preset p;
  p.name = "exp7";
  p.title = "Experiment 7: under SGD, the expected relative progress does not stay below 0";
  p.source = {kAhn, "Section 5, Definition 3 and Experiment 7"};
  p.setting =
      "fc-ReLU 784-200-200-10 on the first 5000 Fashion-MNIST images, SGD with batch 32 and η = 2/100 as in the "
      "paper. At the end of each epoch, E[RP] = (E f(θ − ηg_B) − f(θ))/(η‖∇f(θ)‖²) over independent minibatch draws "
      "(plugin sgd_rp: 32 draws with --quick, 128 without) with its standard error; full-batch f and ∇f. 12 epochs "
      "with --quick, 50 without.";
  const RunHandle r = p.run(sgd_runs("relu", quick)[1]);
  const Quantity erp = Quantity::column("sgd_erp", "E[RP]");
  p.claims = {
      {"E[RP(θ_t)] does not stay below zero: SGD is in the unstable regime.",
       {row({r}, erp, Window::whole(), Statistic::max(), Range::above(0)).check()}},
      {"E[RP] is not negative for a majority of iterations (Remark 7), although the loss goes down.",
       {row({r}, erp, Window::from_step(1), Statistic::fraction_in(Range::at_least(0)), Range::above(0.5)).check(),
        row({r}, loss(), Window::whole(), Statistic::last_over_first(), Range::below(1)).check()}},
  };
  p.figures = [r](const RunSet& s) {
    const auto& run = s[r];
    plot::Figure f{"expected_rp", "SGD (batch 32, η = 2/100): E[RP] at the end of each epoch, ± standard error", "step",
                   "E[RP]"};
    plot::Series e = line(run, "sgd_erp", "E[RP(θ_t)]", plot::Style::ErrorBars, 0);
    e.err = "sgd_erp_se";
    f.series = {e};
    f.hlines = {{0.0, ""}, {-1.0, ""}};
    f.yrange = plot::robust_range({run.values("sgd_erp")}, {-1.2, 0.6});
    return std::vector<FigureNote>{
        {loss_figure("loss", "SGD, full-batch loss at the end of each epoch", {&run}), "The full-batch loss goes down."},
        {f, "The expected relative progress of an SGD step, with its standard error over minibatch draws."}};
  };
  return p;
}

Preset sgd51(const std::string& name, const std::string& activation, const std::string& exp_no, bool quick) {
  Preset p;
  p.name = name;
  p.title = fmt::format("Experiment {}: E[RP] ≈ −1 + (η/2)·E[‖g‖²/‖∇f‖²·L(θ; ηg)] (5.1), {} networks", exp_no, activation);
  p.source = {kAhn, fmt::format("Section 5, (5.1) and Experiment {}", exp_no)};
  p.setting = fmt::format(
      "fc-{} 784-200-200-10 on the first 5000 Fashion-MNIST images, SGD with batch 32 at η = 2/50, 2/100 and 2/150 "
      "as in the paper; at the end of each epoch both sides of (5.1) from the same independent minibatch draws "
      "(plugin sgd_rp: 32 draws with --quick, 128 without), each with its standard error. 12 epochs with --quick, "
      "50 without.",
      activation);
  std::vector<RunHandle> runs;
  for (const PresetRun& r : sgd_runs(activation, quick)) runs.push_back(p.run(r));
  p.claims = {
      {"The left- and right-hand sides of (5.1) are very similar at all three step sizes.",
       {row(runs, Quantity::abs_difference("sgd_erp", "sgd_rhs51", "|LHS − RHS| of (5.1)"), Window::whole(),
            Statistic::median(), Range::at_most(0.15))
            .check()}},
  };
  p.figures = [runs](const RunSet& s) {
    std::vector<FigureNote> out;
    for (RunHandle h : runs) {
      const auto& r = s[h];
      const std::string tag = r.spec.name.substr(r.spec.name.rfind("eta") + 3);  // "2_50"
      plot::Figure f{"eq51_eta" + tag, fmt::format("(5.1), {}: both sides ± standard error", r.spec.label), "step",
                     "E[RP]"};
      plot::Series a = line(r, "sgd_erp", "E[RP] (LHS)", plot::Style::ErrorBars, 0);
      a.err = "sgd_erp_se";
      plot::Series b = line(r, "sgd_rhs51", "−1 + (η/2)·E[‖g‖²/‖∇f‖²·L(θ; ηg)] (RHS)", plot::Style::ErrorBars, 1);
      b.err = "sgd_rhs51_se";
      f.series = {a, b};
      f.hlines = {{0.0, ""}, {-1.0, ""}};
      f.yrange = plot::robust_range({r.values("sgd_erp"), r.values("sgd_rhs51")}, {-1.2, 0.6});
      out.push_back({f, fmt::format("Both sides of (5.1) at the end of each epoch for {}.", r.spec.label)});
    }
    return out;
  };
  return p;
}

Preset eos(bool quick) {
  Preset p;
  p.name = "eos";
  p.title = "Edge of stability: sharpness rises to 2/η and hovers there; RP ≈ 0 and L ≈ 2/η once it does";
  p.source = {kAhn, "Section 4.4 (Cohen et al.'s edge of stability, properties A and B)"};
  p.setting =
      "fc-tanh 784-200-200-10, mean cross-entropy, full-batch GD at η = 2/15 on the first 5000 Fashion-MNIST images, "
      "standardized (Cohen et al.'s protocol on Fashion-MNIST instead of CIFAR-10). 700 steps with λmax every 10 "
      "steps (--quick), or 3000 steps with λmax every 2 steps. At this step size the sharpness reaches 2/η = 15 "
      "after about 220 steps, and the loss first goes up about 100 steps later, once the oscillation along the "
      "top eigenvector has grown from rounding-error size.";
  const RunHandle r = p.run(tanh_eos_run(quick));
  p.claims = edge_of_stability_claims({r});
  p.figures = [r](const RunSet& s) {
    const auto& run = s[r];
    plot::Figure sh{"sharpness", "sharpness λmax(∇²f(θ_t)), fc-tanh, η = 2/15", "step", "λmax"};
    sh.series = {line(run, "lambda_max", "λmax"), two_over_eta(run)};
    sh.yrange = std::pair{0.0, std::max(1.5 * 2 / run.lr(), plot::robust_range({run.values("lambda_max")}, {}).second)};
    sh.key = "bottom right";
    plot::Figure L{"directional_smoothness", "directional smoothness L(θ_t; η∇f(θ_t)), η = 2/15", "step", "L"};
    L.series = {line(run, "L_dir", "L(θ_t; η∇f)"), two_over_eta(run)};
    L.yrange = std::pair{0.0, 1.6 * 2 / run.lr()};
    L.key = "bottom right";
    plot::Figure loss_f = loss_figure("loss", "training loss, fc-tanh, η = 2/15", {&run});
    if (const auto first = run.first_unstable_step()) {
      loss_f.vlines = {{*first, "regime: unstable"}};
      sh.vlines = loss_f.vlines;
    }
    return std::vector<FigureNote>{
        {loss_f, "The loss falls smoothly, then turns non-monotone when the sharpness reaches 2/η, yet keeps decreasing. "
                 "The dashed line marks the first unstable step found by the regime plugin."},
        {sh, "Sharpness rises (progressive sharpening) to 2/η and then hovers around it: Cohen et al.'s edge of "
             "stability, properties A and B."},
        {rp_figure("rp", "relative progress RP(θ_t), η = 2/15", {&run}),
         "RP sits near −1 while stable and oscillates around 0 once at the edge of stability (the paper's Section 4.1)."},
        {L, "L(θ_t; η∇f) is near 0 while stable and jumps to 2/η at the edge of stability (Section 4.2)."}};
  };
  return p;
}

// ---- convolutional networks ---------------------------------------------------

const std::string kCohen =
    "Cohen, Kaur, Li, Kolter & Talwalkar (2021), \"Gradient Descent on Neural Networks Typically Occurs at the Edge "
    "of Stability\", ICLR";

// One of Cohen et al.'s convolutional networks on the first n Fashion-MNIST
// images, full-batch GD at η = lr, λmax at every step: a ReLU network's GD
// alternates between two sides with different λmax at the edge of stability,
// and a measurement every k > 1 steps would see one side only (k even) or
// interleave them (k odd).
PresetRun cnn_run(const std::string& arch, const std::string& lr, bool quick) {
  const std::string n = quick ? "200" : "1000";
  return net(fmt::format("{}-n{}-eta{}", arch, n, lr_tag(lr)), fmt::format("{}, η = {}", arch, lr),
             {"--arch", arch, "--n", n, "--lr", lr, "--steps", steps(quick, 150, 600), "--plugin", "loss", "--plugin",
              "accuracy@10", "--plugin", "rp", "--plugin", "sharpness:stop=value", "--plugin", "regime"});
}

// From the onset on, every pair of consecutive steps (t, t + 1) with λmax
// measured at both: the flatter and the sharper side of a period-2 orbit.
Check flatter_side_at_two_over_eta(std::vector<RunHandle> runs) {
  return each_run(std::move(runs),
                  "from the onset on, over consecutive steps t, t + 1: median of min(λ_t, λ_t+1)·η/2 in [0.9, 1.2] "
                  "(the median of the max is reported beside it)",
                  [](const LoadedRun& run) {
                    const auto lam = run.series("lambda_max", onset_or_throw(run));
                    std::vector<double> lo, hi;
                    for (std::size_t i = 0; i + 1 < lam.size(); ++i)
                      if (lam[i + 1].first == lam[i].first + 1) {
                        lo.push_back(std::min(lam[i].second, lam[i + 1].second) * run.lr() / 2);
                        hi.push_back(std::max(lam[i].second, lam[i + 1].second) * run.lr() / 2);
                      }
                    if (lo.empty()) return Verdict{false, "λmax not measured at consecutive steps after the onset"};
                    const double flat = median(lo), sharp = median(hi);
                    return Verdict{flat >= 0.9 && flat <= 1.2,
                                   fmt::format("flatter side {}, sharper side {} (medians over {} pairs)", g4(flat),
                                               g4(sharp), lo.size())};
                  });
}

// λmax·η/2, RP and L·η/2 of several runs on one axis each: 1 is 2/η for all.
std::vector<FigureNote> cnn_figures(const std::vector<const LoadedRun*>& runs) {
  plot::Figure sh{"sharpness", "sharpness over 2/η: λmax(∇²f(θ_t))·η/2", "step", "λmax·η/2"};
  plot::Figure L{"directional_smoothness", "directional smoothness over 2/η: L(θ_t; η∇f)·η/2", "step", "L·η/2"};
  std::vector<std::vector<double>> lambdas;
  for (const auto* r : runs) {
    sh.series.push_back(scaled(*r, "lambda_max", r->spec.label, plot::Style::Points));  // both sides of the orbit
    L.series.push_back(scaled(*r, "L_dir", r->spec.label));
    lambdas.push_back(over_two_eta(*r, "lambda_max"));
  }
  sh.hlines = L.hlines = {{1.0, "2/η"}};
  sh.yrange = std::pair{0.0, std::max(1.5, plot::robust_range(lambdas, {}).second)};
  L.yrange = std::pair{-0.5, 1.6};
  sh.key = L.key = "top left";  // empty there: every run starts below 2/η
  return {{loss_figure("loss", "training loss, full-batch GD", runs),
           "The training loss of each network: non-monotone once GD is unstable."},
          {sh, "Each network's λmax at every step, divided by its own 2/η (the dotted line is 1); at the edge of "
               "stability both sides of GD's period-2 oscillation appear as two branches."},
          {rp_figure("rp", "relative progress RP(θ_t)", runs),
           "RP(θ_t): −1 is a stable step's progress, 0 no progress relative to η‖∇f‖² (the paper's Section 4.1)."},
          {L, "L(θ_t; η∇f)·η/2: 1 is 2/η, where GD oscillates along the top eigendirection (Section 4.2)."}};
}

Preset cnn(bool quick) {
  Preset p;
  p.name = "cnn";
  p.title = "Edge of stability on convolutional networks: cnn-relu and cnn-tanh, with cnn-bn-relu beside them";
  p.source = {kCohen + ", and " + kAhn, "Cohen et al.'s cnn architectures; Ahn et al.'s Section 4 quantities"};
  const std::size_t n = quick ? 200 : 1000;
  p.setting = fmt::format(
      "Cohen et al.'s cnn-relu, cnn-tanh and cnn-bn-relu (two 3×3 convolutions of width 32, each followed by the "
      "activation and 2×2 max pooling, BatchNorm after the activation in cnn-bn-relu, then a linear layer), mean "
      "cross-entropy, full-batch GD on the first {} Fashion-MNIST images, standardized; BatchNorm's statistics are "
      "those of all {} images. {} steps, λmax at every step (stop=value). Step sizes, chosen on the 200-image "
      "version: cnn-relu η = 2/100 (it starts at λmax ≈ 19 and sharpens past 100 in 30 steps), cnn-tanh η = 2/18 "
      "(its λmax levels off near 20, so a smaller 2/η is never reached), cnn-bn-relu η = 2/400 (it starts at "
      "λmax ≈ 168; at η = 2/100 it starts unstable and flattens). Deviations: Fashion-MNIST instead of CIFAR-10, "
      "and {} images instead of 5000, so that λmax at every step fits on 2 cores.",
      n, n, quick ? 150 : 600, n);
  const RunHandle relu = p.run(cnn_run("cnn-relu", "2/100", quick));
  const RunHandle tanh = p.run(cnn_run("cnn-tanh", "2/18", quick));
  const RunHandle bn = p.run(cnn_run("cnn-bn-relu", "2/400", quick));
  p.claims = edge_of_stability_claims({relu, tanh});
  p.claims.push_back(
      {"Measured here to explain the claim on λmax (a claim of neither paper): at the edge of stability GD "
       "alternates between two sides (period 2) with different λmax, and the flatter side's λmax sits at 2/η.",
       {flatter_side_at_two_over_eta({relu, tanh})}});
  for (Claim c : edge_of_stability_claims({bn})) {
    c.text = "With BatchNorm (cnn-bn-relu), beside them: " + c.text;
    p.claims.push_back(std::move(c));
  }
  p.figures = [relu, tanh, bn](const RunSet& s) { return cnn_figures({&s[relu], &s[tanh], &s[bn]}); };
  return p;
}

// ---- the central flow -------------------------------------------------------

// The centred running mean over `window` steps, [i − window/2, i − window/2 +
// window); NaN where the window does not fit.
std::vector<double> running_mean(const std::vector<double>& v, std::size_t window) {
  std::vector<double> out(v.size(), NAN);
  for (std::size_t i = window / 2; i + window - window / 2 <= v.size(); ++i) {
    double s = 0;
    for (std::size_t j = i - window / 2; j < i - window / 2 + window; ++j) s += v[j];
    out[i] = s / double(window);
  }
  return out;
}
constexpr std::size_t kLossWindow = 10;

// Steps of the flow at the edge of stability: [first, last] with flow_critical ≥ 1.
std::pair<double, double> flow_critical_span(const LoadedRun& r) {
  const auto c = r.series("flow_critical");
  std::optional<double> first, last;
  for (const auto& [s, v] : c)
    if (v >= 1) {
      if (!first) first = s;
      last = s;
    }
  if (!first)
    throw std::runtime_error(fmt::format("{}: the central flow never reached 2/η (no critical eigenvalue)", r.spec.label));
  return {*first, *last};
}

// The central flow's four predictions, each checked against the GD run
// beside it (bespoke checks: windows from the flow's critical span).
// The thresholds of the central flow's claims, each written once: the
// criterion texts are made from them.
constexpr double kFollow = 0.05;                                  // GD's loss within 5 % of the flow's before the edge
constexpr double kSettle = 3, kHeld = 0.01, kHeldShare = 0.9;     // the flow's λmax·η/2 within 1 % of 1
constexpr double kPredicted = 0.25;                               // the predicted loss within 25 % of GD's running mean
constexpr double kBurst = 10, kRatioLo = 0.5, kRatioHi = 2;       // displacement / √tr Σ

double rms(const std::vector<double>& v) {
  double q = 0;
  for (double x : v) q += x * x;
  return std::sqrt(q / double(v.size()));
}

std::vector<Claim> central_flow_claims(RunHandle handle) {
  auto run_of = [handle](const RunSet& s) -> const LoadedRun& { return s[handle]; };
  const Range ratio_range = Range::within(kRatioLo, kRatioHi);
  return {
      {"Until its sharpness reaches 2/η, the central flow is gradient flow, and GD follows it.",
       {{fmt::format("|f(θ_t) − f(w(t))| ≤ {:g} % of f(θ_t) at every step before the flow's first critical eigenvalue",
                     100 * kFollow),
         [run_of](const RunSet& s) {
           const auto& r = run_of(s);
           const double first = flow_critical_span(r).first;
           const auto gd = r.values("loss", 0, first - 1), flow = r.values("flow_loss", 0, first - 1);
           double worst = 0;
           for (std::size_t i = 0; i < gd.size(); ++i) worst = std::max(worst, std::abs(gd[i] - flow[i]) / gd[i]);
           return Verdict{worst <= kFollow,
                          fmt::format("largest relative gap {:.2f} % over steps 0–{}", 100 * worst, first - 1)};
         }}}},
      {"Then the flow's sharpness stays at 2/η while GD's oscillates around it.",
       {{fmt::format("from {:g} steps after the flow's first critical eigenvalue to its last: flow λmax·η/2 within {:g} % "
                     "of 1 at ≥ {:g} % of the steps, and GD's measured λmax·η/2 on both sides of 1",
                     kSettle, 100 * kHeld, 100 * kHeldShare),
         [run_of](const RunSet& s) {
           const auto& r = run_of(s);
           const auto [first, last] = flow_critical_span(r);
           std::vector<double> held, gd;
           for (const auto& [st, v] : r.series("flow_lambda_max", first + kSettle, last)) held.push_back(v * r.lr() / 2);
           for (const auto& [st, v] : r.series("lambda_max", first + kSettle, last)) gd.push_back(v * r.lr() / 2);
           const double fr = fraction(held, [](double x) { return std::abs(x - 1) <= kHeld; });
           const double lo = *std::min_element(gd.begin(), gd.end()), hi = max_of(gd);
           return Verdict{fr >= kHeldShare && lo < 1 && hi > 1,
                          fmt::format("flow at 2/η (±{:g} %) at {:.0f} % of steps {}–{}; GD's λmax·η/2 from {:.3f} to "
                                      "{:.3f}, median {:.3f}",
                                      100 * kHeld, 100 * fr, first + kSettle, last, lo, hi, median(gd))};
         }}}},
      {"Once GD is at the edge of stability, the flow's predicted loss f(w) + tr Σ/η tracks a running mean of GD's "
       "loss, better than the flow's own f(w).",
       {{fmt::format("from GD's first loss increase to the flow's last critical step: median |prediction − running "
                     "mean| / running mean ≤ {:g} %, and below that of f(w)",
                     100 * kPredicted),
         [run_of](const RunSet& s) {
           const auto& r = run_of(s);
           const double onset = onset_or_throw(r), last = flow_critical_span(r).second;
           const auto steps = r.metrics.column("step");
           const auto mean = running_mean(r.metrics.column("loss"), kLossWindow);
           const auto pred = r.metrics.column("flow_predicted_loss"), own = r.metrics.column("flow_loss");
           std::vector<double> e_pred, e_own;
           for (std::size_t i = 0; i < steps.size(); ++i)
             if (steps[i] >= onset && steps[i] <= last && std::isfinite(mean[i])) {
               e_pred.push_back(std::abs(pred[i] - mean[i]) / mean[i]);
               e_own.push_back(std::abs(own[i] - mean[i]) / mean[i]);
             }
           const double mp = median(e_pred), mo = median(e_own);
           return Verdict{mp <= kPredicted && mp < mo,
                          fmt::format("median relative error {:.1f} % (f(w) alone: {:.1f} %) over steps {}–{}; the flow "
                                      "reached 2/η at step {}, GD's loss first rose at step {}",
                                      100 * mp, 100 * mo, onset, last, flow_critical_span(r).first, onset)};
         }}}},
      {"GD oscillates along the top eigenvectors with the size √tr Σ the flow predicts.",
       {{fmt::format("from {:g} steps after GD's first loss increase to the flow's last critical step: RMS of "
                     "‖Uᵀ(θ_t − w(t))‖ over RMS of √tr Σ {}",
                     kBurst, ratio_range.text()),
         [run_of, ratio_range](const RunSet& s) {
           const auto& r = run_of(s);
           const double from = onset_or_throw(r) + kBurst, last = flow_critical_span(r).second;
           const auto disp = r.values("flow_gd_displacement", from, last), osc = r.values("flow_oscillation", from, last);
           const auto total = r.values("flow_distance", from, last);
           if (disp.empty())
             throw std::runtime_error(fmt::format("no steps between GD's onset + {:g} and the flow's last critical step",
                                                  kBurst));
           const double ratio = rms(disp) / rms(osc);
           return Verdict{ratio_range.contains(ratio),
                          fmt::format("RMS displacement {:.4f} vs predicted {:.4f} (ratio {:.2f}) over steps {}–{}; the "
                                      "whole distance ‖θ_t − w(t)‖ is {:.4f} (RMS): GD also drifts from the flow off "
                                      "the top eigenvectors",
                                      rms(disp), rms(osc), ratio, from, last, rms(total))};
         }}}},
  };
}

std::vector<FigureNote> central_flow_figures(const LoadedRun& r) {
    // the running mean beside the run's metrics, for the figure
    const std::filesystem::path mean_csv = r.dir / "loss_running_mean.csv";
    {
      const auto steps = r.metrics.column("step");
      const auto mean = running_mean(r.metrics.column("loss"), kLossWindow);
      std::ofstream out(mean_csv);
      out << "step,loss_running_mean\n";
      for (std::size_t i = 0; i < steps.size(); ++i)
        out << (std::isfinite(mean[i]) ? fmt::format("{},{:.17g}\n", steps[i], mean[i]) : fmt::format("{},\n", steps[i]));
    }
    plot::Figure loss{"loss", "GD and its central flow: loss, " + r.spec.label, "step", "loss"};
    loss.logy = true;
    plot::Series m = line(r, "loss_running_mean", fmt::format("GD, running mean over {} steps", kLossWindow),
                          plot::Style::Lines, 3);
    m.csv = mean_csv;
    loss.series = {line(r, "loss", "GD: f(θ_t)", plot::Style::Lines, 0), m,
                   line(r, "flow_predicted_loss", "central flow: predicted f(w) + tr Σ/η", plot::Style::Lines, 1),
                   line(r, "flow_loss", "central flow: f(w(t))", plot::Style::Dashed, 2)};
    plot::Figure sh{"sharpness", "GD and its central flow: sharpness, " + r.spec.label, "step", "λmax"};
    sh.series = {line(r, "lambda_max", "GD: λmax(θ_t)", plot::Style::LinesPoints, 0),
                 line(r, "flow_lambda_max", "central flow: λmax(w(t))", plot::Style::Lines, 1), two_over_eta(r)};
    sh.yrange = std::pair{0.0, std::max(1.5 * 2 / r.lr(), plot::robust_range({r.values("lambda_max")}, {}).second)};
    sh.key = "bottom right";
    plot::Figure osc{"oscillation", "GD's oscillation around the central flow, " + r.spec.label, "step", "distance"};
    osc.series = {line(r, "flow_gd_displacement", "GD: ‖Uᵀ(θ_t − w(t))‖ (U: top eigenvectors)", plot::Style::Points, 0),
                  line(r, "flow_oscillation", "central flow: predicted √tr Σ", plot::Style::Lines, 1),
                  line(r, "flow_distance", "‖θ_t − w(t)‖", plot::Style::Dashed, 2)};
    osc.key = "top right";
    const auto range = plot::robust_range({r.values("flow_distance"), r.values("flow_gd_displacement")}, {0.0});
    osc.yrange = std::pair{0.0, 1.35 * range.second};
    if (const auto first = r.first_unstable_step()) {
      loss.vlines = {{*first, "GD unstable (regime)"}};
      sh.vlines = osc.vlines = loss.vlines;
    }
    return std::vector<FigureNote>{
        {loss, "GD's loss (oscillating once at the edge of stability), its running mean, and the central flow's "
               "predicted time-averaged loss f(w) + tr Σ/η and its own loss f(w)."},
        {sh, "The central flow holds its sharpness at 2/η from the step it reaches it; GD's sharpness overshoots and "
             "oscillates around 2/η, reaching it later."},
        {osc, "The oscillation the flow predicts (√tr Σ) against GD's measured displacement from the flow along the "
              "top eigenvectors, and the whole distance between the two."}};
}

Preset central_flow(bool quick) {
  Preset p;
  p.name = "central_flow";
  p.title = "Predicted beside measured: the central flow of GD at the edge of stability";
  p.source = {kCentralFlows, "the central flow of gradient descent, beside Section 4 of " + kAhn};
  p.setting =
      "fc-tanh on Fashion-MNIST, full-batch GD and its central flow from the same θ₀ (plugin central_flow: 4 Euler "
      "substeps per step, top 3 eigenpairs, third derivatives by central differences of exact HVPs). With --quick: "
      "784-64-64-10 on the first 500 images at η = 2/5, 120 steps; without: 784-200-200-10 on the first 1000 images "
      "at η = 2/10, 400 steps. λmax of GD every 2 steps. Deviation: smaller than the eos preset's 5000 images, "
      "because at the edge of stability the flow costs about 100 HVPs per GD step. The running mean of GD's loss is "
      "centred over 10 steps.";
  std::vector<std::string> args =
      quick ? std::vector<std::string>{"--n", "500", "--widths", "64,64", "--lr", "2/5", "--steps", "120"}
            : std::vector<std::string>{"--n", "1000", "--lr", "2/10", "--steps", "400"};
  args.insert(args.begin(), {"--activation", "tanh"});
  for (const char* plugin : {"loss", "sharpness@2", "central_flow", "regime"}) args.insert(args.end(), {"--plugin", plugin});
  const RunHandle handle =
      p.run(net(quick ? "flow-tanh-64-n500-eta2_5" : "flow-tanh-n1000-eta2_10",
                quick ? "fc-tanh 64-64, 500 images, η = 2/5" : "fc-tanh 200-200, 1000 images, η = 2/10", args));
  p.claims = central_flow_claims(handle);
  p.figures = [handle](const RunSet& s) { return central_flow_figures(s[handle]); };
  return p;
}



}  // namespace

const std::vector<PresetEntry>& presets() {
  static const std::vector<PresetEntry> all = {
      {"example1", example1}, {"example2", example2}, {"example3", example3}, {"exp1", exp1},
      {"exp2", exp2},         {"exp3", exp3},         {"exp4", exp4},         {"exp5", exp5},
      {"exp6", exp6},         {"exp7", exp7},
      {"exp8", [](bool quick) { return sgd51("exp8", "relu", "8", quick); }},
      {"exp9", [](bool quick) { return sgd51("exp9", "tanh", "9", quick); }},
      {"eos", eos},           {"central_flow", central_flow}, {"cnn", cnn}};
  return all;
}

}  // namespace eos::cli
