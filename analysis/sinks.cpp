#include "sinks.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "../core/files.hpp"
#include "../core/hash.hpp"
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
  m.data_fingerprint = s.objective.data_fingerprint();
  return m;
}
void TrajectorySink::save_state(StateDict& into) const {
  std::string files, hashes;
  if (writer_)
    for (std::size_t i = 0; i < writer_->manifest().files.size(); ++i) {
      files += (i ? "\n" : "") + writer_->manifest().files[i];
      hashes += (i ? "\n" : "") + writer_->manifest().hashes[i];
    }
  into.put("files", files);
  into.put("hashes", hashes);
}
void TrajectorySink::check(RunStart& s) {
  if (!s.resumed_from) return;
  previous_ = TrajectoryWriter::check_resumable(dir_, expected(s));
  if (!s.checkpoint || !s.checkpoint->contains("sink.trajectory.files")) return;
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = std::min(text.find('\n', start), text.size());
      out.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    return out;
  };
  const auto files = lines(s.checkpoint->text("sink.trajectory.files"));
  const auto hashes = lines(s.checkpoint->text("sink.trajectory.hashes"));
  if (files.size() != hashes.size()) throw StateError("the checkpoint's trajectory record is damaged");
  if (!files.empty() && !previous_)
    throw StateError(fmt::format("{}/manifest.json is gone, but the run had written {} θ files there: the trajectory "
                                 "cannot be continued",
                                 dir_, files.size()));
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string path = dir_ + "/" + files[i];
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw StateError(fmt::format("{}: the run wrote this θ file before its checkpoint, and it is gone", path));
    if (file_fingerprint(path) != hashes[i])
      throw StateError(fmt::format("{}: changed since the run wrote it (its fingerprint is not the checkpoint's)", path));
    const auto& listed = previous_->files;
    if (std::find(listed.begin(), listed.end(), files[i]) == listed.end())
      throw StateError(fmt::format("{}/manifest.json no longer lists {}, which the run wrote before its checkpoint",
                                   dir_, files[i]));
  }
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
  if (!by_steps && !by_time && !s.stopping) return;
  write_state(path_, s.save());
  last_step_ = s.step;
  last_seconds_ = s.seconds;
}
void CheckpointSink::end(const RunResult& result) {
  if (result.outcome == Outcome::Interrupted) return;  // stopped on request: the state to continue from
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
