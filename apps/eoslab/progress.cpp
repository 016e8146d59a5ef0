#include "progress.hpp"

#include <cmath>
#include <unistd.h>

#include <fmt/format.h>

namespace eos::cli {
namespace {
std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}
}  // namespace

ProgressLine::ProgressLine(std::string label, std::FILE* out)
    : label_(std::move(label)), out_(out), terminal_(::isatty(::fileno(out)) != 0) {}

void ProgressLine::step(const analysis::StepRecord& r) {
  // Remember the latest loss and λmax: plugins may run only every k steps.
  for (std::size_t i = 0; i < r.columns.size(); ++i) {
    const auto& v = r.row[i];
    if (!v) continue;
    if (r.columns[i] == "loss") loss_ = *v;
    else if (r.columns[i] == "lambda_max") lambda_max_ = *v;
  }
  const double interval = terminal_ ? 0.2 : 5.0;
  if (!r.last && r.seconds - last_print_ < interval) return;
  last_print_ = r.seconds;
  if (!first_) first_ = std::pair{r.step, r.seconds};
  std::string line = fmt::format("{}step {}/{}", label_.empty() ? "" : label_ + "  ", r.step, r.max_steps);
  if (loss_) line += fmt::format("  loss {:.5g}", *loss_);
  if (lambda_max_) line += fmt::format("  λmax {:.5g}", *lambda_max_);
  if (r.step > first_->first && r.seconds > first_->second) {
    // steps per second since the first report (loading data and step 0's plugins excluded)
    const double rate = double(r.step - first_->first) / (r.seconds - first_->second);
    line += fmt::format("  {:.3g} steps/s", rate);
    if (!r.last) line += fmt::format("  left ≤ {}", clock_text(double(r.max_steps - std::min(r.step, r.max_steps)) / rate));
  }
  if (r.last) line += fmt::format("  done in {}", clock_text(r.seconds));
  if (terminal_) fmt::print(out_, "\r{}\033[K{}", line, r.last ? "\n" : "");
  else fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

}  // namespace eos::cli
