// The presets of `eoslab reproduce`, one per result of the paper: the
// `eoslab train` commands of their runs, their figures, and their claims
// with the criterion each is judged by. Every threshold is stated in the
// claim's criterion text, which the report prints beside the measurement.
#include "presets.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <fmt/format.h>

namespace eos::cli {
namespace {

// ---- statistics over measured columns --------------------------------------

double median(std::vector<double> v) {
  if (v.empty()) throw std::runtime_error("no measured values in the window");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double max_of(const std::vector<double>& v) {
  if (v.empty()) throw std::runtime_error("no measured values");
  return *std::max_element(v.begin(), v.end());
}
double fraction(const std::vector<double>& v, const std::function<bool(double)>& pred) {
  if (v.empty()) throw std::runtime_error("no measured values");
  return double(std::count_if(v.begin(), v.end(), pred)) / double(v.size());
}
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
// The onset of unstable convergence: the first step t with f(θ_{t+1}) > f(θ_t),
// where GD stops being a descent method (RP_t > 0).
std::optional<double> first_loss_increase(const LoadedRun& r) {
  const auto v = r.series("loss");
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i].second > v[i - 1].second) return v[i - 1].first;
  return std::nullopt;
}
double onset_or_throw(const LoadedRun& r) {
  if (auto s = first_loss_increase(r)) return *s;
  throw std::runtime_error(fmt::format("{}: the loss never increased (GD stayed stable)", r.spec.label));
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
// "a; b; " → "a; b": per-run measurements are appended with a trailing separator.
std::string joined(const std::string& m) {
  const auto end = m.find_last_not_of("; ");
  return end == std::string::npos ? std::string() : m.substr(0, end + 1);
}
std::string g4(double v) { return fmt::format("{:.4g}", v); }
std::string outcome(const LoadedRun& r) { return r.summary.value("outcome_text", "?"); }

// The regime plugin's verdict on a run that reaches the edge of stability:
// its first unstable step lies within one window (20 steps) of the first loss
// increase, and no step is labelled diverging.
Verdict regime_finds_the_onset(const std::vector<const LoadedRun*>& runs) {
  bool ok = true;
  std::string m;
  for (const LoadedRun* r : runs) {
    const auto first = r->first_unstable_step();
    const auto onset = first_loss_increase(*r);
    const double diverging = r->regime_fraction("diverging");
    ok &= first && onset && std::abs(*first - *onset) <= 20 && diverging == 0;
    m += fmt::format("{}: first unstable step {}, first loss increase {}, {:.1f} % of steps labelled diverging; ",
                     r->spec.label, first ? fmt::format("{}", *first) : std::string("— (none)"),
                     onset ? fmt::format("{}", *onset) : std::string("— (none)"), 100 * diverging);
  }
  return Verdict{ok, joined(m)};
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

Preset example1() {
  Preset p;
  p.name = "example1";
  p.title = "Example 1 (Fact 1): on a quadratic, GD diverges past η = 2/L";
  p.paper = "Section 2, Fact 1 and the quadratic 20θ₁² + θ₂²";
  p.setting =
      "GD on f(θ) = 20θ₁² + θ₂² (L = λmax = 40) from θ₀ = (1, 1) with η = 2/39, 2/40 and 2/41, 300 steps each "
      "(the same with and without --quick: a step costs microseconds). Plugins: loss, θ, RP, sharpness. A run "
      "counts as diverged when its loss exceeds 10¹⁰·max(|f(θ₀)|, 1) (the trainer's default), which 2/39 reaches "
      "at step 231.";
  p.runs = [](bool) {
    return std::vector<PresetRun>{toy("quadratic", "1,1", "2/39", 300, "η = 2/39"),
                                  toy("quadratic", "1,1", "2/40", 300, "η = 2/40"),
                                  toy("quadratic", "1,1", "2/41", 300, "η = 2/41")};
  };
  p.claims = {
      {"With η = 2/39 > 2/L, GD diverges.", "the run ends as diverged",
       [](const RunSet& s) {
         const auto& r = s.at("quadratic-1_1-eta2_39");
         return Verdict{r.diverged(), outcome(r) + fmt::format("; λmax = {}", g4(r.values("lambda_max").front()))};
       }},
      {"With η = 2/40 = 2/L, GD neither converges nor diverges: θ₁ flips between +1 and −1.",
       "not diverged, ||θ₁| − 1| ≤ 10⁻¹² at every step, and |f(θ_final) − 20| ≤ 10⁻⁶ (θ₂ → 0, 20θ₁² = 20)",
       [](const RunSet& s) {
         const auto& r = s.at("quadratic-1_1-eta2_40");
         double dev = 0;
         const auto th = r.values("theta_1");
         for (double v : th) dev = std::max(dev, std::abs(std::abs(v) - 1.0));
         const double fdev = std::abs(r.last_loss() - 20.0);
         return Verdict{!r.diverged() && dev <= 1e-12 && fdev <= 1e-6,
                        fmt::format("max ||θ₁| − 1| = {:.2g}; last two θ₁ = {}, {}; |f − 20| at the end = {:.2g}", dev,
                                    g4(th[th.size() - 2]), g4(th.back()), fdev)};
       }},
      {"With η = 2/41 < 2/L, GD converges.", "f after 300 steps ≤ 10⁻⁸ · f(θ₀)",
       [](const RunSet& s) {
         const auto& r = s.at("quadratic-1_1-eta2_41");
         const double ratio = r.last_loss() / r.first_loss();
         return Verdict{!r.diverged() && ratio <= 1e-8, fmt::format("f(θ_300)/f(θ₀) = {:.3g}", ratio)};
       }},
  };
  p.figures = [](const RunSet& s) {
    std::vector<const LoadedRun*> runs = {&s.at("quadratic-1_1-eta2_39"), &s.at("quadratic-1_1-eta2_40"),
                                          &s.at("quadratic-1_1-eta2_41")};
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

Preset example2() {
  Preset p;
  p.name = "example2";
  p.title = "Example 2: tanh flattens the quadratic, and GD at η = 2/39 no longer diverges";
  p.paper = "Section 3, Example 2 (\"flattened\" quadratic tanh(20θ₁² + θ₂²))";
  p.setting =
      "GD with η = 2/39 > 2/L from θ₀ = (0.5, 0.5), 500 steps, on f = 20θ₁² + θ₂² and on tanh(20θ₁² + θ₂²), which has "
      "the same minimum and Hessian there. The paper does not state θ₀; from (0.5, 0.5) the quadratic diverges and "
      "the flattened cost settles on a 2-cycle, whose amplitude a = √(arcosh(√(20η))/20) follows from "
      "θ₁ − η·∂f/∂θ₁ = −θ₁ on θ₂ = 0.";
  p.runs = [](bool) {
    return std::vector<PresetRun>{toy("quadratic", "0.5,0.5", "2/39", 500, "20θ₁² + θ₂²"),
                                  toy("tanh_quadratic", "0.5,0.5", "2/39", 500, "tanh(20θ₁² + θ₂²)")};
  };
  p.claims = {
      {"GD with η = 2/39 diverges on the quadratic.", "the run ends as diverged",
       [](const RunSet& s) {
         const auto& r = s.at("quadratic-0.5_0.5-eta2_39");
         return Verdict{r.diverged(), outcome(r)};
       }},
      {"On the flattened cost tanh(20θ₁² + θ₂²), the same step size does not diverge: the iterates stay in a "
       "compact set.",
       "not diverged, and max |θ_t| over the run ≤ 1 (θ₀ has |θ| = 0.71)",
       [](const RunSet& s) {
         const auto& r = s.at("tanh_quadratic-0.5_0.5-eta2_39");
         double m = 0;
         const auto a = r.values("theta_1"), b = r.values("theta_2");
         for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::hypot(a[i], b[i]));
         return Verdict{!r.diverged() && m <= 1.0, fmt::format("{}; max |θ_t| = {}", outcome(r), g4(m))};
       }},
      {"GD settles on an oscillation around the minimum rather than converging to it (unstable regime).",
       "the last |θ₁| equals the analytic 2-cycle amplitude a to 10⁻⁶ relative, θ₁ changes sign each step, |θ₂| ≤ 10⁻⁶",
       [](const RunSet& s) {
         const auto& r = s.at("tanh_quadratic-0.5_0.5-eta2_39");
         const auto a1 = r.values("theta_1"), a2 = r.values("theta_2");
         const double a = tanh_quadratic_cycle(2.0 / 39.0), last = a1.back(), prev = a1[a1.size() - 2];
         const double rel = std::abs(std::abs(last) - a) / a;
         const bool flips = last * prev < 0;
         return Verdict{rel <= 1e-6 && flips && std::abs(a2.back()) <= 1e-6,
                        fmt::format("last θ₁ = {:.9f}, previous {:.9f}; a = {:.9f} (relative gap {:.2g}); θ₂ = {:.2g}",
                                    last, prev, a, rel, a2.back())};
       }},
  };
  p.figures = [](const RunSet& s) {
    const auto& q = s.at("quadratic-0.5_0.5-eta2_39");
    const auto& t = s.at("tanh_quadratic-0.5_0.5-eta2_39");
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

Preset example3() {
  Preset p;
  p.name = "example3";
  p.title = "Example 3: a single tanh neuron converges past 2/η, a linear one diverges";
  p.paper = "Section 3, Example 3 (single-neuron networks fitting (1, 0))";
  p.setting =
      "GD with η = 2/150 from θ₀ = (13, 0.01) on the linear neuron (θ₁θ₂)² and the tanh neuron (θ₁·tanh θ₂)², as in "
      "the paper; λmax(θ₀) ≈ 338 > 2/η = 150. 1000 steps with --quick, 5000 without; sharpness every step (the "
      "Hessian is 2 × 2).";
  p.runs = [](bool quick) {
    const std::size_t n = quick ? 1000 : 5000;
    return std::vector<PresetRun>{toy("linear_neuron", "13,0.01", "2/150", n, "linear neuron"),
                                  toy("tanh_neuron", "13,0.01", "2/150", n, "tanh neuron")};
  };
  p.claims = {
      {"The linear network diverges at η = 2/150.", "the run ends as diverged",
       [](const RunSet& s) {
         const auto& r = s.at("linear_neuron-13_0.01-eta2_150");
         return Verdict{r.diverged(), fmt::format("{}; λmax(θ₀) = {}", outcome(r), g4(r.values("lambda_max").front()))};
       }},
      {"The tanh network converges at the same step size although it starts with λmax > 2/η.",
       "not diverged, λmax(θ₀) > 2/η, and the final loss ≤ 10⁻¹⁰",
       [](const RunSet& s) {
         const auto& r = s.at("tanh_neuron-13_0.01-eta2_150");
         const double l0 = r.values("lambda_max").front();
         return Verdict{!r.diverged() && l0 > 2.0 / r.lr() && r.last_loss() <= 1e-10,
                        fmt::format("λmax(θ₀) = {} vs 2/η = {}; final loss {:.3g}", g4(l0), g4(2.0 / r.lr()), r.last_loss())};
       }},
      {"The minimum it reaches has sharpness approximately 2/η: GD travels along the valley of minima until one "
       "is flat enough.",
       "|λmax(θ_final) − 2/η| ≤ 2 % of 2/η",
       [](const RunSet& s) {
         const auto& r = s.at("tanh_neuron-13_0.01-eta2_150");
         const double l = r.values("lambda_max").back(), t = 2.0 / r.lr();
         return Verdict{std::abs(l - t) <= 0.02 * t,
                        fmt::format("λmax(θ_final) = {} vs 2/η = {} ({:+.2f} %)", g4(l), g4(t), 100 * (l - t) / t)};
       }},
  };
  p.figures = [](const RunSet& s) {
    const auto& lin = s.at("linear_neuron-13_0.01-eta2_150");
    const auto& th = s.at("tanh_neuron-13_0.01-eta2_150");
    plot::Figure sh{"sharpness", "λmax along GD with η = 2/150", "step", "λmax"};
    sh.series = {line(lin, "lambda_max", lin.spec.label), line(th, "lambda_max", th.spec.label), two_over_eta(th)};
    sh.yrange = std::pair{0.0, 400.0};
    plot::Figure rp = rp_figure("rp", "relative progress of the tanh neuron", {&th});
    return std::vector<FigureNote>{
        {loss_figure("loss", "single neurons fitting (1, 0), GD with η = 2/150", {&lin, &th}),
         "The linear neuron's loss explodes within a few steps; the tanh neuron's loss is non-monotone, then "
         "converges."},
        {sh, "The tanh neuron starts at λmax ≈ 338 > 2/η and ends at a minimum whose λmax is just below 2/η = 150."},
        {rp, "RP of the tanh neuron is positive at early steps (loss increases) before settling near −1 once at a flat "
             "enough minimum."}};
  };
  return p;
}

Preset exp1() {
  Preset p;
  p.name = "exp1";
  p.title = "Experiment 1: past the stable step size, the linear network diverges, tanh and ReLU converge";
  p.paper = "Section 3, Experiment 1 (Figure 1's setting)";
  p.setting =
      "fc networks 784-200-200-10 (linear = no activation, tanh, ReLU), mean cross-entropy, full-batch GD on the "
      "first 5000 Fashion-MNIST training images, standardized. Deviation: η = 2/4 instead of the paper's 2/30. On "
      "Fashion-MNIST all three nets start with λmax ≈ 2–4 and the linear net stays far below 2/η = 30 (it trains "
      "stably at 2/30), so the phenomenon needs a step size past λmax(θ₀): at η = 2/4, 2/η = 4 is below the linear "
      "and tanh nets' initial sharpness. 200 steps with --quick, 2000 without.";
  p.runs = [](bool quick) {
    std::vector<PresetRun> r;
    for (const std::string act : {"identity", "tanh", "relu"})
      r.push_back(net("fc-" + act + "-eta2_4", (act == "identity" ? std::string("linear") : act) + ", η = 2/4",
                      {"--activation", act, "--lr", "2/4", "--steps", steps(quick, 200, 2000), "--plugin", "loss",
                       "--plugin", "accuracy@10", "--plugin", "rp", "--plugin", quick ? "sharpness@10" : "sharpness@25"}));
    return r;
  };
  p.claims = {
      {"Without activations (a linear network), GD with this step size diverges.", "the run ends as diverged",
       [](const RunSet& s) {
         const auto& r = s.at("fc-identity-eta2_4");
         return Verdict{r.diverged(), fmt::format("{}; λmax(θ₀) = {} vs 2/η = 4", outcome(r), g4(r.values("lambda_max").front()))};
       }},
      {"With tanh activations, GD converges at the same step size.",
       "not diverged, and the final loss ≤ 20 % of the initial loss",
       [](const RunSet& s) {
         const auto& r = s.at("fc-tanh-eta2_4");
         const double ratio = r.last_loss() / r.first_loss();
         return Verdict{!r.diverged() && ratio <= 0.2,
                        fmt::format("{}; loss {} → {} ({:.1f} %); λmax(θ₀) = {}", outcome(r), g4(r.first_loss()),
                                    g4(r.last_loss()), 100 * ratio, g4(r.values("lambda_max").front()))};
       }},
      {"With ReLU activations, GD converges at the same step size.",
       "not diverged, and the final loss ≤ 20 % of the initial loss",
       [](const RunSet& s) {
         const auto& r = s.at("fc-relu-eta2_4");
         const double ratio = r.last_loss() / r.first_loss();
         return Verdict{!r.diverged() && ratio <= 0.2, fmt::format("{}; loss {} → {} ({:.1f} %)", outcome(r),
                                                                   g4(r.first_loss()), g4(r.last_loss()), 100 * ratio)};
       }},
  };
  p.figures = [](const RunSet& s) {
    std::vector<const LoadedRun*> runs = {&s.at("fc-identity-eta2_4"), &s.at("fc-tanh-eta2_4"), &s.at("fc-relu-eta2_4")};
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

Preset exp2() {
  Preset p;
  p.name = "exp2";
  p.title = "Experiment 2: in the stable regime RP stays negative, near −1";
  p.paper = "Section 4.1.1, Experiment 2";
  p.setting =
      "fc-tanh 784-200-200-10, mean cross-entropy, full-batch GD on the first 5000 Fashion-MNIST images, at the small "
      "step sizes η = 2/60 and 2/100, until 95 % training accuracy (at most 4000 and 7000 steps) without --quick; "
      "400 steps each with --quick, which stops well before 95 % (the report gives the accuracy reached). λmax is "
      "measured every 100 steps to confirm the runs stay below 2/η.";
  p.runs = [](bool quick) { return tanh_stable_runs(quick); };
  p.claims = {
      {"The runs are in the stable regime (the premise of the experiment).", "λmax < 2/η at every measured step",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-tanh-eta2_60", "fc-tanh-eta2_100"}) {
           const auto& r = s.at(name);
           const double worst = max_of(over_two_eta(r, "lambda_max"));
           ok &= worst < 1.0;
           m += fmt::format("{}: max λmax·η/2 = {:.3f}; ", r.spec.label, worst);
         }
         return Verdict{ok, joined(m)};
       }},
      {"RP stays negative for all iterations.", "RP(θ_t) < 0 at every step of both runs",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-tanh-eta2_60", "fc-tanh-eta2_100"}) {
           const auto& r = s.at(name);
           const double worst = max_of(r.values("rp"));
           ok &= worst < 0;
           m += fmt::format("{}: max RP = {:.4f}; ", r.spec.label, worst);
         }
         return Verdict{ok, joined(m)};
       }},
      {"RP saturates around −1.", "the median RP over the second half of each run lies in [−1.05, −0.9]",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-tanh-eta2_60", "fc-tanh-eta2_100"}) {
           const auto& r = s.at(name);
           const double med = median(r.values("rp", double(r.steps()) / 2));
           ok &= med >= -1.05 && med <= -0.9;
           m += fmt::format("{}: median {:.4f}, accuracy reached {}; ", r.spec.label, med,
                            g4(r.values("accuracy").back()));
         }
         return Verdict{ok, joined(m)};
       }},
      {"The regime detector agrees: these runs never turn unstable.",
       "plugin regime: no first unstable step and every step labelled stable, in both runs",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-tanh-eta2_60", "fc-tanh-eta2_100"}) {
           const auto& r = s.at(name);
           ok &= !r.first_unstable_step() && r.regime_fraction("stable") == 1.0;
           m += fmt::format("{}: {}; ", r.spec.label, r.regime_text());
         }
         return Verdict{ok, joined(m)};
       }},
      {"The loss decreases monotonically.", "f(θ_{t+1}) ≤ f(θ_t) at every step of both runs",
       [](const RunSet& s) {
         const auto a = loss_increases(s.at("fc-tanh-eta2_60")), b = loss_increases(s.at("fc-tanh-eta2_100"));
         return Verdict{a + b == 0, fmt::format("loss increases: {} (η = 2/60), {} (η = 2/100)", a, b)};
       }},
  };
  p.figures = [](const RunSet& s) {
    std::vector<const LoadedRun*> runs = {&s.at("fc-tanh-eta2_60"), &s.at("fc-tanh-eta2_100")};
    return std::vector<FigureNote>{
        {loss_figure("loss", "fc-tanh, stable step sizes", runs), "The loss decreases monotonically."},
        {rp_figure("rp", "relative progress in the stable regime", runs),
         "RP stays negative and close to −1 at every step, as in the paper's Experiment 2."}};
  };
  return p;
}

