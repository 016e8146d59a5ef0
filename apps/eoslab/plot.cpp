#include "plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

#include <fmt/format.h>

#include "run.hpp"

namespace eos::cli::plot {
namespace fs = std::filesystem;

namespace {
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"};
constexpr std::size_t kColors = sizeof(kPalette) / sizeof(kPalette[0]);

std::string gnuplot_program() {
  const char* env = std::getenv("EOSLAB_GNUPLOT");
  return env && *env ? env : "gnuplot";
}

bool executable_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string p = path;
  std::size_t start = 0;
  while (start <= p.size()) {
    const auto end = std::min(p.find(':', start), p.size());
    const fs::path candidate = fs::path(p.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// A gnuplot string literal (double quotes, escapes).
std::string gp_string(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}
std::string column(const std::string& name) { return fmt::format("column({})", gp_string(name)); }
}  // namespace

std::optional<std::string> gnuplot_missing() {
  const std::string prog = gnuplot_program();
  if (executable_on_path(prog)) return std::nullopt;
  return fmt::format("gnuplot ('{}') is not installed, so no figures were drawn; install Debian's gnuplot-nox "
                     "(sudo apt-get install gnuplot-nox) and run `eoslab plot DIR`. The data is in the CSV files.",
                     prog);
}

fs::path render(const Figure& fig, const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path gp = dir / (fig.name + ".gp");
  std::ofstream s(gp);
  if (!s) throw std::runtime_error(fmt::format("{}: cannot write", gp.string()));
  s << fmt::format("# eoslab figure '{}'. Edit and redraw with: cd {} && gnuplot {}.gp\n", fig.title,
                   shell_quote(dir.string()), fig.name);
  s << "set datafile separator comma\nset datafile missing \"\"\n";
  s << "set grid lc rgb \"#dddddd\"\nset border lc rgb \"#444444\"\n";
  s << fmt::format("set key {} box opaque samplen 2\n", fig.key);
  s << fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n", gp_string(fig.title), gp_string(fig.xlabel),
                   gp_string(fig.ylabel));
  if (fig.logy) s << "set logscale y\nset format y \"10^{%L}\"\n";
  if (fig.yrange) s << fmt::format("set yrange [{:.6g}:{:.6g}]\n", fig.yrange->first, fig.yrange->second);
  s << "set style fill transparent solid 0.25 noborder\n";
  for (const auto& [x, label] : fig.vlines) {
    s << fmt::format("set arrow from {0:.17g}, graph 0 to {0:.17g}, graph 1 nohead dt 2 lc rgb \"#555555\"\n", x);
    if (!label.empty()) s << fmt::format("set label {} at {:.17g}, graph 0.04 offset 0.5, 0 tc rgb \"#555555\"\n", gp_string(label), x);
  }
  // A band skips rows where its columns are empty (a plugin every k steps):
  // filledcurves would break at each one, so its rows go to a datablock first.
  for (std::size_t i = 0; i < fig.series.size(); ++i) {
    const auto& se = fig.series[i];
    if (se.style != Style::Band) continue;
    const std::string y = se.expr.empty() ? column(se.y) : se.expr;
    s << fmt::format("set table $band{} separator comma\n", i);
    s << fmt::format("plot {} using {}:({}-{}):({}+{}) with table if (strlen(strcol({})) > 0 && strlen(strcol({})) > 0)\n",
                     gp_string(fs::relative(se.csv, dir).string()), gp_string(se.x), y, column(se.err), y,
                     column(se.err), gp_string(se.y), gp_string(se.err));
    s << "unset table\n";
  }
  s << "set terminal pngcairo size 960,600 font \"sans,12\" linewidth 1.5\n";
  s << fmt::format("set output {}\n", gp_string(fig.name + ".png"));
  std::vector<std::string> items;
  std::size_t next_color = 0;
  for (std::size_t i = 0; i < fig.series.size(); ++i) {
    const auto& se = fig.series[i];
    const std::size_t ci = se.color >= 0 ? std::size_t(se.color) % kColors : next_color++ % kColors;
    const std::string color = fmt::format("lc rgb \"{}\"", kPalette[ci]);
    const std::string file = gp_string(fs::relative(se.csv, dir).string());
    const std::string x = gp_string(se.x);
    const std::string y = se.expr.empty() ? column(se.y) : se.expr;
    const std::string title = se.title.empty() ? "notitle" : "title " + gp_string(se.title);
    std::string item;
    switch (se.style) {
      case Style::Band: item = fmt::format("$band{} using 1:2:3 with filledcurves {} {}", i, color, title); break;
      case Style::ErrorBars:
        item = fmt::format("{} using {}:({}):({}) with yerrorlines pt 7 ps 0.6 {} {}", file, x, y, column(se.err),
                           color, title);
        break;
      case Style::Points: item = fmt::format("{} using {}:({}) with points pt 7 ps 0.4 {} {}", file, x, y, color, title); break;
      case Style::LinesPoints:
        item = fmt::format("{} using {}:({}) with linespoints pt 7 ps 0.5 {} {}", file, x, y, color, title);
        break;
      case Style::Dashed: item = fmt::format("{} using {}:({}) with lines dt 2 {} {}", file, x, y, color, title); break;
      case Style::Lines: item = fmt::format("{} using {}:({}) with lines {} {}", file, x, y, color, title); break;
    }
    items.push_back(item);
  }
  for (const auto& [value, label] : fig.hlines)
    items.push_back(fmt::format("{:.17g} with lines dt 3 lc rgb \"#000000\" {}", value,
                                label.empty() ? "notitle" : "title " + gp_string(label)));
  s << "plot ";
  for (std::size_t i = 0; i < items.size(); ++i) s << (i ? ", \\\n     " : "") << items[i];
  s << "\n";
  s << "set terminal svg size 960,600 dynamic font \"sans,12\" linewidth 1.5\n";
  s << fmt::format("set output {}\nreplot\nunset output\n", gp_string(fig.name + ".svg"));
  s.close();

  const std::string cmd = fmt::format("cd {} && {} {} 2>&1", shell_quote(dir.string()), shell_quote(gnuplot_program()),
                                      shell_quote(fig.name + ".gp"));
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot start gnuplot");
  std::string log;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) log += buf;
  const int status = ::pclose(p);
  if (status != 0)
    throw std::runtime_error(fmt::format("gnuplot failed on {} (exit status {}):\n{}", gp.string(), status, log));
  return dir / (fig.name + ".png");
}

bool has_values(const analysis::MetricsTable& t, const std::string& name) {
  if (std::find(t.columns.begin(), t.columns.end(), name) == t.columns.end()) return false;
  for (double v : t.column(name))
    if (std::isfinite(v)) return true;
  return false;
}

std::pair<double, double> robust_range(const std::vector<std::vector<double>>& values, std::vector<double> include,
                                       double margin) {
  std::vector<double> all;
  for (const auto& v : values)
    for (double x : v)
      if (std::isfinite(x)) all.push_back(x);
  double lo = INFINITY, hi = -INFINITY;
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    lo = all[std::size_t(0.02 * double(all.size() - 1))];
    hi = all[std::size_t(std::ceil(0.98 * double(all.size() - 1)))];
  }
  for (double x : include) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {-1.0, 1.0};
  const double pad = margin * std::max(hi - lo, 1e-12);
  return {lo - pad, hi + pad};
}

