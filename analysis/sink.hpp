// What a run tells the things that record it. The Trainer's loop is the
// algorithm and knows nothing of files: everything that keeps a run — the
// metrics CSV, the trajectory, checkpoints, the summary, a progress line —
// is a RunSink (sinks.hpp) that the loop notifies, in this order:
//
//   check(start)          every sink, before any sink writes: a resumed run's
//                         files are validated here, so a refused resume
//                         leaves every file as it was
//   begin(start)          open files (fresh, or continued from a checkpoint)
//   step(record)          row t is complete (θ_t, η_t, the values)
//   between_steps(snap)   the loop stands at the start of step t + 1; the
//                         state it would continue from (a checkpoint's) is
//                         snap.save(); snap.stopping: the run stops here on
//                         request and ends with outcome Interrupted
//   end(result, summary)  the run ended (outcome, summary built once)
//   interrupted(what)     an exception left the loop: nothing ended, the
//                         rows so far are kept; it is rethrown afterwards
//
// Sinks are notified in the order they were added; put a checkpoint sink
// last, so that a checkpoint never refers to rows not yet written.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/state_dict.hpp"
#include "../core/tensor.hpp"
#include "metrics.hpp"

namespace eos {
class Objective;
namespace optim {
class Optimizer;
}
}  // namespace eos

namespace eos::analysis {

// Interrupted: stopped on request between two steps (a signal), with a
// checkpoint to continue from; a result, not an error.
enum class Outcome { MaxSteps, LossGoal, AccuracyGoal, Diverged, Interrupted };
std::string to_string(Outcome o);

struct RunResult {
  Outcome outcome = Outcome::MaxSteps;
  std::size_t steps = 0;                    // updates taken
  std::optional<std::size_t> diverged_at;   // the step whose loss was non-finite or exploding
  std::string diverged_why;                 // set when a plugin's computation failed numerically
  std::optional<std::size_t> resumed_from;  // the checkpoint's step, for a resumed run
  double final_loss = NAN;                  // f at the last iterate evaluated
  double seconds = 0.0;
  MetricsTable metrics;                     // every row, the checkpoint's earlier ones included
  Tensor theta;                             // the last iterate
  nlohmann::json summary;                   // what summary.json holds (SummarySink adds its extra fields)
  std::string describe() const;             // "diverged at step 13", "reached 200 steps", …
};

// Told to every sink before the first step.
struct RunStart {
  const std::vector<std::string>& columns;
  const Objective& objective;
  const optim::Optimizer& optimizer;
  std::uint64_t seed = 0;
  std::size_t batch_size = 0;
  std::size_t max_steps = 0;
  std::optional<std::size_t> resumed_from;  // the checkpoint's step; none: a fresh run from step 0
  double seconds = 0.0;                     // the run's clock (a resumed run continues its old one)
  // A resumed run's rows before its checkpoint: the sink that holds them
  // (the metrics CSV) fills this in check().
  std::optional<MetricsTable>* earlier_rows = nullptr;
  // A resumed run's checkpoint, where each named sink finds what it saved
  // (RunSink::save_state) under "sink.<name>." to check its files against.
  const StateDict* checkpoint = nullptr;
};

// One finished row.
struct StepRecord {
  std::size_t step = 0;            // t
  std::size_t max_steps = 0;
  double lr = 0.0;                 // η_t
  const Tensor& theta;             // θ_t
  const std::vector<std::string>& columns;
  const std::vector<std::optional<double>>& row;
  double seconds = 0.0;            // the run's clock
  bool last = false;               // the run stops after this row
  bool diverged_here = false;      // θ_t itself diverged (its row holds the loss alone)
};

// The loop between steps: at the start of `step`, rows 0 … step − 1 recorded.
struct RunSnapshot {
  std::size_t step = 0;
  double seconds = 0.0;
  std::function<StateDict()> save;  // the whole state a resumed run continues from, bit for bit
  bool stopping = false;            // the run stops here on request: a checkpoint sink writes now
};

struct Interruption {
  std::size_t step = 0;            // the step in flight
  double seconds = 0.0;
  std::string what;                // the exception's message
  nlohmann::json summary;          // the run so far: outcome "interrupted", its step and the message
};

class RunSink {
 public:
  virtual ~RunSink() = default;
  // A sink with a name may keep state in checkpoints (under "sink.<name>.").
  virtual std::string name() const { return {}; }
  virtual void save_state(StateDict&) const {}
  virtual void check(RunStart&) {}
  virtual void begin(RunStart&) {}
  virtual void step(const StepRecord&) {}
  virtual void between_steps(const RunSnapshot&) {}
  // What this sink adds to the run's summary (its files), before end().
  virtual void describe(nlohmann::json&) const {}
  virtual void end(const RunResult&) {}
  virtual void interrupted(const Interruption&) {}
};

}  // namespace eos::analysis
