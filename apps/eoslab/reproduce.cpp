// `eoslab reproduce NAME|all`: runs a preset's `eoslab train` commands (or
// reuses finished runs with the same settings), evaluates its claims on the
// measured metrics, draws its figures, and writes report.md + claims.json;
// `all` also writes an index page.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "commands.hpp"
#include "parallel.hpp"
#include "presets.hpp"

namespace eos::cli {
namespace fs = std::filesystem;

// ---- LoadedRun ------------------------------------------------------------

std::vector<std::pair<double, double>> LoadedRun::series(const std::string& column, double from, double to) const {
  std::vector<std::pair<double, double>> out;
  const auto steps = metrics.column("step"), v = metrics.column(column);
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (std::isfinite(v[i]) && steps[i] >= from && steps[i] <= to) out.emplace_back(steps[i], v[i]);
  return out;
}
std::vector<double> LoadedRun::values(const std::string& column, double from, double to) const {
  std::vector<double> out;
  for (const auto& [s, v] : series(column, from, to)) out.push_back(v);
  return out;
}
double LoadedRun::lr() const { return metrics.column("lr").at(0); }
bool LoadedRun::diverged() const { return summary.value("outcome", "") == "diverged"; }
std::size_t LoadedRun::steps() const { return summary.value("steps", std::size_t(0)); }
double LoadedRun::first_loss() const {
  const auto v = values("loss");
  return v.empty() ? NAN : v.front();
}
double LoadedRun::last_loss() const {
  const auto v = values("loss");
  return v.empty() ? NAN : v.back();
}
const nlohmann::json& LoadedRun::regime() const {
  static const nlohmann::json none;
  return summary.contains("regime") ? summary.at("regime") : none;
}
std::optional<double> LoadedRun::first_unstable_step() const {
  const auto& r = regime();
  if (r.is_null() || r.at("first_unstable_step").is_null()) return std::nullopt;
  return r.at("first_unstable_step").get<double>();
}
double LoadedRun::regime_fraction(const std::string& label) const {
  if (regime().is_null()) throw std::runtime_error(fmt::format("{}: the run has no regime plugin", spec.label));
  return regime().at("fractions").at(label).get<double>();
}
std::string LoadedRun::regime_text() const {
  if (regime().is_null()) return "—";
  const auto first = first_unstable_step();
  return fmt::format("{}; stable {:.0f} %, unstable {:.0f} %, diverging {:.0f} % of steps",
                     first ? fmt::format("unstable from step {}", *first) : std::string("never unstable"),
                     100 * regime_fraction("stable"), 100 * regime_fraction("unstable"),
                     100 * regime_fraction("diverging"));
}

namespace {

struct Options {
  fs::path out;
  bool quick = false, quiet = false, force = false, figures = true, dry_run = false;
  std::string data, threads;
};

struct PresetOutcome {
  const Preset* preset = nullptr;
  std::size_t claims = 0, holding = 0, unevaluated = 0;
  std::vector<std::pair<fs::path, std::string>> figures;  // PNG relative to OUT, caption
  double seconds = 0.0;
};

// Settings that do not change a run's numbers are left out of the comparison.
nlohmann::json comparable(nlohmann::json config) {
  config.erase("threads");
  config.erase("checkpoint_every");
  return config;
}

// A run of the same configuration that was killed: it continues from its checkpoint.
bool resumable(const fs::path& dir, const RunConfig& c) {
  if (!fs::exists(dir / "checkpoint.eos") || !fs::exists(dir / "command.json")) return false;
  try {
    std::ifstream in(dir / "command.json");
    const auto j = nlohmann::json::parse(in);
    return j.contains("config") && comparable(j.at("config")) == comparable(c.to_json());
  } catch (const std::exception&) {
    return false;
  }
}

bool reusable(const fs::path& dir, const RunConfig& c) {
  const fs::path summary = dir / "summary.json";
  if (!fs::exists(summary) || !fs::exists(dir / "metrics.csv")) return false;
  try {
    std::ifstream in(summary);
    const auto j = nlohmann::json::parse(in);
    return j.contains("config") && j.value("outcome", "") != "interrupted" &&
           comparable(j.at("config")) == comparable(c.to_json());
  } catch (const std::exception&) {
    return false;
  }
}

LoadedRun load_run(const PresetRun& spec, const fs::path& dir) {
  LoadedRun r;
  r.spec = spec;
  r.dir = dir;
  r.metrics = analysis::read_metrics_csv((dir / "metrics.csv").string());
  std::ifstream in(dir / "summary.json");
  r.summary = nlohmann::json::parse(in);
  return r;
}

std::string md_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '|' ? std::string("\\|") : std::string(1, c);
  return o;
}

PresetOutcome run_preset(const Preset& p, const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  PresetOutcome res;
  res.preset = &p;
  const fs::path pdir = o.out / p.name;
  const auto runs = p.runs(o.quick);
  RunSet set;
  std::vector<std::string> commands;
  if (!o.quiet) {
    fmt::print("== {}: {}\n", p.name, p.title);
    std::fflush(stdout);  // keep the order with the progress lines on stderr
  }
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const PresetRun& run = runs[i];
    const fs::path dir = o.out / "runs" / (run.name + (o.quick ? "-quick" : ""));
    std::vector<std::string> args = run.args;
    if (run.network && !o.data.empty()) args.insert(args.end(), {"--data", o.data});
    args.insert(args.end(), {"--out", dir.string()});
    if (o.threads != "0") args.insert(args.end(), {"--threads", o.threads});
    if (o.quiet) args.push_back("--quiet");
    RunConfig c = parse_train_args(args);
    c.progress_label = fmt::format("[{} {}/{}] {}", p.name, i + 1, runs.size(), run.label);
    commands.push_back(command_line(c.command));
    if (o.dry_run) {
      fmt::print("{}\n", commands.back());
      continue;
    }
    if (!o.force && reusable(dir, c)) {
      if (!o.quiet) {
        fmt::print("{}  reusing {}\n", c.progress_label, dir.string());
        std::fflush(stdout);
      }
    } else {
      c.resume = !o.force && !job().parallel() && resumable(dir, c);
      if (c.resume && !o.quiet) {
        fmt::print("{}  resuming {} from its checkpoint\n", c.progress_label, dir.string());
        std::fflush(stdout);
      }
      TrainOutcome done = run_training(c);
      if (job().writes() && !done.already_finished) {  // the finished run as its sinks left it, not re-read
        set.emplace(run.name, LoadedRun{run, dir, std::move(done.result.metrics), std::move(done.summary)});
        continue;
      }
    }
    if (job().writes()) set.emplace(run.name, load_run(run, dir));  // what an earlier invocation wrote
  }

