// Claims of a preset as data. Most of the paper's claims are a statistic of a
// column over a window of a run — "the median of RP from the first loss
// increase on lies in [−0.25, 0.25]" — and are written as one ColumnCheck:
// run handle, quantity, window, statistic, accepted range. The criterion a
// report prints is generated from those same numbers, so the text and the
// check cannot disagree. A claim that needs bespoke code keeps a function
// (a Check with its own criterion text beside the code).
#pragma once

#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <eoslab.hpp>

namespace eos::cli {

// One run of a preset: an `eoslab train` command (without --out).
struct PresetRun {
  std::string name;                 // its directory under OUT/runs/ (shared by presets with the same command)
  std::string label;                // legend text, e.g. "tanh, η = 2/15"
  std::vector<std::string> args;    // flags of `eoslab train`
  bool network = false;             // trains on data: --data applies
};

// What a preset gets back when it declares a run; claims and figures refer
// to runs by these, never by names.
struct RunHandle {
  std::size_t index = 0;
};

// A finished run, as the claims and figures see it.
struct LoadedRun {
  PresetRun spec;
  std::filesystem::path dir;
  analysis::MetricsTable metrics;
  nlohmann::json summary;

  // (step, value) of the finite entries of a column, steps in [from, to].
  std::vector<std::pair<double, double>> series(const std::string& column, double from = -INFINITY,
                                                double to = INFINITY) const;
  std::vector<double> values(const std::string& column, double from = -INFINITY, double to = INFINITY) const;
  double lr() const;                // η at step 0
  bool diverged() const;
  std::size_t steps() const;        // updates taken
  double first_loss() const;
  double last_loss() const;         // the last finite loss
  std::string outcome() const;      // the summary's outcome text
  // The regime plugin's summary (first_unstable_step, fractions); null when
  // the run had no regime plugin.
  const nlohmann::json& regime() const;
  std::optional<double> first_unstable_step() const;
  double regime_fraction(const std::string& label) const;  // stable | unstable | diverging
  std::string regime_text() const;  // one line for reports; "—" without a regime plugin
  std::filesystem::path csv() const { return dir / "metrics.csv"; }
};

// The runs of one preset, in the order declared.
struct RunSet {
  std::vector<LoadedRun> runs;
  const LoadedRun& operator[](RunHandle h) const { return runs.at(h.index); }
};

struct Verdict {
  bool holds = false;
  std::string measured;             // the measured figure, in words and numbers
};

// One condition of a claim: the criterion as the report prints it, and its
// evaluation on the runs.
struct Check {
  std::string criterion;
  std::function<Verdict(const RunSet&)> evaluate;
};

struct Claim {
  std::string text;                 // the paper's claim in one sentence
  std::vector<Check> checks;        // it holds when all of them hold
  std::string criterion() const;    // the checks' criteria, joined
  Verdict evaluate(const RunSet& runs) const;
};

// ---- the vocabulary of column checks ---------------------------------------

// An accepted range of numbers, with its text ("in [0.85, 1.15]", "< 0").
struct Range {
  double lo = -INFINITY, hi = INFINITY;
  bool lo_closed = true, hi_closed = true;
  static Range within(double lo, double hi);  // [lo, hi]
  static Range below(double x);               // < x
  static Range at_most(double x);             // ≤ x
  static Range above(double x);               // > x
  static Range at_least(double x);            // ≥ x
  bool contains(double v) const;
  std::string text() const;
};

// A step of a run that a window starts or ends at.
struct Anchor {
  enum Kind { Start, Step, Onset, Half, End } kind = Start;
  double offset = 0;                // Step: the step; Onset: steps after (before, if negative) the onset
  static Anchor start() { return {Start, 0}; }
  static Anchor step(double s) { return {Step, s}; }
  static Anchor onset(double k = 0) { return {Onset, k}; }
  static Anchor half() { return {Half, 0}; }
  static Anchor end() { return {End, 0}; }
  double resolve(const LoadedRun& r) const;  // Onset throws when the loss never increased
};

// Steps [from, to] of a run. The onset of unstable convergence is the first
// step t with f(θ_{t+1}) > f(θ_t), where GD stops being a descent method.
struct Window {
  Anchor from = Anchor::start(), to = Anchor::end();
  static Window whole() { return {}; }
  static Window from_onset(double k = 0) { return {Anchor::onset(k), Anchor::end()}; }
  static Window before_onset() { return {Anchor::start(), Anchor::onset(-1)}; }
  static Window second_half() { return {Anchor::half(), Anchor::end()}; }
  static Window from_step(double s) { return {Anchor::step(s), Anchor::end()}; }
  std::string text() const;         // "from the first loss increase on", …
};

// What is measured at each step: a column, or a function of columns.
struct Quantity {
  enum Kind { Column, TimesEtaOver2, AbsDifference, Ratio } kind = Column;
  std::string a, b;                 // the column(s)
  std::string name;                 // how the report names it: "RP", "L·η/2", "|RP − (4.3)|"
  static Quantity column(std::string c, std::string name) { return {Column, std::move(c), {}, std::move(name)}; }
  // value·η/2: 1 is the stability threshold 2/η for every step size
  static Quantity times_eta_over_2(std::string c, std::string name) { return {TimesEtaOver2, std::move(c), {}, std::move(name)}; }
  static Quantity abs_difference(std::string a, std::string b, std::string name) { return {AbsDifference, std::move(a), std::move(b), std::move(name)}; }
  static Quantity ratio(std::string a, std::string b, std::string name) { return {Ratio, std::move(a), std::move(b), std::move(name)}; }
  // Its finite values at the steps of the window (where every column it reads has a value).
  std::vector<double> values(const LoadedRun& r, double from, double to) const;
};

struct Statistic {
  enum Kind { Median, Max, Min, First, Last, LastOverFirst, FractionIn } kind = Median;
  Range inner;                      // FractionIn: the range whose share of the steps is measured
  static Statistic median() { return {Median, {}}; }
  static Statistic max() { return {Max, {}}; }
  static Statistic min() { return {Min, {}}; }
  static Statistic first() { return {First, {}}; }
  static Statistic last() { return {Last, {}}; }
  static Statistic last_over_first() { return {LastOverFirst, {}}; }
  static Statistic fraction_in(Range r) { return {FractionIn, r}; }
  double of(const std::vector<double>& v) const;  // throws on no values
  std::string text(const std::string& quantity) const;  // "the median of RP", "the share of steps with RP > 0"
};

// One row: for each run, the statistic of the quantity over the window lies
// in the accepted range.
struct ColumnCheck {
  std::vector<RunHandle> runs;
  Quantity quantity;
  Window window;
  Statistic statistic;
  Range accepted;
  Check check() const;
};

// A check that holds when it holds in every run: `judge` gives one run's
// verdict; the measured text lists each run's as "label: …", and the
// criterion reads "for each run, …" when there are several.
Check each_run(std::vector<RunHandle> runs, std::string criterion, std::function<Verdict(const LoadedRun&)> judge);

// The run ends as diverged (or, with false, does not).
Check outcome_check(std::vector<RunHandle> runs, bool diverged);

// ---- statistics the bespoke checks share ------------------------------------
double median(std::vector<double> v);
double max_of(const std::vector<double>& v);
std::optional<double> first_loss_increase(const LoadedRun& r);  // the onset, when there is one
double onset_or_throw(const LoadedRun& r);
std::string g4(double v);           // "{:.4g}"
std::string joined(const std::string& m);  // "a; b; " → "a; b"

}  // namespace eos::cli
