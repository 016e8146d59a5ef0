// Internal to analysis/plugins_*.cpp: what the plugin families share.
#pragma once

#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "eigen.hpp"
#include "plugin.hpp"

namespace eos::analysis::detail {

struct MeanSe {
  double mean = 0.0, se = 0.0;
};
inline MeanSe mean_se(const std::vector<double>& x) {
  MeanSe r;
  const double n = double(x.size());
  for (double v : x) r.mean += v / n;
  if (x.size() > 1) {
    double ss = 0.0;
    for (double v : x) ss += (v - r.mean) * (v - r.mean);
    r.se = std::sqrt(ss / (n - 1.0) / n);
  }
  return r;
}

// A registry factory for a plugin without options.
template <class Make>
auto simple_factory(Make make) {
  return [make](const OptionValues&) { return make(); };
}

// The Lanczos options the eigen-plugins share, declared once: tol and
// max_iter (every solver), and k, stop, extra (the warm-started ones).
OptionDecl tol_option(const char* default_text = "1e-3", double max = 0.5, const char* doc = "relative tolerance of the stopping rule");
OptionDecl max_iter_option(std::size_t min = 1);
std::vector<OptionDecl> lanczos_option_decls(const char* k_default = "1");
// `values` holds tol and max_iter, and k, stop, extra, start and hvp when
// declared. hvp=auto turns float32 products on from this tol up where the
// solve is for the top of the spectrum (top_of_spectrum: λmax, not λmin).
constexpr double kMixedByDefaultFromTol = 1e-4;
LanczosOptions lanczos_options(const OptionValues& values, bool tracked = true, bool top_of_spectrum = true);
// A solve for k eigenvalues takes at least k HVPs: max_iter < k is refused
// when the plugin is made (std::invalid_argument naming both options), not
// at its first solve, after the run's files are written.
void require_max_iter_covers_k(const OptionValues& values, std::size_t k, std::size_t max_iter);
// Which earlier analysed step warm-starts a tracked solve (option `start`).
enum class StartFrom { Extrapolate, Last };
StartFrom start_from(const OptionValues& values);

// Warm-start vectors as plugin state: one [count, dim] tensor.
void save_vectors(StateDict& into, const std::vector<Tensor>& vectors, const std::string& key = "vectors");
std::vector<Tensor> load_vectors(const StateDict& from, std::size_t dim, const std::string& key = "vectors");

// An UnconvergedSolves (eigen.hpp) as summary.json holds it under the
// plugin's name: {"solves", "unconverged_solves"} and, where any stopped
// early, "first_unconverged_step" (+ step_offset: the central flow counts
// from its own start) and "largest_unconverged_residual".
nlohmann::json unconverged_json(const UnconvergedSolves& u, std::uint64_t step_offset = 0);

void register_progress_plugins(PluginRegistry& registry);   // plugins_progress.cpp
void register_curvature_plugins(PluginRegistry& registry);  // plugins_curvature.cpp
void register_flow_plugins(PluginRegistry& registry);       // plugins_flow.cpp

}  // namespace eos::analysis::detail