  // Under mpirun the other ranks only help with the runs; rank 0 reports.
  if (o.dry_run || !job().writes()) return res;
  fs::create_directories(pdir);

  // Claims: each verdict computed from the metrics.
  nlohmann::json claims = nlohmann::json::array();
  std::vector<Verdict> verdicts;
  for (const auto& claim : p.claims) {
    Verdict v;
    bool evaluated = true;
    try {
      v = claim.check(set);
    } catch (const std::exception& e) {
      v = {false, fmt::format("could not be evaluated: {}", e.what())};
      evaluated = false;
    }
    verdicts.push_back(v);
    ++res.claims;
    res.holding += v.holds;
    res.unevaluated += !evaluated;
    claims.push_back({{"claim", claim.text}, {"criterion", claim.criterion}, {"measured", v.measured}, {"holds", v.holds}});
  }

  // Figures.
  std::vector<FigureNote> notes = p.figures(set);
  std::string figure_error;
  if (o.figures) {
    for (const auto& n : notes) {
      try {
        const fs::path png = plot::render(n.figure, pdir / "figures");
        res.figures.emplace_back(fs::relative(png, o.out), n.caption);
      } catch (const std::exception& e) {
        figure_error = e.what();
      }
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // claims.json
  nlohmann::json j;
  j["preset"] = p.name;
  j["title"] = p.title;
  j["paper"] = p.paper;
  j["quick"] = o.quick;
  j["claims"] = claims;
  j["holding"] = res.holding;
  j["total"] = res.claims;
  nlohmann::json jr = nlohmann::json::array();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = set.at(runs[i].name);
    jr.push_back({{"name", runs[i].name}, {"label", runs[i].label}, {"command", commands[i]},
                  {"dir", fs::relative(r.dir, pdir).string()}, {"outcome", r.summary.value("outcome_text", "")},
                  {"steps", r.steps()}, {"wall_seconds", r.summary.value("wall_seconds", 0.0)},
                  {"regime", r.regime()}});
  }
  j["runs"] = jr;
  write_file_atomically((pdir / "claims.json").string(), j.dump(2) + "\n");

  // report.md
  std::ofstream md(pdir / "report.md");
  md << fmt::format("# {}: {}\n\n", p.name, p.title);
  md << fmt::format("Paper: {} (Ahn, Zhang & Sra, \"Understanding the Unstable Convergence of Gradient Descent\", "
                    "ICML 2022).  \n",
                    p.paper);
  md << fmt::format("Reproduced with `eoslab reproduce {}{}`{}.\n\n", p.name, o.quick ? " --quick" : "",
                    o.quick ? " (the short version; without --quick the runs have the paper's lengths)" : "");
  md << "## Setting\n\n" << p.setting << "\n\n";
  md << fmt::format("## Claims: {} of {} hold\n\n", res.holding, res.claims);
  md << "| | claim of the paper | measured | criterion | holds |\n|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < p.claims.size(); ++i)
    md << fmt::format("| {} | {} | {} | {} | **{}** |\n", i + 1, md_escape(p.claims[i].text),
                      md_escape(verdicts[i].measured), md_escape(p.claims[i].criterion), verdicts[i].holds ? "yes" : "no");
  md << "\n## Figures\n\n";
  if (!o.figures) md << "No figures: " << plot::gnuplot_missing().value_or("") << "\n\n";
  if (!figure_error.empty()) md << "A figure failed: " << figure_error << "\n\n";
  for (const auto& [png, caption] : res.figures) {
    const fs::path rel = fs::relative(o.out / png, pdir);
    md << fmt::format("![{}]({})\n\n{} (SVG: `{}`, gnuplot script: `{}`)\n\n", png.stem().string(), rel.string(), caption,
                      fs::path(rel).replace_extension(".svg").string(), fs::path(rel).replace_extension(".gp").string());
  }
  md << "## Runs\n\n| run | outcome | regime (plugin `regime`) | steps | seconds | command |\n"
        "|---|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = set.at(runs[i].name);
    md << fmt::format("| {} | {} | {} | {} | {:.1f} | `{}` |\n", md_escape(runs[i].label),
                      md_escape(r.summary.value("outcome_text", "")), md_escape(r.regime_text()), r.steps(),
                      r.summary.value("wall_seconds", 0.0), md_escape(commands[i]));
  }
  md << "\nEach run's `metrics.csv` (one row per step; columns documented by `eoslab plugins`) and `summary.json` "
        "are in its directory under `../runs/`.\n";
  if (!o.quiet)
    fmt::print("== {}: {} of {} claims hold{} → {}\n", p.name, res.holding, res.claims,
               res.unevaluated ? fmt::format(" ({} could not be evaluated)", res.unevaluated) : "",
               (pdir / "report.md").string());
  return res;
}

