// The table of metrics a run produces (one row per step, a column per
// quantity, empty where not computed), written to CSV as rows arrive.
#pragma once

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "plugin.hpp"

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
  void write(const std::vector<std::optional<double>>& row);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

// Reads a CSV written by CsvWriter back into a table.
MetricsTable read_metrics_csv(const std::string& path);

}  // namespace eos::analysis