Preset exp3() {
  Preset p;
  p.name = "exp3";
  p.title = "Experiment 3: in the unstable regime RP oscillates around 0";
  p.paper = "Section 4.1.2, Experiment 3";
  p.setting =
      "fc-tanh 784-200-200-10 on the first 5000 Fashion-MNIST images, full-batch GD at η = 2/10 until 95 % training "
      "accuracy as in the paper (at most 600 steps with --quick, 3000 without), and at η = 2/15 for a fixed 700 "
      "steps (3000 without --quick; the run of the eos preset), which passes 95 % on the way. Deviation: larger "
      "step sizes than the paper's CIFAR-10 ones: on Fashion-MNIST fc-tanh reaches 95 % training accuracy soon, "
      "and only for η ≳ 2/15 does its sharpness reach 2/η well before that (at 2/20 GD hits 95 % about when it "
      "turns unstable; at 2/30 the sharpness is still below 2/η after 500 steps). The unstable phase starts at the "
      "onset of unstable convergence: the first step at which the loss goes up (RP > 0).";
  p.runs = [](bool quick) { return std::vector<PresetRun>{tanh_unstable_run(quick), tanh_eos_run(quick)}; };
  p.claims = {
      {"Before the edge of stability RP is near −1; once GD is unstable, RP oscillates around 0 instead.",
       "for each run, the median RP from the first loss increase to the end lies in [−0.25, 0.25] (and before it "
       "below −0.9)",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-tanh-eta2_10", "fc-tanh-eta2_15"}) {
           const auto& r = s.at(name);
           const double t0 = onset_or_throw(r);
           const double before = median(r.values("rp", 0, t0 - 1)), after = median(r.values("rp", t0));
           ok &= after >= -0.25 && after <= 0.25 && before < -0.9;
           m += fmt::format("{}: first loss increase at step {}, median RP {:.3f} before, {:.3f} after; ", r.spec.label,
                            t0, before, after);
         }
         return Verdict{ok, joined(m)};
       }},
      {"In the unstable regime the loss goes up at many steps (RP > 0), yet training converges.",
       "for each run, RP > 0 at ≥ 20 % of the steps after the onset, the run does not diverge, and the training "
       "accuracy reaches 95 % (the run's accuracy goal, or a measured accuracy)",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-tanh-eta2_10", "fc-tanh-eta2_15"}) {
           const auto& r = s.at(name);
           const double fr = fraction(r.values("rp", onset_or_throw(r)), [](double v) { return v > 0; });
           const double acc = max_of(r.values("accuracy"));  // measured every 10 steps
           const bool reached = acc >= 0.95 || r.summary.value("outcome", "") == "accuracy_goal";
           ok &= fr >= 0.2 && !r.diverged() && reached;
           m += fmt::format("{}: {:.0f} % of steps with RP > 0, {}, best accuracy measured {}; ", r.spec.label,
                            100 * fr, outcome(r), g4(acc));
         }
         return Verdict{ok, joined(m)};
       }},
      {"The regime detector dates the onset of unstable convergence where the loss first goes up, and sees no "
       "divergence.",
       "for each run, plugin regime's first unstable step within 20 steps (its window) of the first loss increase, "
       "and no step labelled diverging",
       [](const RunSet& s) { return regime_finds_the_onset({&s.at("fc-tanh-eta2_10"), &s.at("fc-tanh-eta2_15")}); }},
  };
  p.figures = [](const RunSet& s) {
    std::vector<const LoadedRun*> runs = {&s.at("fc-tanh-eta2_10"), &s.at("fc-tanh-eta2_15")};
    return std::vector<FigureNote>{
        {loss_figure("loss", "fc-tanh, unstable step sizes", runs),
         "The loss is non-monotone once GD reaches the edge of stability, but keeps going down over time."},
        {rp_figure("rp", "relative progress in the unstable regime", runs),
         "RP is near −1 at first, then jumps to oscillate around 0 once λmax reaches 2/η, as in the paper's "
         "Experiment 3."}};
  };
  return p;
}