void write_index(const fs::path& out, const std::vector<PresetOutcome>& results, bool quick) {
  std::ofstream md(out / "index.md");
  md << "# eoslab: every result of Ahn, Zhang & Sra (2022), reproduced\n\n";
  md << fmt::format("Made by `eoslab reproduce all{}`. Each preset's report puts the paper's claims next to the "
                    "measured figures; verdicts are computed from the runs.\n\n",
                    quick ? " --quick" : "");
  md << "| preset | result | claims holding | report |\n|---|---|---|---|\n";
  for (const auto& r : results)
    md << fmt::format("| {} | {} | {} of {} | [{}/report.md]({}/report.md) |\n", r.preset->name,
                      md_escape(r.preset->title), r.holding, r.claims, r.preset->name, r.preset->name);
  for (const auto& r : results) {
    md << fmt::format("\n## {}: {}\n\n", r.preset->name, r.preset->title);
    for (const auto& [png, caption] : r.figures) md << fmt::format("[![{}]({})]({})  \n{}\n\n", caption, png.string(), png.string(), caption);
  }
  std::ofstream html(out / "index.html");
  html << "<!doctype html><meta charset=\"utf-8\"><title>eoslab reproduce</title>\n"
          "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{width:340px;margin:4px;"
          "border:1px solid #ccc}td,th{padding:4px 10px;text-align:left}</style>\n";
  html << "<h1>eoslab: every result of Ahn, Zhang &amp; Sra (2022), reproduced</h1>\n<table><tr><th>preset</th>"
          "<th>result</th><th>claims holding</th></tr>\n";
  for (const auto& r : results)
    html << fmt::format("<tr><td><a href=\"{}/report.md\">{}</a></td><td>{}</td><td>{} of {}</td></tr>\n",
                        r.preset->name, r.preset->name, r.preset->title, r.holding, r.claims);
  html << "</table>\n";
  for (const auto& r : results) {
    html << fmt::format("<h2>{}: {}</h2>\n", r.preset->name, r.preset->title);
    for (const auto& [png, caption] : r.figures)
      html << fmt::format("<a href=\"{}\"><img src=\"{}\" title=\"{}\"></a>\n", png.string(), png.string(), caption);
  }
}

}  // namespace

