// The Trainer runs an optimizer on an Objective with plugins attached, each on
// its own schedule, and stops on a step count, a loss or accuracy goal, or
// divergence (a non-finite or exploding loss, reported with its step; every
// row before it is kept). Metrics go to a CSV row per step (flushed) and a
// JSON summary at the end; θ can be recorded every k steps.
//
// Full-batch GD (batch_size = 0): f and ∇f at θ_t are computed once per step
// and shared by the update and every plugin; with a plain GradientDescent
// optimizer (no weight decay) θ_{t+1} = θ_t − η∇f(θ_t) is the probe point, so
// RP_t and L_t are completed from step t+1's loss and gradient at no cost.
// When a plugin due at step t needs ∇²f(θ_t) (sharpness, hessian_trace, …),
// f(θ_t) and ∇f(θ_t) come from the sweeps that linearize θ_t for its HVPs:
// no second primal pass at the iterate just evaluated.
// SGD (batch_size > 0): each step uses a minibatch gradient; the full-batch f
// and ∇f are computed only at steps where a plugin runs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/defaults.hpp"
#include "metrics.hpp"
#include "plugin.hpp"

namespace eos::analysis {

// What an observer of a running Trainer is told after each step.
struct StepReport {
  std::size_t step = 0;                           // t of the row just written
  std::size_t max_steps = 0;
  const std::vector<std::string>* columns = nullptr;
  const std::vector<std::optional<double>>* row = nullptr;
  double seconds = 0.0;                           // since run() began
  bool last = false;                              // the run stops after this step
};

struct TrainerOptions {
  std::size_t max_steps = defaults::steps;
  std::optional<double> loss_goal;       // stop once f(θ_t) ≤ goal
  std::optional<double> accuracy_goal;   // stop once accuracy ≥ goal (checked where f is computed)
  double divergence_factor = defaults::divergence_factor;  // f > factor·max(|f(θ₀)|, 1) is divergence; inf: only non-finite
  std::size_t batch_size = defaults::batch_size;  // 0: full batch (GD); else minibatch SGD
  bool with_replacement = false;         // minibatch sampling
  std::uint64_t seed = defaults::seed;   // minibatches and stochastic plugins
  std::string metrics_csv;               // empty: none
  std::string summary_json;              // empty: none
  std::size_t trajectory_every = 0;      // 0: no trajectory
  std::string trajectory_dir;
  std::string objective_spec_json;       // recorded so a replay can rebuild the objective
  std::string plugin_output_dir;         // where plugins may write files (density/…); empty: none
  // Checkpoints, for crash safety: after a step's row, when checkpoint_every
  // steps or checkpoint_seconds of wall time have passed since the last one
  // (0 turns a rule off), the run's whole state is written atomically to
  // checkpoint_path: θ, the optimizer's step counter and buffers, the
  // sampler's position, permutation and generator, the plugins' warm starts,
  // and the trainer's own counters. resume() continues from it bit for bit.
  // A run that ends removes its checkpoint.
  std::string checkpoint_path;
  std::size_t checkpoint_every = 0;
  double checkpoint_seconds = 0.0;
  // Called after each step's row is complete (also the last one), e.g. for a
  // progress display; the library itself prints nothing.
  std::function<void(const StepReport&)> on_step;
};

enum class Outcome { MaxSteps, LossGoal, AccuracyGoal, Diverged };
std::string to_string(Outcome o);

struct RunResult {
  Outcome outcome = Outcome::MaxSteps;
  std::size_t steps = 0;                    // updates taken
  std::optional<std::size_t> diverged_at;   // the step whose loss was non-finite or exploding
  std::string diverged_why;                 // set when a plugin's computation failed numerically
  std::optional<std::size_t> resumed_from;  // the checkpoint's step, for a resumed run
  double final_loss = NAN;                  // f at the last iterate evaluated
  double seconds = 0.0;
  MetricsTable metrics;
  Tensor theta;                             // the last iterate
  std::string describe() const;             // "diverged at step 13", "reached 200 steps", …
};

class Trainer {
 public:
  Trainer(Objective& objective, optim::Optimizer& optimizer, TrainerOptions options);
  Trainer& attach(std::unique_ptr<Plugin> plugin, When when = When::every_step());
  RunResult run(Tensor theta0);
  // Continues a run from options.checkpoint_path, with the same objective,
  // optimizer (settings), plugins and options as the run that wrote it
  // (checked, errors say what differs; max_steps and the goals may change).
  // metrics_csv is cut back to the checkpoint's rows and appended to, the
  // trajectory continues; the result, metrics and θ equal those of an
  // uninterrupted run bit for bit.
  RunResult resume();
  // The columns of the metrics table: step, lr, [batch_loss], then each plugin's.
  std::vector<std::string> columns() const;

 private:
  struct Attached {
    std::unique_ptr<Plugin> plugin;
    When when;
  };
  bool due(const Attached& a, std::size_t step, bool epoch_start) const;
  RunResult run_from(Tensor theta, const StateDict* checkpoint);
  StateDict identity() const;  // what a checkpoint and its resumed run must share
  Objective& objective_;
  optim::Optimizer& optimizer_;
  TrainerOptions options_;
  std::vector<Attached> plugins_;
};

}  // namespace eos::analysis
