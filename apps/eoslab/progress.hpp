// The progress display of a training run: on a terminal one line redrawn in
// place (step/total, loss, latest λmax, steps/s, time left); otherwise a plain
// line every few seconds, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdio>
#include <optional>
#include <utility>
#include <string>

#include <eoslab.hpp>

namespace eos::cli {

class ProgressLine : public analysis::RunSink {
 public:
  explicit ProgressLine(std::string label, std::FILE* out = stderr);
  void step(const analysis::StepRecord& report) override;

 private:
  std::string label_;
  std::FILE* out_;
  bool terminal_;
  double last_print_ = -1e9;
  std::optional<std::pair<std::size_t, double>> first_;  // (step, seconds) of the first report: setup is excluded from the rate
  std::optional<double> loss_, lambda_max_;
};

}  // namespace eos::cli
