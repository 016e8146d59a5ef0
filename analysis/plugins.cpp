// The built-in plugins, by family: progress along the trajectory
// (plugins_progress.cpp), curvature (plugins_curvature.cpp) and predicted
// dynamics (plugins_flow.cpp).
#include "plugins_common.hpp"

namespace eos::analysis {

void register_builtin_plugins(PluginRegistry& reg) {
  detail::register_progress_plugins(reg);
  detail::register_curvature_plugins(reg);
  detail::register_flow_plugins(reg);
}

}  // namespace eos::analysis
