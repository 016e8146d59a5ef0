// Figures in the paper's style, drawn by gnuplot from the metrics CSV files.
// A Figure is data (series of CSV columns, reference lines); render() writes
// NAME.gp beside NAME.png and NAME.svg, so a user can restyle and rerun it
// (`gnuplot NAME.gp` in that directory).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <eoslab.hpp>

namespace eos::cli::plot {

enum class Style { Lines, Dashed, Points, LinesPoints, ErrorBars, Band };

struct Series {
  std::filesystem::path csv;  // the metrics file
  std::string y;              // its column
  std::string title;
  Style style = Style::Lines;
  std::string err;            // ErrorBars: the ± column; Band: the half-width column around y
  std::string x = "step";
  std::string expr;           // instead of y: a gnuplot expression such as 2/column("lr")
  int color = -1;             // index into the palette; -1: next one
};

struct Figure {
  Figure() = default;
  Figure(std::string name_, std::string title_, std::string xlabel_, std::string ylabel_)
      : name(std::move(name_)), title(std::move(title_)), xlabel(std::move(xlabel_)), ylabel(std::move(ylabel_)) {}
  std::string name;           // file stem
  std::string title, xlabel = "step", ylabel;
  bool logy = false;
  std::vector<Series> series;
  std::vector<std::pair<double, std::string>> hlines;  // constant reference lines (value, label)
  std::vector<std::pair<double, std::string>> vlines;  // marked x positions, e.g. a dated event (x, label)
  std::optional<std::pair<double, double>> yrange;
  std::string key = "top right";
};

// Empty when gnuplot can be run; else a message that says how to get it.
// EOSLAB_GNUPLOT overrides the program (tests use it to simulate its absence).
std::optional<std::string> gnuplot_missing();

// Writes dir/NAME.gp and runs it: dir/NAME.png and dir/NAME.svg. Returns the PNG's path.
std::filesystem::path render(const Figure& figure, const std::filesystem::path& dir);

// The figures a run's metrics call for: loss, RP (lines at 0 and −1),
// L(θ_t; η∇f) and sharpness (line at 2/η), τ-profile band, (5.1) with error
// bars, accuracy, θ of a toy, the central flow beside the run (loss,
// sharpness, oscillation); only those whose columns hold values.
std::vector<Figure> run_figures(const std::filesystem::path& metrics_csv, const analysis::MetricsTable& table,
                                const std::string& label);

// A y range that shows the bulk of the values (the 2nd–98th percentile,
// widened by `margin`) and always includes `include`.
std::pair<double, double> robust_range(const std::vector<std::vector<double>>& values, std::vector<double> include,
                                       double margin = 0.1);

// True when the column exists and holds at least one finite value.
bool has_values(const analysis::MetricsTable& table, const std::string& column);

}  // namespace eos::cli::plot