int reproduce_command(const ReproduceArgs& a) {
  const auto& all = presets();
  if (a.list || a.name.empty()) {
    if (!a.list) throw UsageError("reproduce: name a preset or 'all' (`eoslab reproduce --list` lists them)");
    for (const auto& p : all) fmt::print("{:<10} {}  ({})\n", p.name, p.title, p.paper);
    return 0;
  }
  std::vector<const Preset*> chosen;
  for (const auto& p : all)
    if (a.name == "all" || a.name == p.name) chosen.push_back(&p);
  if (chosen.empty()) {
    std::string names;
    for (const auto& p : all) names += p.name + ", ";
    throw UsageError(fmt::format("reproduce: no preset '{}' (expected one of {}or all)", a.name, names));
  }
  Options o;
  o.out = a.out;
  o.quick = a.quick;
  o.quiet = a.quiet || !job().writes();
  o.force = a.force;
  o.dry_run = a.dry_run;
  o.threads = std::to_string(parse_count("--threads", a.threads, 0));
  if (!a.data.empty()) {
    data::DataSpec probe;
    parse_data(a.data, probe);
    o.data = a.data;
  }
  std::error_code ec;
  if (!o.dry_run) fs::create_directories(o.out, ec);
  if (ec) throw UsageError(fmt::format("--out {}: cannot create the directory ({})", a.out, ec.message()));
  if (auto missing = plot::gnuplot_missing(); missing && !o.dry_run) {
    fmt::print(stderr, "eoslab reproduce: {}\n", *missing);
    o.figures = false;
  }
  std::vector<PresetOutcome> results;
  for (const Preset* p : chosen) results.push_back(run_preset(*p, o));
  if (a.name == "all" && !o.dry_run && job().writes()) {
    write_index(o.out, results, o.quick);
    std::size_t h = 0, n = 0;
    for (const auto& r : results) h += r.holding, n += r.claims;
    fmt::print("{} of {} claims hold across {} presets → {}\n", h, n, results.size(), (o.out / "index.md").string());
  }
  return 0;
}

}  // namespace eos::cli
