// One training run of the command line, as data: what to optimize, with which
// optimizer, for how long, which plugins, where the outputs go. `eoslab train`
// fills a RunConfig from its flags (flags.cpp); `eoslab reproduce` fills one
// from a preset's flag list through the very same parser, so every run of a
// preset is an `eoslab train` command a user can copy (command.txt).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <eoslab.hpp>

namespace eos::cli {

// Bad input from the user (flag, value, file): exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What to optimize: a model over a dataset, or one of the paper's toys.
struct ObjectiveRecipe {
  std::string toy;                  // quadratic | tanh_quadratic | linear_neuron | tanh_neuron; empty: the model
  std::vector<double> toy_theta0;   // θ₀ of a toy
  nn::ObjectiveSpec model;
  std::string init_params;          // θ₀ from a .npy (flat PyTorch layout); empty: the spec's init

  // Recorded in the trajectory manifest; from_manifest rebuilds the objective.
  std::string manifest_json() const;
  static ObjectiveRecipe from_manifest(const std::string& json);
};

struct BuiltRun {
  std::unique_ptr<Objective> objective;
  Tensor theta0;
};
// Errors in data files, sizes or θ₀ are UsageErrors naming the flag. With
// `parallel` under mpirun, a model objective is sharded over the ranks.
BuiltRun build(const ObjectiveRecipe& recipe, bool parallel = false);

double parse_step_size(const std::string& flag, const std::string& text);     // "0.1", "2/15"; finite, > 0

// Defaults from core/defaults.hpp, as every flag's.
struct OptimizerConfig {
  std::string name = defaults::optimizer;  // gd | momentum | nesterov | rmsprop | adam | adamw
  std::string lr_text = defaults::lr;      // as given: "0.1" or "2/15"
  double lr = parse_step_size("--lr", defaults::lr);
  double momentum = defaults::momentum;    // momentum, nesterov
  double beta1 = defaults::beta1, beta2 = defaults::beta2, eps = defaults::eps, alpha = defaults::alpha;
  std::optional<double> decay;             // the optimizer's own weight decay (adamw: defaults::adamw_decay)
  std::string schedule = defaults::schedule;
};
std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerConfig& c, std::size_t total_steps);

// "--plugin sharpness:k=2@10": the registry's spec and when it runs.
struct PluginRequest {
  std::string text;                 // as given
  std::string spec;
  analysis::When when;
};

// When a checkpoint is written: after a step, once `steps` steps or
// `seconds` of wall time have passed since the last (0: that rule off).
struct CheckpointRule {
  std::size_t steps = 0;
  double seconds = 0.0;
};
// "N" steps, "Ts" seconds (T > 0, e.g. 1s, 0.5s) or "off".
CheckpointRule parse_checkpoint_every(const std::string& flag, const std::string& text);

struct RunConfig {
  ObjectiveRecipe objective;
  OptimizerConfig optimizer;
  std::size_t batch_size = defaults::batch_size;  // 0: full batch
  std::size_t steps = defaults::steps;
  std::optional<std::size_t> epochs;
  std::optional<double> loss_goal, accuracy_goal;
  double divergence_factor = defaults::divergence_factor;
  std::vector<PluginRequest> plugins;
  std::size_t save_every = defaults::save_every;
  std::string out = defaults::out;
  std::size_t threads = defaults::threads;  // 0: the machine's cores over the ranks (threads_per_rank)
  // Checkpoints into OUT/checkpoint.eos (--checkpoint-every): after a step,
  // once this many steps or seconds have passed since the last (0: that rule off).
  std::string checkpoint_text = defaults::checkpoint_every;
  CheckpointRule checkpoint = parse_checkpoint_every("--checkpoint-every", defaults::checkpoint_every);
  bool resume = false;              // continue the run in `out` from its checkpoint
  bool force = false;               // replace the run in `out` (only the files eoslab wrote there)
  bool quiet = false;
  bool describe = false;            // print the network's layers and θ layout, train nothing
  std::string progress_label;       // shown before the progress line
  std::vector<std::string> command; // the command line, for command.txt

  nlohmann::json to_json() const;   // the settings, as written to summary.json
};

// ---- value parsers shared by every subcommand: each error names the flag --
double parse_number(const std::string& flag, const std::string& text);
std::size_t parse_count(const std::string& flag, const std::string& text, std::size_t min);
std::vector<std::size_t> parse_widths(const std::string& flag, const std::string& text);  // "200,200" or "none"
std::vector<double> parse_numbers(const std::string& flag, const std::string& text);      // "13,0.01"
PluginRequest parse_plugin(const std::string& flag, const std::string& text);  // creates it once to validate
void parse_data(const std::string& text, data::DataSpec& into);                  // --data SOURCE[:ARGS]


struct TrainOutcome {
  analysis::RunResult result;
  std::string out_dir;
  std::optional<std::size_t> resumed_from;  // the checkpoint's step, when resumed
  bool already_finished = false;            // --resume of a run that had ended: nothing was run
  std::string finished_text;                // then: its summary's outcome
  nlohmann::json summary;                   // what summary.json holds (rank 0)
  int signal = 0;                           // the signal that stopped it (outcome interrupted), or 0
};
// Builds everything (UsageError on bad input), runs, writes metrics.csv,
// summary.json, command.txt, command.json (the argv, for --resume),
// checkpoint.eos while running, and trajectory/ into config.out. With
// config.resume, continues from OUT/checkpoint.eos; without a checkpoint
// (killed before its first) it starts over; a run that had ended is left alone.
TrainOutcome run_training(const RunConfig& config);

// For main, before anything else: the BLAS kernel whose checkpoint
// `eoslab train --resume DIR` (or --resume=DIR) continues, from
// DIR/checkpoint.eos; none for any other command line, or where there is no
// readable checkpoint (the command's own checks then say what is wrong).
std::optional<std::string> resumed_run_blas_kernel(int argc, char** argv);

// Sizes first (issue 19): the memory the model, the data, the optimizer
// ("gd", "adam", …) and the plugins will need, estimated from the recipe and
// the data's headers alone, before anything is built; more than the machine
// has is a UsageError naming the estimate and the flags that drive it.
void check_memory(const ObjectiveRecipe& recipe, const std::string& optimizer,
                  const std::vector<std::unique_ptr<analysis::Plugin>>& plugins);


std::string shell_quote(const std::string& s);
std::string command_line(const std::vector<std::string>& argv);

}  // namespace eos::cli