Preset exp4() {
  Preset p;
  p.name = "exp4";
  p.title = "Experiment 4: L(θ_t; η∇f(θ_t)) saturates at 2/η in the unstable regime";
  p.paper = "Section 4.2, Experiment 4";
  p.setting =
      "The runs of exp2 (stable: η = 2/60, 2/100) and exp3 (unstable: η = 2/10, 2/15), with the same deviations; "
      "L(θ_t; η∇f) = ⟨η∇f, ∇f(θ_t) − ∇f(θ_{t+1})⟩/‖η∇f‖² is free under GD (the next step's gradient). It is shown "
      "as L·η/2, so 1 is the threshold 2/η for every step size.";
  p.runs = [](bool quick) {
    auto r = tanh_stable_runs(quick);
    r.push_back(tanh_eos_run(quick));
    r.push_back(tanh_unstable_run(quick));
    return r;
  };
  p.claims = {
      {"In the unstable regime, L(θ_t; η∇f(θ_t)) saturates around 2/η: GD oscillates.",
       "for each unstable run, the median of L·η/2 from the first loss increase on lies in [0.85, 1.15]",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-tanh-eta2_10", "fc-tanh-eta2_15"}) {
           const auto& r = s.at(name);
           const double med = median(over_two_eta(r, "L_dir", onset_or_throw(r)));
           ok &= med >= 0.85 && med <= 1.15;
           m += fmt::format("{}: median L·η/2 = {:.3f}; ", r.spec.label, med);
         }
         return Verdict{ok, joined(m)};
       }},
      {"In the stable regime, L(θ_t; η∇f(θ_t)) stays well below 2/η.",
       "for each stable run, L·η/2 ≤ 0.5 at every step",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-tanh-eta2_60", "fc-tanh-eta2_100"}) {
           const auto& r = s.at(name);
           const double mx = max_of(over_two_eta(r, "L_dir"));
           ok &= mx <= 0.5;
           m += fmt::format("{}: max L·η/2 = {:.4f}; ", r.spec.label, mx);
         }
         return Verdict{ok, joined(m)};
       }},
  };
  p.figures = [](const RunSet& s) {
    plot::Figure f{"directional_smoothness", "L(θ_t; η∇f(θ_t)) · η/2 (1 = the threshold 2/η)", "step", "L · η/2"};
    std::vector<std::vector<double>> all;
    for (const auto& name : {"fc-tanh-eta2_10", "fc-tanh-eta2_15", "fc-tanh-eta2_60", "fc-tanh-eta2_100"}) {
      const auto& r = s.at(name);
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

Preset exp5() {
  Preset p;
  p.name = "exp5";
  p.title = "Experiment 5: L(θ_t; ητ∇f) varies little over τ, so (4.3) approximates Theorem 2";
  p.paper = "Section 4.3, Theorem 2 and Experiment 5";
  p.setting =
      "fc-tanh on the first 5000 Fashion-MNIST images, full-batch GD. Without --quick, as the paper: L(θ_t; ητ∇f) "
      "for τ ∈ {0.01, 0.02, …, 1} (plugin tau_profile, m = 100) every 5 steps for 1000 steps; with --quick, "
      "τ ∈ {0.05, 0.1, …, 1} (m = 20) every 10 steps for 400 steps. Deviation: η = 2/10 instead of the paper's 2/60, "
      "because on Fashion-MNIST fc-tanh at 2/60 stays in the stable regime for thousands of steps, while at 2/10 it "
      "is unstable from about step 130 on (see exp3).";
  p.runs = [](bool quick) {
    return std::vector<PresetRun>{net("fc-tanh-eta2_10-tau", "fc-tanh, η = 2/10",
                                      {"--activation", "tanh", "--lr", "2/10", "--steps", steps(quick, 400, 1000),
                                       "--plugin", "loss", "--plugin", "rp", "--plugin",
                                       quick ? "tau_profile:m=20@10" : "tau_profile:m=100@5", "--plugin",
                                       "sharpness@10"})};
  };
  p.claims = {
      {"L(θ_t; ητ∇f(θ_t)) does not vary much across τ ∈ [0, 1] in the unstable regime.",
       "median over the evaluated steps from the first loss increase on of std/mean over τ ≤ 0.25",
       [](const RunSet& s) {
         const auto& r = s.at("fc-tanh-eta2_10-tau");
         const double t0 = onset_or_throw(r);
         const auto mean = r.values("tau_L_mean", t0), sd = r.values("tau_L_std", t0);
         std::vector<double> cv;
         for (std::size_t i = 0; i < mean.size(); ++i) cv.push_back(sd[i] / mean[i]);
         const double med = median(cv);
         return Verdict{med <= 0.25, fmt::format("median std/mean = {:.3f} over {} evaluated steps from step {}", med,
                                                  cv.size(), t0)};
       }},
      {"Theorem 2: RP = −1 + (η/2)·2∫₀¹ τ L(θ; ητ∇f) dτ holds exactly.",
       "max |RP − Theorem 2's value| over the evaluated steps ≤ 10⁻² (the τ grid's quadrature error)",
       [](const RunSet& s) {
         const double mx = max_of(s.at("fc-tanh-eta2_10-tau").values("thm2_residual"));
         return Verdict{mx <= 1e-2, fmt::format("max residual {:.3g}", mx)};
       }},
      {"Hence RP ≈ −1 + (η/2)·L(θ; η∇f) (4.3): the single value at τ = 1 stands for the weighted average.",
       "median |RP − (4.3)| over the steps from the first loss increase on ≤ 0.1 (before it both are ≈ −1)",
       [](const RunSet& s) {
         const auto& r = s.at("fc-tanh-eta2_10-tau");
         const double t0 = onset_or_throw(r);
         const auto rp = r.values("rp", t0), pred = r.values("rp_pred_43", t0);
         std::vector<double> d;
         for (std::size_t i = 0; i < rp.size(); ++i) d.push_back(std::abs(rp[i] - pred[i]));
         const double med = median(d);
         return Verdict{med <= 0.1, fmt::format("median |RP − (4.3)| = {:.3g} over {} steps from step {}", med, d.size(), t0)};
       }},
  };
  p.figures = [](const RunSet& s) {
    const auto& r = s.at("fc-tanh-eta2_10-tau");
    plot::Figure f{"tau_profile", "L(θ_t; ητ∇f) over τ ∈ (0, 1]: mean ± std, every evaluated step", "step", "L"};
    plot::Series band = line(r, "tau_L_mean", "mean ± std over τ", plot::Style::Band, 0);
    band.err = "tau_L_std";
    f.series = {band, line(r, "tau_L_mean", "", plot::Style::Lines, 0), line(r, "L_dir", "L(θ_t; η∇f)", plot::Style::Points, 1),
                two_over_eta(r)};
    f.yrange = std::pair{0.0, 1.6 * 2.0 / r.lr()};
    f.key = "top left";
    plot::Figure rp{"rp_vs_43", "RP and its approximation (4.3)", "step", "RP"};
    rp.series = {line(r, "rp", "RP(θ_t)"), line(r, "rp_pred_43", "−1 + (η/2)·L(θ_t; η∇f)", plot::Style::Dashed)};
    rp.hlines = {{0.0, ""}, {-1.0, ""}};
    rp.yrange = plot::robust_range({r.values("rp")}, {-1.2, 0.6});
    return std::vector<FigureNote>{
        {f, "The band of L(θ_t; ητ∇f) over τ is narrow next to its level, which sits at 2/η once GD is unstable, as in "
            "the paper's Experiment 5."},
        {rp, "RP and the one-point approximation (4.3) lie on top of each other."}};
  };
  return p;
}

Preset exp6() {
  Preset p;
  p.name = "exp6";
  p.title = "Experiment 6: (4.3) holds for ReLU networks with 2 and 4 hidden layers";
  p.paper = "Section 4.3.1, Experiment 6";
  p.setting =
      "fc-ReLU with 2 and 4 hidden layers of width 200 on the first 5000 Fashion-MNIST images, full-batch GD, 500 "
      "steps with --quick, 2000 without. Deviation: the paper keeps Experiment 2's stable step sizes; here each "
      "depth gets a step size at which it reaches the edge of stability within the run (η = 2/15 for 2 layers, "
      "η = 2/30 for 4 layers, whose sharpness rises much faster), where (4.3) is a non-trivial statement: RP "
      "leaves −1.";
  p.runs = [](bool quick) {
    return std::vector<PresetRun>{
        net("fc-relu-2x200-eta2_15", "ReLU, 2 hidden layers, η = 2/15",
            {"--activation", "relu", "--widths", "200,200", "--lr", "2/15", "--steps", steps(quick, 500, 2000),
             "--plugin", "loss", "--plugin", "rp", "--plugin", "sharpness@25"}),
        net("fc-relu-4x200-eta2_30", "ReLU, 4 hidden layers, η = 2/30",
            {"--activation", "relu", "--widths", "200,200,200,200", "--lr", "2/30", "--steps", steps(quick, 500, 2000),
             "--plugin", "loss", "--plugin", "rp", "--plugin", "sharpness@25"})};
  };
  p.claims = {
      {"RP ≈ −1 + (η/2)·L(θ; η∇f) (4.3) holds for ReLU networks of depth 2 and 4.",
       "for each run: median |RP − (4.3)| ≤ 0.05 over the steps from the first loss increase on (before it both "
       "are ≈ −1), and correlation of RP with (4.3) over the whole run (the jump from −1 to 0) ≥ 0.9",
       [](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const auto& name : {"fc-relu-2x200-eta2_15", "fc-relu-4x200-eta2_30"}) {
           const auto& r = s.at(name);
           const double t0 = onset_or_throw(r);
           const auto rp = r.values("rp", t0), pred = r.values("rp_pred_43", t0);
           std::vector<double> d;
           for (std::size_t i = 0; i < rp.size(); ++i) d.push_back(std::abs(rp[i] - pred[i]));
           const double med = median(d), c = correlation(r.values("rp"), r.values("rp_pred_43"));
           ok &= med <= 0.05 && c >= 0.9;
           // After the onset RP also flickers from step to step (period 2) around what (4.3) predicts;
           // the correlation there says how much of that flicker (4.3) follows.
           m += fmt::format("{}: from step {}, median |RP − (4.3)| = {:.3g}; correlation {:.3f} over the run, {:.3f} "
                            "after the onset; {}; ",
                            r.spec.label, t0, med, c, correlation(rp, pred), outcome(r));
         }
         return Verdict{ok, joined(m)};
       }},
  };
  p.figures = [](const RunSet& s) {
    std::vector<FigureNote> out;
    for (const auto& [name, stem] : {std::pair{"fc-relu-2x200-eta2_15", "rp_2layers"}, std::pair{"fc-relu-4x200-eta2_30", "rp_4layers"}}) {
      const auto& r = s.at(name);
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

Preset exp7() {
  Preset p;
  p.name = "exp7";
  p.title = "Experiment 7: under SGD, the expected relative progress does not stay below 0";
  p.paper = "Section 5, Definition 3 and Experiment 7";
  p.setting =
      "fc-ReLU 784-200-200-10 on the first 5000 Fashion-MNIST images, SGD with batch 32 and η = 2/100 as in the "
      "paper. At the end of each epoch, E[RP] = (E f(θ − ηg_B) − f(θ))/(η‖∇f(θ)‖²) over independent minibatch draws "
      "(plugin sgd_rp: 32 draws with --quick, 128 without) with its standard error; full-batch f and ∇f. 12 epochs "
      "with --quick, 50 without.";
  p.runs = [](bool quick) { return std::vector<PresetRun>{sgd_runs("relu", quick)[1]}; };
  p.claims = {
      {"E[RP(θ_t)] does not stay below zero: SGD is in the unstable regime.",
       "E[RP] > 0 at one or more of the evaluated epochs",
       [](const RunSet& s) {
         const auto& r = s.at("sgd-relu-b32-eta2_100");
         const auto v = r.values("sgd_erp");
         return Verdict{max_of(v) > 0, fmt::format("max E[RP] = {:.3f}; E[RP] > 0 at {} of {} epochs", max_of(v),
                                                   std::count_if(v.begin(), v.end(), [](double x) { return x > 0; }),
                                                   v.size())};
       }},
      {"E[RP] is not negative for a majority of iterations (Remark 7), although the loss goes down.",
       "E[RP] ≥ 0 at more than half of the evaluated epochs after the first, and the last loss < the first",
       [](const RunSet& s) {
         const auto& r = s.at("sgd-relu-b32-eta2_100");
         const auto v = r.values("sgd_erp", 1);
         const double fr = fraction(v, [](double x) { return x >= 0; });
         return Verdict{fr > 0.5 && r.last_loss() < r.first_loss(),
                        fmt::format("E[RP] ≥ 0 at {:.0f} % of {} epochs; loss {} → {}", 100 * fr, v.size(),
                                    g4(r.first_loss()), g4(r.last_loss()))};
       }},
  };
  p.figures = [](const RunSet& s) {
    const auto& r = s.at("sgd-relu-b32-eta2_100");
    plot::Figure f{"expected_rp", "SGD (batch 32, η = 2/100): E[RP] at the end of each epoch, ± standard error", "step",
                   "E[RP]"};
    plot::Series e = line(r, "sgd_erp", "E[RP(θ_t)]", plot::Style::ErrorBars, 0);
    e.err = "sgd_erp_se";
    f.series = {e};
    f.hlines = {{0.0, ""}, {-1.0, ""}};
    f.yrange = plot::robust_range({r.values("sgd_erp")}, {-1.2, 0.6});
    return std::vector<FigureNote>{
        {loss_figure("loss", "SGD, full-batch loss at the end of each epoch", {&r}), "The full-batch loss goes down."},
        {f, "The expected relative progress of an SGD step, with its standard error over minibatch draws."}};
  };
  return p;
}

Preset sgd51(const std::string& name, const std::string& activation, const std::string& exp_no) {
  Preset p;
  p.name = name;
  p.title = fmt::format("Experiment {}: E[RP] ≈ −1 + (η/2)·E[‖g‖²/‖∇f‖²·L(θ; ηg)] (5.1), {} networks", exp_no, activation);
  p.paper = fmt::format("Section 5, (5.1) and Experiment {}", exp_no);
  p.setting = fmt::format(
      "fc-{} 784-200-200-10 on the first 5000 Fashion-MNIST images, SGD with batch 32 at η = 2/50, 2/100 and 2/150 "
      "as in the paper; at the end of each epoch both sides of (5.1) from the same independent minibatch draws "
      "(plugin sgd_rp: 32 draws with --quick, 128 without), each with its standard error. 12 epochs with --quick, "
      "50 without.",
      activation);
  p.runs = [activation](bool quick) { return sgd_runs(activation, quick); };
  p.claims = {
      {"The left- and right-hand sides of (5.1) are very similar at all three step sizes.",
       "for each step size, the median over epochs of |LHS − RHS| ≤ 0.15",
       [activation](const RunSet& s) {
         bool ok = true;
         std::string m;
         for (const std::string lr : {"2_50", "2_100", "2_150"}) {
           const auto& r = s.at(fmt::format("sgd-{}-b32-eta{}", activation, lr));
           const auto a = r.values("sgd_erp"), b = r.values("sgd_rhs51");
           std::vector<double> d;
           for (std::size_t i = 0; i < a.size(); ++i) d.push_back(std::abs(a[i] - b[i]));
           const double med = median(d);
           ok &= med <= 0.15;
           m += fmt::format("{}: median |LHS − RHS| = {:.3f}; ", r.spec.label, med);
         }
         return Verdict{ok, joined(m)};
       }},
  };
  p.figures = [activation](const RunSet& s) {
    std::vector<FigureNote> out;
    for (const std::string lr : {"2_50", "2_100", "2_150"}) {
      const auto& r = s.at(fmt::format("sgd-{}-b32-eta{}", activation, lr));
      plot::Figure f{"eq51_eta" + lr, fmt::format("(5.1), {}: both sides ± standard error", r.spec.label), "step", "E[RP]"};
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

Preset eos() {
  Preset p;
  p.name = "eos";
  p.title = "Edge of stability: sharpness rises to 2/η and hovers there; RP ≈ 0 and L ≈ 2/η once it does";
  p.paper = "Section 4.4 (Cohen et al.'s edge of stability, properties A and B)";
  p.setting =
      "fc-tanh 784-200-200-10, mean cross-entropy, full-batch GD at η = 2/15 on the first 5000 Fashion-MNIST images, "
      "standardized (Cohen et al.'s protocol on Fashion-MNIST instead of CIFAR-10). 700 steps with λmax every 10 "
      "steps (--quick), or 3000 steps with λmax every 2 steps. At this step size the sharpness reaches 2/η = 15 "
      "after about 220 steps, and the loss first goes up about 100 steps later, once the oscillation along the "
      "top eigenvector has grown from rounding-error size.";
  p.runs = [](bool quick) { return std::vector<PresetRun>{tanh_eos_run(quick)}; };
  p.claims = {
      {"Progressive sharpening: λmax rises from below 2/η until it reaches 2/η, and only then does the loss start "
       "to go up.",
       "λmax(θ₀) < 2/η, a measured λmax ≥ 2/η, and the first loss increase no earlier than one measurement "
       "interval before that",
       [](const RunSet& s) {
         const auto& r = s.at("fc-tanh-eta2_15");
         const double l0 = r.values("lambda_max").front();
         const auto cross = threshold_crossing(r);
         const auto onset = first_loss_increase(r);
         const bool ok = l0 < 2 / r.lr() && cross && onset && *onset >= *cross - sharpness_interval(r);
         return Verdict{ok, fmt::format("λmax(θ₀) = {}; λmax first measured ≥ 2/η at step {}; first loss increase at "
                                        "step {}",
                                        g4(l0), cross ? fmt::format("{}", *cross) : std::string("— (never)"),
                                        onset ? fmt::format("{}", *onset) : std::string("— (never)"))};
       }},
      {"Then λmax hovers at (or slightly above) 2/η.",
       "from the first loss increase on: median λmax·η/2 in [0.9, 1.2], and ≥ 80 % of the measurements within "
       "[0.8, 1.4]",
       [](const RunSet& s) {
         const auto& r = s.at("fc-tanh-eta2_15");
         const auto v = over_two_eta(r, "lambda_max", onset_or_throw(r));
         const double med = median(v), fr = fraction(v, [](double x) { return x >= 0.8 && x <= 1.4; });
         return Verdict{med >= 0.9 && med <= 1.2 && fr >= 0.8,
                        fmt::format("median λmax·η/2 = {:.3f}; {:.0f} % within [0.8, 1.4] ({} measurements)", med,
                                    100 * fr, v.size())};
       }},
      {"Once it does, RP oscillates around 0 (no progress relative to η‖∇f‖²).",
       "median RP from the first loss increase on in [−0.25, 0.25]",
       [](const RunSet& s) {
         const auto& r = s.at("fc-tanh-eta2_15");
         const double med = median(r.values("rp", onset_or_throw(r)));
         return Verdict{med >= -0.25 && med <= 0.25, fmt::format("median RP = {:.3f}", med)};
       }},
      {"… and L(θ_t; η∇f) sits at 2/η (GD oscillates along the top eigendirection).",
       "median L·η/2 from the first loss increase on in [0.85, 1.15]",
       [](const RunSet& s) {
         const auto& r = s.at("fc-tanh-eta2_15");
         const double med = median(over_two_eta(r, "L_dir", onset_or_throw(r)));
         return Verdict{med >= 0.85 && med <= 1.15, fmt::format("median L·η/2 = {:.3f}", med)};
       }},
      {"The onset can be found automatically, from L and λmax against 2/η, without reading the loss curve.",
       "plugin regime's first unstable step within 20 steps (its window) of the first loss increase, and no step "
       "labelled diverging",
       [](const RunSet& s) { return regime_finds_the_onset({&s.at("fc-tanh-eta2_15")}); }},
  };
  p.figures = [](const RunSet& s) {
    const auto& r = s.at("fc-tanh-eta2_15");
    plot::Figure sh{"sharpness", "sharpness λmax(∇²f(θ_t)), fc-tanh, η = 2/15", "step", "λmax"};
    sh.series = {line(r, "lambda_max", "λmax"), two_over_eta(r)};
    sh.yrange = std::pair{0.0, std::max(1.5 * 2 / r.lr(), plot::robust_range({r.values("lambda_max")}, {}).second)};
    sh.key = "bottom right";
    plot::Figure L{"directional_smoothness", "directional smoothness L(θ_t; η∇f(θ_t)), η = 2/15", "step", "L"};
    L.series = {line(r, "L_dir", "L(θ_t; η∇f)"), two_over_eta(r)};
    L.yrange = std::pair{0.0, 1.6 * 2 / r.lr()};
    L.key = "bottom right";
    plot::Figure loss = loss_figure("loss", "training loss, fc-tanh, η = 2/15", {&r});
    if (const auto first = r.first_unstable_step()) {
      loss.vlines = {{*first, "regime: unstable"}};
      sh.vlines = loss.vlines;
    }
    return std::vector<FigureNote>{
        {loss, "The loss falls smoothly, then turns non-monotone when the sharpness reaches 2/η, yet keeps decreasing. "
               "The dashed line marks the first unstable step found by the regime plugin."},
        {sh, "Sharpness rises (progressive sharpening) to 2/η and then hovers around it: Cohen et al.'s edge of "
             "stability, properties A and B."},
        {rp_figure("rp", "relative progress RP(θ_t), η = 2/15", {&r}),
         "RP sits near −1 while stable and oscillates around 0 once at the edge of stability (the paper's Section 4.1)."},
        {L, "L(θ_t; η∇f) is near 0 while stable and jumps to 2/η at the edge of stability (Section 4.2)."}};
  };
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

Preset central_flow() {
  Preset p;
  p.name = "central_flow";
  p.title = "Predicted beside measured: the central flow of GD at the edge of stability";
  p.paper = "Cohen, Damian, Talwalkar, Kolter & Lee (2024), \"Understanding Optimization in Deep Learning with Central "
            "Flows\", beside Section 4 of Ahn et al.";
  p.setting =
      "fc-tanh on Fashion-MNIST, full-batch GD and its central flow from the same θ₀ (plugin central_flow: 4 Euler "
      "substeps per step, top 3 eigenpairs, third derivatives by central differences of exact HVPs). With --quick: "
      "784-64-64-10 on the first 500 images at η = 2/5, 120 steps; without: 784-200-200-10 on the first 1000 images "
      "at η = 2/10, 400 steps. λmax of GD every 2 steps. Deviation: smaller than the eos preset's 5000 images, "
      "because at the edge of stability the flow costs about 100 HVPs per GD step. The running mean of GD's loss is "
      "centred over 10 steps.";
  p.runs = [](bool quick) {
    std::vector<std::string> args =
        quick ? std::vector<std::string>{"--n", "500", "--widths", "64,64", "--lr", "2/5", "--steps", "120"}
              : std::vector<std::string>{"--n", "1000", "--lr", "2/10", "--steps", "400"};
    args.insert(args.begin(), {"--activation", "tanh"});
    for (const char* plugin : {"loss", "sharpness@2", "central_flow", "regime"}) args.insert(args.end(), {"--plugin", plugin});
    return std::vector<PresetRun>{
        net(quick ? "flow-tanh-64-n500-eta2_5" : "flow-tanh-n1000-eta2_10",
            quick ? "fc-tanh 64-64, 500 images, η = 2/5" : "fc-tanh 200-200, 1000 images, η = 2/10", args)};
  };
  auto run_of = [](const RunSet& s) -> const LoadedRun& { return s.begin()->second; };
  p.claims = {
      {"Until its sharpness reaches 2/η, the central flow is gradient flow, and GD follows it.",
       "|f(θ_t) − f(w(t))| ≤ 5 % of f(θ_t) at every step before the flow's first critical eigenvalue",
       [run_of](const RunSet& s) {
         const auto& r = run_of(s);
         const double first = flow_critical_span(r).first;
         const auto gd = r.values("loss", 0, first - 1), flow = r.values("flow_loss", 0, first - 1);
         double worst = 0;
         for (std::size_t i = 0; i < gd.size(); ++i) worst = std::max(worst, std::abs(gd[i] - flow[i]) / gd[i]);
         return Verdict{worst <= 0.05, fmt::format("largest relative gap {:.2f} % over steps 0–{}", 100 * worst, first - 1)};
       }},
      {"Then the flow's sharpness stays at 2/η while GD's oscillates around it.",
       "from 3 steps after the flow's first critical eigenvalue to its last: flow λmax·η/2 within 1 % of 1 at ≥ 90 % of "
       "the steps, and GD's measured λmax·η/2 on both sides of 1",
       [run_of](const RunSet& s) {
         const auto& r = run_of(s);
         const auto [first, last] = flow_critical_span(r);
         std::vector<double> held, gd;
         for (const auto& [st, v] : r.series("flow_lambda_max", first + 3, last)) held.push_back(v * r.lr() / 2);
         for (const auto& [st, v] : r.series("lambda_max", first + 3, last)) gd.push_back(v * r.lr() / 2);
         const double fr = fraction(held, [](double x) { return std::abs(x - 1) <= 0.01; });
         const double lo = *std::min_element(gd.begin(), gd.end()), hi = max_of(gd);
         return Verdict{fr >= 0.9 && lo < 1 && hi > 1,
                        fmt::format("flow at 2/η (±1 %) at {:.0f} % of steps {}–{}; GD's λmax·η/2 from {:.3f} to {:.3f}, "
                                    "median {:.3f}",
                                    100 * fr, first + 3, last, lo, hi, median(gd))};
       }},
      {"Once GD is at the edge of stability, the flow's predicted loss f(w) + tr Σ/η tracks a running mean of GD's "
       "loss, better than the flow's own f(w).",
       "from GD's first loss increase to the flow's last critical step: median |prediction − running mean| / running "
       "mean ≤ 25 %, and below that of f(w)",
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
         return Verdict{mp <= 0.25 && mp < mo,
                        fmt::format("median relative error {:.1f} % (f(w) alone: {:.1f} %) over steps {}–{}; the flow "
                                    "reached 2/η at step {}, GD's loss first rose at step {}",
                                    100 * mp, 100 * mo, onset, last, flow_critical_span(r).first, onset)};
       }},
      {"GD oscillates along the top eigenvectors with the size √tr Σ the flow predicts.",
       "from 10 steps after GD's first loss increase to the flow's last critical step: RMS of ‖Uᵀ(θ_t − w(t))‖ over "
       "RMS of √tr Σ in [0.5, 2]",
       [run_of](const RunSet& s) {
         const auto& r = run_of(s);
         const double from = onset_or_throw(r) + 10, last = flow_critical_span(r).second;
         auto rms = [](const std::vector<double>& v) {
           double q = 0;
           for (double x : v) q += x * x;
           return std::sqrt(q / double(v.size()));
         };
         const auto disp = r.values("flow_gd_displacement", from, last), osc = r.values("flow_oscillation", from, last);
         const auto total = r.values("flow_distance", from, last);
         if (disp.empty()) throw std::runtime_error("no steps between GD's onset + 10 and the flow's last critical step");
         const double ratio = rms(disp) / rms(osc);
         return Verdict{ratio >= 0.5 && ratio <= 2,
                        fmt::format("RMS displacement {:.4f} vs predicted {:.4f} (ratio {:.2f}) over steps {}–{}; the "
                                    "whole distance ‖θ_t − w(t)‖ is {:.4f} (RMS): GD also drifts from the flow off "
                                    "the top eigenvectors",
                                    rms(disp), rms(osc), ratio, from, last, rms(total))};
       }},
  };
  p.figures = [run_of](const RunSet& s) {
    const auto& r = run_of(s);
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
  };
  return p;
}

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = {example1(), example2(), example3(), exp1(), exp2(), exp3(), exp4(),
                                          exp5(),     exp6(),     exp7(),     sgd51("exp8", "relu", "8"),
                                          sgd51("exp9", "tanh", "9"), eos(),  central_flow()};
  return all;
}

}  // namespace eos::cli
