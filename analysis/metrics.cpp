#include "metrics.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
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
CsvWriter CsvWriter::append_to(const std::string& path) {
  CsvWriter w;
  w.path_ = path;
  w.out_.open(path, std::ios::app);
  if (!w.out_) throw std::runtime_error(fmt::format("{}: cannot open for appending ({})", path, std::strerror(errno)));
  return w;
}

void CsvWriter::write(const std::vector<std::optional<double>>& row) {
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i) out_ << ',';
    if (row[i]) out_ << fmt::format("{:.17g}", *row[i]);
  }
  out_ << '\n' << std::flush;
  if (!out_) throw std::runtime_error(fmt::format("{}: write failed", path_));
}

namespace {

struct CsvRead {
  MetricsTable table;
  std::streamoff end_of_rows = 0;  // the byte after the last row read
};

// Reads the header and up to max_rows complete rows.
CsvRead read_csv_rows(const std::string& path, std::size_t max_rows) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", path));
  CsvRead r;
  MetricsTable& t = r.table;
  std::string line;
  if (!std::getline(in, line) || in.eof()) throw std::runtime_error(fmt::format("{}: no complete header line", path));
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) t.columns.push_back(c);
  r.end_of_rows = in.tellg();
  std::size_t lineno = 1;
  while (t.rows.size() < max_rows && std::getline(in, line)) {
    ++lineno;
    // A last line without its newline is a row cut off by a crash: skipped
    // (`eoslab train --resume` truncates it).
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
    r.end_of_rows = in.tellg();
  }
  return r;
}

}  // namespace

MetricsTable read_metrics_csv(const std::string& path) {
  return read_csv_rows(path, std::numeric_limits<std::size_t>::max()).table;
}

MetricsPrefix read_metrics_prefix(const std::string& path, const std::vector<std::string>& columns, std::size_t rows) {
  CsvRead r = read_csv_rows(path, rows);
  if (r.table.columns != columns) {
    std::string want;
    for (const auto& c : columns) want += (want.empty() ? "" : ",") + c;
    throw std::runtime_error(fmt::format("{}: the header is not the resumed run's columns ({})", path, want));
  }
  if (r.table.rows.size() != rows)
    throw std::runtime_error(fmt::format("{}: {} complete rows, the checkpoint needs the first {}", path,
                                         r.table.rows.size(), rows));
  const std::size_t step = r.table.index("step");
  for (std::size_t i = 0; i < rows; ++i)
    if (r.table.rows[i][step] != double(i))
      throw std::runtime_error(fmt::format("{}: row {} is not step {}", path, i + 1, i));
  return {std::move(r.table), std::uintmax_t(r.end_of_rows)};
}

void cut_metrics_csv(const std::string& path, const MetricsPrefix& prefix) {
  std::error_code ec;
  std::filesystem::resize_file(path, prefix.bytes, ec);
  if (ec)
    throw std::runtime_error(fmt::format("{}: cannot cut after row {} ({})", path, prefix.table.rows.size(), ec.message()));
}

MetricsTable resume_metrics_csv(const std::string& path, const std::vector<std::string>& columns, std::size_t rows) {
  MetricsPrefix prefix = read_metrics_prefix(path, columns, rows);
  cut_metrics_csv(path, prefix);
  return std::move(prefix.table);
}

}  // namespace eos::analysis
