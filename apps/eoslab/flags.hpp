// The command line's grammar: subcommands and flags (flags.cpp, the one file
// that knows CLI11), and what each subcommand is handed once parsed.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "run.hpp"

namespace eos::cli {

struct AnalyzeArgs {
  std::string dir, out, threads = "0";
  std::vector<std::string> plugins;
  bool quiet = false, force = false;
  // θ files trained elsewhere, instead of DIR (each FILE, GLOB or LIST), with
  // what a manifest would say: the objective (Data and Model flags), steps, η.
  std::vector<std::string> theta;
  std::string steps, lr = defaults::lr, batch_size = "0";
  std::optional<ObjectiveRecipe> objective;
  std::optional<std::vector<std::size_t>> step_list;  // --steps 0,10,20
  std::optional<std::size_t> steps_every;              // --steps every:K: 0, K, 2K, …
  double lr_value = 0.0;
  std::size_t batch_size_value = 0;
  std::uint64_t seed = defaults::seed;
  std::vector<std::string> command;  // argv, "eoslab" first
};

struct ReproduceArgs {
  std::string name, out = "eoslab-reproduce", data, threads = "0";
  bool list = false, quick = false, quiet = false, force = false, dry_run = false;
};

struct PlotArgs {
  std::string dir, out;
};

struct Commands {
  std::function<int(const RunConfig&)> train;
  std::function<int(const AnalyzeArgs&)> analyze;
  std::function<int(const ReproduceArgs&)> reproduce;
  std::function<int(const PlotArgs&)> plot;
  std::function<int(const std::string&)> plugins;
};

// Parses argv and calls the chosen subcommand; returns the exit code.
// Usage errors print one message and return 2 (UsageError from a command too,
// caught by main).
int run_command_line(int argc, char** argv, const Commands& commands);

// `eoslab train` flags (without "eoslab train") → a RunConfig, as the command
// line would build it; UsageError on bad input. Presets use this.
RunConfig parse_train_args(const std::vector<std::string>& args);

// Every `eoslab train` flag with its default and meaning, grouped, as
// markdown tables (`eoslab defaults`, docs/DEFAULTS.md).
std::string train_defaults_markdown();

// `eoslab train --resume DIR`: the configuration DIR/command.json recorded,
// parsed again through the same flags, with out = DIR and resume = true.
RunConfig resume_config(const std::string& dir);

}  // namespace eos::cli
