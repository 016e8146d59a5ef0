#include "sinks.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "../core/files.hpp"
#include "../core/objective.hpp"
#include "../optim/optimizer.hpp"

namespace eos::analysis {

// ---- metrics.csv ---------------------------------------------------------------

void MetricsCsvSink::check(RunStart& s) {
  if (!s.resumed_from) return;
  prefix_ = read_metrics_prefix(path_, s.columns, *s.resumed_from);
  if (s.earlier_rows) *s.earlier_rows = prefix_->table;
}
void MetricsCsvSink::begin(RunStart& s) {
  if (prefix_) {
    cut_metrics_csv(path_, *prefix_);
    csv_ = std::make_unique<CsvWriter>(CsvWriter::append_to(path_));
    prefix_.reset();
  } else {
    csv_ = std::make_unique<CsvWriter>(path_, s.columns);
  }
}
void MetricsCsvSink::step(const StepRecord& r) { csv_->write(r.row); }

// ---- trajectory -------------------------------------------------------------------

TrajectorySink::TrajectorySink(std::string dir, std::size_t every, std::string objective_spec)
    : dir_(std::move(dir)), objective_spec_(std::move(objective_spec)), every_(every) {
  if (every_ == 0) throw std::invalid_argument("TrajectorySink: 'every' must be at least 1");
  if (dir_.empty()) throw std::invalid_argument("TrajectorySink: the directory is empty");
}
TrajectoryManifest TrajectorySink::expected(const RunStart& s) const {
  TrajectoryManifest m;
  m.objective = s.objective.describe();
  m.optimizer = s.optimizer.describe();
  m.objective_spec = objective_spec_;
  m.lr = s.optimizer.current_lr();
  m.seed = s.seed;
  m.batch_size = s.batch_size;
  m.every = every_;
  return m;
}
void TrajectorySink::check(RunStart& s) {
  if (s.resumed_from) previous_ = TrajectoryWriter::check_resumable(dir_, expected(s));
}
void TrajectorySink::begin(RunStart& s) {
  if (s.resumed_from && previous_) writer_.emplace(TrajectoryWriter::continue_from(dir_, std::move(*previous_), *s.resumed_from));
  else writer_.emplace(dir_, expected(s));
  previous_.reset();
}
void TrajectorySink::step(const StepRecord& r) {
  if (r.step % every_ == 0 || (r.last && !r.diverged_here)) writer_->record(r.step, r.lr, r.theta);
}
void TrajectorySink::end(const RunResult& result) { writer_->finish(result.describe()); }

// ---- checkpoints --------------------------------------------------------------------

CheckpointSink::CheckpointSink(std::string path, std::size_t every_steps, double every_seconds)
    : path_(std::move(path)), every_steps_(every_steps), every_seconds_(every_seconds) {
  if (path_.empty()) throw std::invalid_argument("CheckpointSink: the path is empty");
}
void CheckpointSink::begin(RunStart& s) {
  last_step_ = s.resumed_from.value_or(0);
  last_seconds_ = s.seconds;
}
void CheckpointSink::between_steps(const RunSnapshot& s) {
  const bool by_steps = every_steps_ > 0 && s.step - last_step_ >= every_steps_;
  const bool by_time = every_seconds_ > 0 && s.seconds - last_seconds_ >= every_seconds_;
  if (!by_steps && !by_time) return;
  write_state(path_, s.save());
  last_step_ = s.step;
  last_seconds_ = s.seconds;
}
void CheckpointSink::end(const RunResult&) {
  std::filesystem::remove(path_);
  std::filesystem::remove(path_ + ".tmp");  // left by a run killed mid-write
}

// ---- summary.json ---------------------------------------------------------------------

SummarySink::SummarySink(std::string path, nlohmann::json extra) : path_(std::move(path)), extra_(std::move(extra)) {
  if (!extra_.is_object()) throw std::invalid_argument("SummarySink: the extra fields must be a JSON object");
}
void SummarySink::write(nlohmann::json j) {
  for (const auto& [k, v] : extra_.items()) j[k] = v;
  write_file_atomically(path_, j.dump(2) + "\n");
  written_ = std::move(j);
}

}  // namespace eos::analysis
