// The subcommands, each a function of its parsed arguments returning the exit
// code; UsageError (exit 2) and other exceptions (exit 1) are mapped in main.
#pragma once

#include "flags.hpp"

namespace eos::cli {

int train_command(const RunConfig& config);
int analyze_command(const AnalyzeArgs& args);
int plot_command(const PlotArgs& args);
int plugins_command(const std::string& name);
int reproduce_command(const ReproduceArgs& args);  // reproduce.cpp

}  // namespace eos::cli
