// The table of metrics a run produces (one row per step, a column per
// quantity, empty where not computed), written to CSV as rows arrive.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>


namespace eos::analysis {

struct MetricsTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<double>>> rows;
  // The column's values (NaN where empty); throws if there is no such column.
  std::vector<double> column(const std::string& name) const;
  std::optional<double> at(std::size_t row, const std::string& column) const;
  std::size_t index(const std::string& column) const;
};

// Appends rows to a CSV file and flushes each one, so a killed run keeps them.
class CsvWriter {
 public:
  CsvWriter(const std::string& path, const std::vector<std::string>& columns);
  // Appends to a file that already holds the header (a resumed run, after
  // resume_metrics_csv has cut it back to its complete rows).
  static CsvWriter append_to(const std::string& path);
  void write(const std::vector<std::optional<double>>& row);
  const std::string& path() const { return path_; }

 private:
  CsvWriter() = default;
  std::string path_;
  std::ofstream out_;
};

// Reads a CSV written by CsvWriter back into a table. A last line without
// its newline (a row cut off by a crash) is skipped.
MetricsTable read_metrics_csv(const std::string& path);

// For a resumed run: checks that the header is `columns` and that the first
// `rows` rows are steps 0, 1, …, rows − 1 (the file is not changed), and
// returns them with the byte length they take.
struct MetricsPrefix {
  MetricsTable table;
  std::uintmax_t bytes = 0;
};
MetricsPrefix read_metrics_prefix(const std::string& path, const std::vector<std::string>& columns, std::size_t rows);
// Cuts the file after the prefix: rows a killed run wrote past its
// checkpoint, and a partial last line, go.
void cut_metrics_csv(const std::string& path, const MetricsPrefix& prefix);
// Both: the prefix's rows, with the file cut after them.
MetricsTable resume_metrics_csv(const std::string& path, const std::vector<std::string>& columns, std::size_t rows);

}  // namespace eos::analysis
