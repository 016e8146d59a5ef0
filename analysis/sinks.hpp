// The sinks that record a run (the interface: sink.hpp). Each owns the files
// it writes and nothing else; the command line composes the ones it wants.
//
//   MetricsCsvSink   metrics.csv, a row per step, flushed (a resumed run cuts
//                    it back to the checkpoint's rows and appends)
//   TrajectorySink   θ every k steps and at the end, as .npy + manifest.json
//   CheckpointSink   the run's whole state, atomically, every N steps or T
//                    seconds and when the run stops on request; removed
//                    when the run ends
//   SummarySink      summary.json: the summary the loop built once, plus the
//                    caller's extra fields; outcome "interrupted" when an
//                    exception left the loop
//   StepObserver     calls a function with each finished row
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "metrics.hpp"
#include "sink.hpp"
#include "trajectory.hpp"

namespace eos::analysis {

class MetricsCsvSink : public RunSink {
 public:
  explicit MetricsCsvSink(std::string path) : path_(std::move(path)) {}
  void check(RunStart& start) override;
  void begin(RunStart& start) override;
  void step(const StepRecord& r) override;
  void describe(nlohmann::json& summary) const override { summary["metrics_csv"] = path_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::optional<MetricsPrefix> prefix_;  // a resumed run's rows before the checkpoint
  std::unique_ptr<CsvWriter> csv_;
};

class TrajectorySink : public RunSink {
 public:
  // θ_t is recorded at every t % every == 0 and at the last step (a diverged
  // θ is not). objective_spec: the JSON a replay rebuilds the objective from
  // (nn::ObjectiveSpec::to_json(); empty for a custom objective).
  TrajectorySink(std::string dir, std::size_t every, std::string objective_spec = {});
  // A checkpoint records each θ file written so far (name and fingerprint);
  // a resume refuses when one is missing or changed, or the manifest is gone.
  std::string name() const override { return "trajectory"; }
  void save_state(StateDict& into) const override;
  void check(RunStart& start) override;
  void begin(RunStart& start) override;
  void step(const StepRecord& r) override;
  void describe(nlohmann::json& summary) const override { summary["trajectory_dir"] = dir_; }
  void end(const RunResult& result) override;
  const std::string& dir() const { return dir_; }

 private:
  TrajectoryManifest expected(const RunStart& start) const;
  std::string dir_, objective_spec_;
  std::size_t every_;
  std::optional<TrajectoryManifest> previous_;  // a resumed run's manifest, checked
  std::optional<TrajectoryWriter> writer_;
};

class CheckpointSink : public RunSink {
 public:
  // After a step, once `every_steps` steps or `every_seconds` of the run's
  // clock have passed since the last checkpoint (0 turns a rule off).
  CheckpointSink(std::string path, std::size_t every_steps, double every_seconds);
  void begin(RunStart& start) override;
  void between_steps(const RunSnapshot& s) override;
  // The run is complete: no state to resume from (kept when it was interrupted on request).
  void end(const RunResult& result) override;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::size_t every_steps_;
  double every_seconds_;
  std::size_t last_step_ = 0;
  double last_seconds_ = 0.0;
};

class SummarySink : public RunSink {
 public:
  // `extra`: fields added to the loop's summary (the command line's command
  // and configuration).
  explicit SummarySink(std::string path, nlohmann::json extra = nlohmann::json::object());
  void end(const RunResult& result) override { write(result.summary); }
  void interrupted(const Interruption& what) override { write(what.summary); }
  // What summary.json holds once the run ended (or was interrupted).
  const nlohmann::json& summary() const { return written_; }
  const std::string& path() const { return path_; }

 private:
  void write(nlohmann::json j);
  std::string path_;
  nlohmann::json extra_, written_;
};

class StepObserver : public RunSink {
 public:
  explicit StepObserver(std::function<void(const StepRecord&)> f) : f_(std::move(f)) {}
  void step(const StepRecord& r) override { f_(r); }

 private:
  std::function<void(const StepRecord&)> f_;
};

}  // namespace eos::analysis
