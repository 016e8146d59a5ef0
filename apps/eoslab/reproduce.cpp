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
#include "signals.hpp"

namespace eos::cli {
namespace fs = std::filesystem;

namespace {

struct Options {
  fs::path out;
  bool quick = false, quiet = false, force = false, figures = true, dry_run = false;
  std::string data, threads;
};

// A run stopped by SIGINT or SIGTERM: reproduce stops too (exit 128 + signal).
struct RunInterrupted {
  int signal = 0;
  std::string dir;
};

struct PresetOutcome {
  const Preset* preset = nullptr;
  std::size_t claims = 0, holding = 0, unevaluated = 0;
  std::vector<std::pair<fs::path, std::string>> figures;  // PNG relative to OUT, caption
  double seconds = 0.0;
};

// Settings that change a run's numbers not at all (checkpoint_every) or only
// in the order of summation (threads) are left out of the comparison.
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

// One run of a preset: reused when a finished run of the same configuration
// is in its folder, resumed from its checkpoint when a killed one is, else
// trained. Returns the run (none on --dry-run and on ranks other than 0).
std::optional<LoadedRun> run_or_reuse(const Preset& p, std::size_t i, const Options& o, std::string& command) {
  const PresetRun& run = p.runs[i];
  const fs::path dir = o.out / "runs" / (run.name + (o.quick ? "-quick" : ""));
  std::vector<std::string> args = run.args;
  if (run.network && !o.data.empty()) args.insert(args.end(), {"--data", o.data});
  args.insert(args.end(), {"--out", dir.string()});
  if (o.threads != "0") args.insert(args.end(), {"--threads", o.threads});
  if (o.quiet) args.push_back("--quiet");
  RunConfig c = parse_train_args(args);
  c.progress_label = fmt::format("[{} {}/{}] {}", p.name, i + 1, p.runs.size(), run.label);
  command = command_line(c.command);
  auto say = [&](const std::string& what) {
    if (o.quiet) return;
    fmt::print("{}  {} {}\n", c.progress_label, what, dir.string());
    std::fflush(stdout);  // keep the order with the progress lines on stderr
  };
  if (o.dry_run) {
    fmt::print("{}\n", command);
    return std::nullopt;
  }
  if (!o.force && reusable(dir, c)) {
    say("reusing");
  } else {
    c.resume = !o.force && resumable(dir, c);
    c.force = !c.resume;  // a run of another configuration in a preset's own folder is replaced
    if (c.resume) say("resuming from its checkpoint:");
    TrainOutcome done = run_training(c);
    if (done.result.outcome == analysis::Outcome::Interrupted) throw RunInterrupted{done.signal, dir.string()};
    if (job().writes() && !done.already_finished)  // the finished run as its sinks left it, not re-read
      return LoadedRun{run, dir, std::move(done.result.metrics), std::move(done.summary)};
  }
  if (!job().writes()) return std::nullopt;
  return load_run(run, dir);  // what an earlier invocation wrote
}

// Each claim's verdict, computed from the runs; one that cannot be
// evaluated (a window with no values, no onset) does not hold and says why.
std::vector<Verdict> evaluate_claims(const Preset& p, const RunSet& set, PresetOutcome& res) {
  std::vector<Verdict> verdicts;
  for (const auto& claim : p.claims) {
    Verdict v;
    try {
      v = claim.evaluate(set);
    } catch (const std::exception& e) {
      v = {false, fmt::format("could not be evaluated: {}", e.what())};
      ++res.unevaluated;
    }
    verdicts.push_back(v);
    ++res.claims;
    res.holding += v.holds;
  }
  return verdicts;
}

// The figures, rendered into DIR/figures; the last failure's message, if any.
std::string draw_figures(const Preset& p, const RunSet& set, const Options& o, const fs::path& pdir,
                         PresetOutcome& res) {
  std::string error;
  if (!o.figures) return error;
  for (const auto& n : p.figures(set)) {
    try {
      const fs::path png = plot::render(n.figure, pdir / "figures");
      res.figures.emplace_back(fs::relative(png, o.out), n.caption);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  return error;
}

void write_claims_json(const Preset& p, const RunSet& set, const std::vector<Verdict>& verdicts,
                       const std::vector<std::string>& commands, const Options& o, const fs::path& pdir,
                       const PresetOutcome& res) {
  nlohmann::json claims = nlohmann::json::array();
  for (std::size_t i = 0; i < p.claims.size(); ++i)
    claims.push_back({{"claim", p.claims[i].text}, {"criterion", p.claims[i].criterion()},
                      {"measured", verdicts[i].measured}, {"holds", verdicts[i].holds}});
  nlohmann::json runs = nlohmann::json::array();
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    const auto& r = set.runs.at(i);
    runs.push_back({{"name", p.runs[i].name}, {"label", p.runs[i].label}, {"command", commands[i]},
                    {"dir", fs::relative(r.dir, pdir).string()}, {"outcome", r.outcome()}, {"steps", r.steps()},
                    {"wall_seconds", r.summary.value("wall_seconds", 0.0)}, {"regime", r.regime()}});
  }
  const nlohmann::json j = {{"preset", p.name},     {"title", p.title},
                            {"source", {{"work", p.source.work}, {"where", p.source.where}}},
                            {"quick", o.quick},      {"claims", claims},
                            {"holding", res.holding}, {"total", res.claims},
                            {"runs", runs}};
  write_file_atomically((pdir / "claims.json").string(), j.dump(2) + "\n");
}

void write_report(const Preset& p, const RunSet& set, const std::vector<Verdict>& verdicts,
                  const std::vector<std::string>& commands, const std::string& figure_error, const Options& o,
                  const fs::path& pdir, const PresetOutcome& res) {
  std::ofstream md(pdir / "report.md");
  md << fmt::format("# {}: {}\n\n", p.name, p.title);
  md << fmt::format("Source: {}.  \n", p.source.text());
  md << fmt::format("Reproduced with `eoslab reproduce {}{}`{}.\n\n", p.name, o.quick ? " --quick" : "",
                    o.quick ? " (the short version; without --quick the runs have the paper's lengths)" : "");
  md << "## Setting\n\n" << p.setting << "\n\n";
  md << fmt::format("## Claims: {} of {} hold\n\n", res.holding, res.claims);
  md << "| | claim | measured | criterion | holds |\n|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < p.claims.size(); ++i)
    md << fmt::format("| {} | {} | {} | {} | **{}** |\n", i + 1, md_escape(p.claims[i].text),
                      md_escape(verdicts[i].measured), md_escape(p.claims[i].criterion()), verdicts[i].holds ? "yes" : "no");
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
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    const auto& r = set.runs.at(i);
    md << fmt::format("| {} | {} | {} | {} | {:.1f} | `{}` |\n", md_escape(p.runs[i].label), md_escape(r.outcome()),
                      md_escape(r.regime_text()), r.steps(), r.summary.value("wall_seconds", 0.0),
                      md_escape(commands[i]));
  }
  md << "\nEach run's `metrics.csv` (one row per step; columns documented by `eoslab plugins`) and `summary.json` "
        "are in its directory under `../runs/`.\n";
}

PresetOutcome run_preset(const Preset& p, const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  PresetOutcome res;
  res.preset = &p;
  if (!o.quiet) {
    fmt::print("== {}: {}\n", p.name, p.title);
    std::fflush(stdout);
  }
  RunSet set;
  std::vector<std::string> commands(p.runs.size());
  for (std::size_t i = 0; i < p.runs.size(); ++i)
    if (auto run = run_or_reuse(p, i, o, commands[i])) set.runs.push_back(std::move(*run));
  // Under mpirun the other ranks only help with the runs; rank 0 reports.
  if (o.dry_run || !job().writes()) return res;

  const fs::path pdir = o.out / p.name;
  fs::create_directories(pdir);
  const std::vector<Verdict> verdicts = evaluate_claims(p, set, res);
  const std::string figure_error = draw_figures(p, set, o, pdir, res);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_claims_json(p, set, verdicts, commands, o, pdir, res);
  write_report(p, set, verdicts, commands, figure_error, o, pdir, res);
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
    for (const auto& e : all) {
      const Preset p = e.make(false);
      fmt::print("{:<12} {}  ({})\n", p.name, p.title, p.source.text());
    }
    return 0;
  }
  std::vector<Preset> chosen;  // built for the chosen length; the outcomes below point into it
  for (const auto& e : all)
    if (a.name == "all" || a.name == e.name) chosen.push_back(e.make(a.quick));
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
  try {
    for (const Preset& p : chosen) results.push_back(run_preset(p, o));
  } catch (const RunInterrupted& stop) {
    if (job().writes())
      fmt::print(stderr, "eoslab reproduce: stopped by {}; the run {} has its checkpoint, and the same `eoslab "
                         "reproduce` command continues it\n",
                 signal_name(stop.signal), stop.dir);
    return 128 + stop.signal;
  }
  if (a.name == "all" && !o.dry_run && job().writes()) {
    write_index(o.out, results, o.quick);
    std::size_t h = 0, n = 0;
    for (const auto& r : results) h += r.holding, n += r.claims;
    fmt::print("{} of {} claims hold across {} presets → {}\n", h, n, results.size(), (o.out / "index.md").string());
  }
  return 0;
}

}  // namespace eos::cli
