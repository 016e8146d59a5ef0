// `eoslab reproduce`: one preset per result of the paper. A preset is data:
// the `eoslab train` commands of its runs, the figures drawn from their
// metrics, and the paper's claims, each with a criterion evaluated on the
// measured metrics (a verdict is computed from the run, never asserted).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plot.hpp"

namespace eos::cli {

// One run of a preset: an `eoslab train` command (without --out).
struct PresetRun {
  std::string name;                 // its directory under OUT/runs/ (shared by presets with the same command)
  std::string label;                // legend text, e.g. "tanh, η = 2/15"
  std::vector<std::string> args;    // flags of `eoslab train`
  bool network = false;             // trains on data: --data applies
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
  // The regime plugin's summary (first_unstable_step, fractions); null when
  // the run had no regime plugin.
  const nlohmann::json& regime() const;
  std::optional<double> first_unstable_step() const;
  double regime_fraction(const std::string& label) const;  // stable | unstable | diverging
  std::string regime_text() const;  // one line for reports; "—" without a regime plugin
  std::filesystem::path csv() const { return dir / "metrics.csv"; }
};
using RunSet = std::map<std::string, LoadedRun>;

struct Verdict {
  bool holds = false;
  std::string measured;             // the measured figure, in words and numbers
};

struct Claim {
  std::string text;                 // the paper's claim in one sentence
  std::string criterion;            // how it is judged on the measurements
  std::function<Verdict(const RunSet&)> check;
};

struct FigureNote {
  plot::Figure figure;
  std::string caption;              // one sentence: what it shows next to the paper's claim
};

struct Preset {
  std::string name, title;
  std::string paper;                // where in the paper
  std::string setting;              // what runs, and every deviation from the paper and why
  std::function<std::vector<PresetRun>(bool quick)> runs;
  std::function<std::vector<FigureNote>(const RunSet&)> figures;
  std::vector<Claim> claims;
};

const std::vector<Preset>& presets();

}  // namespace eos::cli