namespace {

// What the figure makers of one run share: its CSV, its table, the title suffix.
struct RunFigures {
  const fs::path& csv;
  const analysis::MetricsTable& t;
  std::string suffix;
  std::vector<Figure> figs;

  Series series(std::string y, std::string title, Style st = Style::Lines, int color = -1) const {
    Series s;
    s.csv = csv;
    s.y = std::move(y);
    s.title = std::move(title);
    s.style = st;
    s.color = color;
    return s;
  }
  Series eta_line() const {
    Series s = series("lr", "2/η", Style::Dashed, 6);
    s.expr = "2/column(\"lr\")";
    return s;
  }
  // Curvatures: from 0, showing the bulk of the values and the line at 2/η.
  std::pair<double, double> from_zero_with_threshold(const std::string& c) const {
    std::vector<double> two_eta;
    for (double lr : t.column("lr")) two_eta.push_back(2.0 / lr);
    const auto r = robust_range({t.column(c)}, two_eta);
    return std::pair{std::min(0.0, r.first), r.second};
  }
  // Sparse columns (a plugin every k steps) are drawn with markers.
  Style style_of(const std::string& c) const {
    std::size_t n = 0;
    for (double v : t.column(c)) n += std::isfinite(v);
    return n * 2 > t.rows.size() ? Style::Lines : Style::LinesPoints;
  }
  bool positive(std::initializer_list<const char*> columns) const {
    bool p = true;
    for (const char* c : columns)
      if (has_values(t, c))
        for (double v : t.column(c)) p &= !(v <= 0);
    return p;
  }
  bool has(const std::string& c) const { return has_values(t, c); }

