// The Trainer runs an optimizer on an Objective with plugins attached, each on
// its own schedule, and stops on a step count, a loss or accuracy goal, or
// divergence (a non-finite or exploding loss, reported with its step; every
// row before it is kept). It records nothing itself: the sinks added with
// record_to() keep the run (metrics CSV, trajectory, checkpoints, summary,
// progress; sink.hpp, sinks.hpp).
//
// One step t, as the loop reads (trainer.cpp, Trainer::loop):
//   stop rules on f(θ_t)         non-finite or exploding → diverged at t;
//                                loss and accuracy goals; the step budget
//   the update θ_t → θ_{t+1}     full-batch ∇f(θ_t), or a minibatch gradient
//   plugins due at t             they share every quantity of the step
//   the row                      sinks are told; then the loop moves to t + 1
//
// Every per-step quantity is computed lazily, at most once, by StepContext
// (plugin.hpp): f and ∇f at θ_t (from the Hessian's linearization when a
// plugin due at t needs ∇²f there), the probe θ_t − η∇f(θ_t), and θ_{t+1}'s
// f and ∇f. When the optimizer's step is the plain gradient step
// (Optimizer::is_plain_gradient_step) under full batch, θ_{t+1} IS the probe,
// so RP_t and L_t cost nothing.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/defaults.hpp"
#include "plugin.hpp"
#include "sink.hpp"

namespace eos::data {
class MinibatchSampler;  // datasets/transforms.hpp
}

namespace eos::analysis {

struct TrainerOptions {
  std::size_t max_steps = defaults::steps;
  std::optional<double> loss_goal;       // stop once f(θ_t) ≤ goal
  std::optional<double> accuracy_goal;   // stop once accuracy ≥ goal (checked where f is computed)
  double divergence_factor = defaults::divergence_factor;  // f > factor·max(|f(θ₀)|, 1) is divergence; inf: only non-finite
  std::size_t batch_size = defaults::batch_size;  // 0: full batch (GD); else minibatch SGD
  bool with_replacement = false;         // minibatch sampling
  std::uint64_t seed = defaults::seed;   // minibatches and stochastic plugins
  std::string plugin_output_dir;         // where plugins may write files (density/…); empty: none
  // Asked after each step: true stops the run there (outcome Interrupted)
  // with its state offered to the sinks as a stopping snapshot, so that a
  // CheckpointSink writes it. The command line answers from its SIGINT and
  // SIGTERM handlers (under mpirun, agreed over the ranks).
  std::function<bool()> stop_requested;
  // What else a checkpoint must agree on to be resumed, as (name, value):
  // the command line records the fingerprint of its --init-params file and
  // the number of ranks. The objective's data fingerprint is always checked.
  std::vector<std::pair<std::string, std::string>> provenance;
};

// The OpenBLAS kernel each stretch of a run ran its products on, from the
// step the stretch began at ("SkylakeX" from 0, "Haswell" from 340 where the
// run was resumed on a machine without AVX-512; "" where the BLAS is not
// OpenBLAS). The kernel rounds every product its own way, so a run resumed
// on another kernel is not bit for bit the run it would have been (`eoslab
// train --resume` restarts itself on the checkpoint's kernel where it can). A
// checkpoint holds them, summary.json's blas record lists them.
struct KernelStretch {
  std::size_t from_step = 0;
  std::string kernel;
};
// A checkpoint's (none where it was written before eoslab recorded them);
// a malformed record is a StateError.
std::vector<KernelStretch> blas_kernels_of(const StateDict& checkpoint);

class Trainer {
 public:
  Trainer(Objective& objective, optim::Optimizer& optimizer, TrainerOptions options);
  Trainer& attach(std::unique_ptr<Plugin> plugin, When when = When::every_step());
  // Sinks are told of the run in the order they were added (put a
  // CheckpointSink last); the caller keeps them alive during run()/resume().
  Trainer& record_to(RunSink& sink);
  RunResult run(Tensor theta0);
  // Continues the run whose CheckpointSink wrote `checkpoint_path`, with the
  // same objective, optimizer (settings), plugins and options (checked, errors
  // say what differs; max_steps and the goals may change), before any sink
  // touches a file. Its sinks continue their files from the checkpoint's
  // step; on the same BLAS kernel (KernelStretch) the result, metrics and θ
  // equal those of an uninterrupted run bit for bit.
  RunResult resume(const std::string& checkpoint_path);
  // The columns of the metrics table: step, lr, [batch_loss], then each plugin's.
  std::vector<std::string> columns() const;

 private:
  struct Attached {
    std::unique_ptr<Plugin> plugin;
    When when;
  };
  struct Loop;  // what the loop carries from step to step (trainer.cpp)
  bool due(const Attached& a, std::size_t step, bool epoch_start) const;
  bool any_due(std::size_t step, bool epoch_start) const;
  bool hessian_due(std::size_t step) const;
  RunResult loop(Loop& L);
  void start(Loop& L);
  std::optional<Outcome> check_stop(Loop& L);
  std::optional<Outcome> take_step(Loop& L);
  void observe(Loop& L, std::optional<Outcome>& stop);
  void record_row(Loop& L, bool last, bool diverged_here);
  bool advance(Loop& L);
  RunResult finish(Loop& L);
  void interrupt(Loop& L, std::exception_ptr error);
  std::unique_ptr<data::MinibatchSampler> make_sampler() const;
  void restore(Loop& L, const StateDict& checkpoint);
  StateDict save(const Loop& L) const;
  nlohmann::json summary(const Loop& L, const std::string& outcome) const;
  StateDict identity() const;  // what a checkpoint and its resumed run must share
  Objective& objective_;
  optim::Optimizer& optimizer_;
  TrainerOptions options_;
  std::vector<Attached> plugins_;
  std::vector<RunSink*> sinks_;
};

}  // namespace eos::analysis
