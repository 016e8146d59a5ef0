#include "metrics.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace eos::analysis {

std::size_t MetricsTable::index(const std::string& name) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return i;
  throw std::invalid_argument(fmt::format("metrics: no column '{}'", name));
}
std::vector<double> MetricsTable::column(const std::string& name) const {
  const std::size_t c = index(name);
  std::vector<double> out;
  for (const auto& r : rows) out.push_back(r[c] ? *r[c] : NAN);
  return out;
}
std::optional<double> MetricsTable::at(std::size_t row, const std::string& column) const {
  return rows.at(row)[index(column)];
}

CsvWriter::CsvWriter(const std::string& path, const std::vector<std::string>& columns) : path_(path) {
  out_.open(path, std::ios::trunc);
  if (!out_) throw std::runtime_error(fmt::format("{}: cannot open for writing ({})", path, std::strerror(errno)));
  for (std::size_t i = 0; i < columns.size(); ++i) out_ << (i ? "," : "") << columns[i];
  out_ << '\n' << std::flush;
}
void CsvWriter::write(const std::vector<std::optional<double>>& row) {
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i) out_ << ',';
    if (row[i]) out_ << fmt::format("{:.17g}", *row[i]);
  }
  out_ << '\n' << std::flush;
  if (!out_) throw std::runtime_error(fmt::format("{}: write failed", path_));
}

MetricsTable read_metrics_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", path));
  MetricsTable t;
  std::string line;
  if (!std::getline(in, line)) throw std::runtime_error(fmt::format("{}: empty file", path));
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) t.columns.push_back(c);
  std::size_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    // A last line without its newline is a row cut off by a crash: skipped, as
    // `eoslab train --resume` would truncate it.
    if (in.eof()) break;
    std::vector<std::optional<double>> row;
    std::size_t start = 0, fields = 0;
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      if (start > line.size())
        throw std::runtime_error(fmt::format("{}:{}: {} fields, the header has {} columns", path, lineno, fields,
                                             t.columns.size()));
      std::size_t end = line.find(',', start);
      if (end == std::string::npos) end = line.size();
      const std::string f = line.substr(start, end - start);
      ++fields;
      if (f.empty()) {
        row.push_back(std::nullopt);
      } else {
        // strtod reads inf/nan spellings and returns subnormals (with ERANGE,
        // which only means "out of range" when the result is ±HUGE_VAL).
        errno = 0;
        char* stop = nullptr;
        const double v = std::strtod(f.c_str(), &stop);
        if (stop != f.c_str() + f.size() || (errno == ERANGE && std::abs(v) == HUGE_VAL))
          throw std::runtime_error(fmt::format("{}:{}: '{}' is not a number", path, lineno, f));
        row.push_back(v);
      }
      start = end + 1;
    }
    if (start <= line.size())
      throw std::runtime_error(fmt::format("{}:{}: more fields than the header's {} columns", path, lineno,
                                           t.columns.size()));
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace eos::analysis