  void progress();      // loss, accuracy, RP, L(θ; η∇f), λmax
  void tau_and_sgd();   // the τ-profile band, (5.1) with error bars, θ of a toy
  void central_flow();  // GD beside its central flow
  void density();       // the spectral density files of the density plugin
};

void RunFigures::progress() {
  if (has("loss")) {
    Figure f{"loss", "training loss" + suffix, "step", "f(θ_t)"};
    f.logy = positive({"loss"});
    f.series.push_back(series("loss", "full-batch loss", style_of("loss")));
    figs.push_back(f);
  }
  if (has("accuracy")) {
    Figure f{"accuracy", "training accuracy" + suffix, "step", "accuracy"};
    f.series.push_back(series("accuracy", "accuracy", style_of("accuracy")));
    figs.push_back(f);
  }
  if (has("rp")) {
    Figure f{"rp", "relative progress RP(θ_t)" + suffix, "step", "RP"};
    f.series.push_back(series("rp", "RP(θ_t)"));
    if (has("rp_pred_43")) f.series.push_back(series("rp_pred_43", "−1 + (η/2)·L(θ_t; η∇f)  (4.3)", Style::Dashed));
    f.hlines = {{0.0, ""}, {-1.0, ""}};
    f.yrange = robust_range({t.column("rp")}, {-1.2, 0.5});
    figs.push_back(f);
  }
  if (has("L_dir")) {
    Figure f{"directional_smoothness", "directional smoothness L(θ_t; η∇f(θ_t))" + suffix, "step", "L"};
    f.series.push_back(series("L_dir", "L(θ_t; η∇f)"));
    f.series.push_back(eta_line());
    f.yrange = from_zero_with_threshold("L_dir");
    figs.push_back(f);
  }
  if (has("lambda_max")) {
    Figure f{"sharpness", "sharpness λmax(∇²f(θ_t))" + suffix, "step", "λmax"};
    f.series.push_back(series("lambda_max", "λmax", style_of("lambda_max")));
    f.series.push_back(eta_line());
    f.yrange = from_zero_with_threshold("lambda_max");
    figs.push_back(f);
  }
}

void RunFigures::tau_and_sgd() {
  if (has("tau_L_mean")) {
    Figure f{"tau_profile", "L(θ_t; ητ∇f) over τ: mean ± std" + suffix, "step", "L"};
    Series band = series("tau_L_mean", "± std over τ", Style::Band, 0);
    band.err = "tau_L_std";
    f.series.push_back(band);
    f.series.push_back(series("tau_L_mean", "mean over τ", Style::LinesPoints, 0));
    if (has("L_dir")) f.series.push_back(series("L_dir", "L(θ_t; η∇f) (τ = 1)", Style::Points, 1));
    f.series.push_back(eta_line());
    f.yrange = from_zero_with_threshold("tau_L_mean");
    figs.push_back(f);
  }
  if (has("sgd_erp")) {
    Figure f{"sgd_51", "SGD: E[RP] and the right-hand side of (5.1), ± standard error" + suffix, "step", "E[RP]"};
    Series lhs = series("sgd_erp", "E[RP(θ_t)]", Style::ErrorBars, 0);
    lhs.err = "sgd_erp_se";
    Series rhs = series("sgd_rhs51", "−1 + (η/2)·E[‖g‖²/‖∇f‖² · L(θ; ηg)]  (5.1)", Style::ErrorBars, 1);
    rhs.err = "sgd_rhs51_se";
    f.series = {lhs, rhs};
    f.hlines = {{0.0, ""}, {-1.0, ""}};
    f.yrange = robust_range({t.column("sgd_erp"), t.column("sgd_rhs51")}, {-1.2, 0.5});
    figs.push_back(f);
  }
  if (has("theta_1")) {
    Figure f{"theta", "the iterate θ_t" + suffix, "step", "θ"};
    for (std::size_t i = 1; has(fmt::format("theta_{}", i)); ++i)
      f.series.push_back(series(fmt::format("theta_{}", i), fmt::format("θ_{}", i)));
    figs.push_back(f);
  }
}

// The central flow beside the run (central_flow plugin): loss, sharpness
// and the oscillation it predicts against the run's.
void RunFigures::central_flow() {
  if (!has("flow_loss")) return;
  Figure loss{"central_flow_loss", "GD and its central flow: loss" + suffix, "step", "loss"};
  loss.logy = positive({"loss", "flow_loss"});
  if (has("loss")) loss.series.push_back(series("loss", "GD: f(θ_t)", Style::Lines, 0));
  loss.series.push_back(series("flow_predicted_loss", "central flow: predicted f(w) + tr Σ/η", Style::Lines, 1));
  loss.series.push_back(series("flow_loss", "central flow: f(w(t))", Style::Dashed, 2));
  figs.push_back(loss);
  Figure sh{"central_flow_sharpness", "GD and its central flow: sharpness" + suffix, "step", "λmax"};
  if (has("lambda_max")) sh.series.push_back(series("lambda_max", "GD: λmax(θ_t)", style_of("lambda_max"), 0));
  sh.series.push_back(series("flow_lambda_max", "central flow: λmax(w(t))", Style::Lines, 1));
  sh.series.push_back(eta_line());
  sh.yrange = from_zero_with_threshold("flow_lambda_max");
  sh.key = "bottom right";
  figs.push_back(sh);
  Figure osc{"central_flow_oscillation", "GD's oscillation around its central flow" + suffix, "step", "distance"};
  osc.series.push_back(series("flow_gd_displacement", "GD: ‖Uᵀ(θ_t − w(t))‖, U the top eigenvectors", Style::Points, 0));
  osc.series.push_back(series("flow_oscillation", "central flow: predicted √tr Σ", Style::Lines, 1));
  osc.series.push_back(series("flow_distance", "‖θ_t − w(t)‖", Style::Dashed, 2));
  osc.key = "top right";  // above the curves: the range leaves room for it
  osc.yrange = std::pair{0.0, 1.35 * robust_range({t.column("flow_distance"), t.column("flow_gd_displacement")}, {0.0}).second};
  figs.push_back(osc);
}

// The spectral density (density plugin): up to six evaluated steps, evenly
// spread, overlaid on a log scale.
void RunFigures::density() {
  const fs::path dir = csv.parent_path() / "density";
  if (!fs::is_directory(dir)) return;
  std::vector<std::pair<std::size_t, fs::path>> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    std::size_t step = 0;
    if (std::sscanf(name.c_str(), "step_%zu.csv", &step) == 1 && name.find("_nodes") == std::string::npos)
      files.emplace_back(step, e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return;
  Figure f{"density", "Hessian spectral density (stochastic Lanczos quadrature)" + suffix, "eigenvalue λ", "density"};
  f.logy = true;
  f.key = "top right";
  double peak = 0.0;
  const std::size_t shown = std::min<std::size_t>(files.size(), 6);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& [step, path] = files[shown == 1 ? 0 : i * (files.size() - 1) / (shown - 1)];
    for (double v : analysis::read_metrics_csv(path.string()).column("density")) peak = std::max(peak, v);
    Series se = series("density", fmt::format("step {}", step));
    se.csv = path;
    se.x = "lambda";
    f.series.push_back(se);
  }
  if (peak > 0) f.yrange = std::pair{peak * 1e-7, peak * 3};
  figs.push_back(f);
}

}  // namespace

std::vector<Figure> run_figures(const fs::path& csv, const analysis::MetricsTable& t, const std::string& label) {
  RunFigures r{csv, t, label.empty() ? "" : " — " + label, {}};
  r.progress();
  r.tau_and_sgd();
  r.central_flow();
  r.density();
  return std::move(r.figs);
}

}  // namespace eos::cli::plot
