// `eoslab reproduce`: one preset per result of the paper (and of the work it
// sits beside). A preset is data: its source, its setting, the `eoslab
// train` commands of its runs (declared with run(), which returns the handle
// its claims and figures use), the claims with the criterion each is judged
// by (claims.hpp: mostly one ColumnCheck row each, the text generated from
// the numbers), and the figures drawn from the runs' metrics. A verdict is
// computed from the run, never asserted.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "claims.hpp"
#include "plot.hpp"

namespace eos::cli {

// Where a preset's claims come from.
struct Source {
  std::string work;                 // "Ahn, Zhang & Sra (2022), \"Understanding the Unstable Convergence …\", ICML"
  std::string where;                // "Section 4.1.2, Experiment 3"
  std::string text() const { return work + ": " + where; }
};

struct FigureNote {
  plot::Figure figure;
  std::string caption;              // one sentence: what it shows next to the paper's claim
};

struct Preset {
  std::string name, title;
  Source source;
  std::string setting;              // what runs, and every deviation from the source and why
  std::vector<PresetRun> runs;      // in the order declared: a RunHandle indexes them
  std::vector<Claim> claims;
  std::function<std::vector<FigureNote>(const RunSet&)> figures;
  RunHandle run(PresetRun r) {
    runs.push_back(std::move(r));
    return {runs.size() - 1};
  }
};

// A preset by name, built for the short (--quick) or the full version.
struct PresetEntry {
  std::string name;
  std::function<Preset(bool quick)> make;
};
const std::vector<PresetEntry>& presets();

}  // namespace eos::cli
