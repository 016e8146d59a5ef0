// The subcommands train, analyze, plot and plugins (reproduce: reproduce.cpp).
#include "commands.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "folder.hpp"
#include "parallel.hpp"
#include "plot.hpp"
#include "signals.hpp"

namespace eos::cli {
namespace fs = std::filesystem;

namespace {
// `eoslab train … --describe`: the network these flags build on this data,
// layer by layer with output shapes, then θ's layout; nothing is written.
int describe_command(const RunConfig& c) {
  if (!c.objective.toy.empty()) throw UsageError("--describe: a toy has no layers (θ = (θ₀, θ₁))");
  nn::BuiltObjective b;
  try {
    b = nn::build_objective(c.objective.model);
  } catch (const nn::ModelSyntaxError& e) {
    throw UsageError(fmt::format("--describe: {}", e.what()));
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--describe: {}", e.what()));
  }
  if (!job().writes()) return 0;
  const auto& spec = c.objective.model;
  const std::string text = nn::model_text(spec, b.net->output_shape(b.input_shape).at(0));
  fmt::print("{}{}\n{}", spec.arch.empty() ? "" : spec.arch + ": ", text.empty() ? "an MLP (--widths, --activation)" : text,
             nn::describe_model(*b.net, b.input_shape));
  fmt::print("objective: {}{}\n", b.objective->describe(),
             b.net->couples_batch() ? " (BatchNorm: every chunk is normalized with the statistics of the whole batch)" : "");
  return 0;
}

// A warning for each plugin whose summary counts eigen-solves stopped by
// max_iter before their tolerance (analysis::UnconvergedSolves):
// its rows hold the Ritz values reached, which a glance at the CSV would take
// for values good to tol.
void warn_unconverged(const nlohmann::json& summary) {
  for (const auto& [name, part] : summary.items()) {
    if (!part.is_object() || part.value("unconverged_solves", std::uint64_t{0}) == 0) continue;
    const nlohmann::json& r = part.at("largest_unconverged_residual");
    std::fflush(stdout);  // after the lines already printed
    fmt::print(stderr,
               "eoslab: warning: {}: {} of {} eigen-solves ran out of HVPs (max_iter) before their tolerance, the "
               "first at step {}; their rows hold the Ritz values reached, not values good to tol (relative "
               "residual up to {}): raise max_iter\n",
               name, part.at("unconverged_solves").get<std::uint64_t>(), part.at("solves").get<std::uint64_t>(),
               part.at("first_unconverged_step").get<std::uint64_t>(),
               r.is_number() ? fmt::format("{:.3g}", r.get<double>()) : r.get<std::string>());
  }
}
}  // namespace

int train_command(const RunConfig& c) {
  if (c.describe) return describe_command(c);
  const TrainOutcome r = run_training(c);
  if (!job().writes()) return 0;  // rank 0 reports
  if (r.already_finished) {
    fmt::print(stderr, "{}: the run had already ended ({}); nothing to resume\n", r.out_dir, r.finished_text);
    return 0;
  }
  if (r.result.outcome == analysis::Outcome::Interrupted) {
    fmt::print(stderr, "{}: stopped by {} at step {}; its checkpoint is written: continue with `{}`\n", r.out_dir,
               signal_name(r.signal), r.result.steps, command_line({"eoslab", "train", "--resume", r.out_dir}));
    return 128 + r.signal;
  }
  if (!c.quiet) {
    fmt::print("{}: {}{} (final loss {:.6g}, {:.1f} s)\n", r.out_dir, r.result.describe(),
               r.resumed_from ? fmt::format(", resumed from step {}", *r.resumed_from) : "", r.result.final_loss,
               r.result.seconds);
    fmt::print("  {}/metrics.csv, {}/summary.json{}\n", r.out_dir, r.out_dir,
               c.save_every ? fmt::format(", {}/trajectory/", r.out_dir) : "");
  }
  warn_unconverged(r.result.summary);
  return 0;
}

namespace {

// Whether two paths name the same folder (one may not exist yet).
bool same_folder(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

// The objective rebuilt from a manifest must be the one the run used: the
// same data fingerprint, when the manifest records one (eoslab's do). It is a
// sum over the rows as loaded, so a run trained under mpirun and analysed by
// one process agree.
void check_rebuilt(const analysis::Trajectory& traj, const Objective& objective, const fs::path& manifest) {
  const auto& m = traj.manifest;
  if (!m.data_fingerprint.empty() && m.data_fingerprint != objective.data_fingerprint())
    throw UsageError(fmt::format("{}: the run's data had fingerprint {}, the objective rebuilt from its objective_spec "
                                 "('{}') has {}: the data files changed since, or the spec was edited",
                                 manifest.string(), m.data_fingerprint, objective.describe(),
                                 objective.data_fingerprint()));
}

// Every θ file, before anything is written: there, a regular file, the
// recorded size and fingerprint, finite, and the objective's size. Returns
// how many θ were float32 (widened to float64).
std::size_t check_theta_files(const analysis::Trajectory& traj, std::size_t dim) {
  std::size_t float32 = 0;
  for (std::size_t i = 0; i < traj.manifest.files.size(); ++i) {
    try {
      NpyInfo info;
      const Tensor theta = traj.theta(i, &info);
      if (theta.size() != dim)
        throw std::runtime_error(fmt::format("{}: θ of step {} has {} entries, the objective has {}{}", traj.where(i),
                                             traj.manifest.steps[i], theta.size(), dim,
                                             traj.sources.empty() ? "" : " (check the Data and Model flags: `eoslab "
                                                                         "train … --describe` prints θ's layout)"));
      float32 += info.dtype == "float32";
    } catch (const std::exception& e) {
      throw UsageError(e.what());
    }
  }
  return float32;
}

// What `eoslab analyze` reads and where it writes: a trajectory (recorded by
// `eoslab train`, or θ files from anywhere), the objective to rebuild, and
// the identity an earlier analysis in --out is recognised by.
struct AnalysisInput {
  analysis::Trajectory traj;
  ObjectiveRecipe recipe;
  fs::path out;
  std::string identity;     // `eoslab analyze DIR` or `eoslab analyze --theta …`
  std::string spec_source;  // where the objective came from, for messages
};

AnalysisInput recorded_input(const AnalyzeArgs& a) {
  fs::path dir = a.dir;
  if (fs::exists(dir / "trajectory" / "manifest.json")) dir /= "trajectory";
  else if (!fs::exists(dir / "manifest.json"))
    throw UsageError(fmt::format("{}: no recorded trajectory here (neither {}/manifest.json nor {}/trajectory/manifest.json); "
                                 "record one with `eoslab train --save-every K`, or analyse θ files with --theta",
                                 a.dir, a.dir, a.dir));
  AnalysisInput in;
  try {
    in.traj = analysis::read_trajectory(dir.string());
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  in.out = a.out.empty() ? fs::path(a.dir) / "analysis" : fs::path(a.out);
  if (same_folder(in.out, a.dir) || same_folder(in.out, dir))
    throw UsageError(fmt::format("--out {}: that is the run's own folder, whose metrics.csv and summary.json are the "
                                 "run's; write the analysis elsewhere (the default is {}/analysis)",
                                 in.out.string(), a.dir));
  in.spec_source = (dir / "manifest.json").string() + ": its objective_spec";
  in.recipe = ObjectiveRecipe::from_manifest(in.traj.manifest.objective_spec);
  in.identity = command_line({"eoslab", "analyze", a.dir});
  return in;
}

AnalysisInput theta_files_input(const AnalyzeArgs& a) {
  AnalysisInput in;
  std::vector<analysis::ThetaSource> sources;
  try {
    for (const auto& item : a.theta) {
      auto more = analysis::expand_theta_files(item);
      sources.insert(sources.end(), more.begin(), more.end());
    }
    std::optional<std::vector<std::size_t>> steps = a.step_list;
    if (a.steps_every) {
      steps.emplace();
      for (std::size_t i = 0; i < sources.size(); ++i) steps->push_back(i * *a.steps_every);
    }
    in.recipe = *a.objective;
    in.traj = analysis::trajectory_of_files(std::move(sources), steps, a.lr_value, a.batch_size_value, a.seed,
                                            in.recipe.manifest_json());
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  in.out = a.out.empty() ? fs::path("eoslab-analysis") : fs::path(a.out);
  std::vector<std::string> identity = {"eoslab", "analyze"};
  for (const auto& t : a.theta) identity.insert(identity.end(), {"--theta", t});
  in.identity = command_line(identity);
  in.spec_source = "the Data and Model flags";
  return in;
}

// The objective analyze rebuilt, said before it runs (and kept in summary.json).
nlohmann::json rebuilt_json(const Objective& objective, const ObjectiveRecipe& recipe) {
  nlohmann::json spec = nlohmann::json::parse(recipe.manifest_json());
  return {{"objective", objective.describe()},
          {"parameters", objective.dim()},
          {"data_fingerprint", objective.data_fingerprint()},
          {"spec", spec}};
}

// analyze's --plugin texts as plugins that fit the trajectory's run (every
// recorded step, its batch size): UsageError naming the text otherwise.
std::vector<std::unique_ptr<analysis::Plugin>> analysis_plugins(const AnalyzeArgs& a, const analysis::Trajectory& traj) {
  std::vector<std::unique_ptr<analysis::Plugin>> plugins;
  for (const auto& text : a.plugins) {
    if (text.find('@') != std::string::npos)
      throw UsageError(fmt::format("--plugin '{}': analyze runs every plugin at every recorded step; drop the @…", text));
    try {
      plugins.push_back(analysis::PluginRegistry::global().create_from_spec(parse_plugin("--plugin", text).spec));
      plugins.back()->check_run(traj.manifest.batch_size, nullptr);
    } catch (const UsageError&) {
      throw;
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("--plugin '{}': {}", text, e.what()));
    }
  }
  return plugins;
}
}  // namespace

int analyze_command(const AnalyzeArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  AnalysisInput in = a.theta.empty() ? recorded_input(a) : theta_files_input(a);
  const analysis::Trajectory& traj = in.traj;
  std::vector<std::unique_ptr<analysis::Plugin>> plugins = analysis_plugins(a, traj);
  const std::size_t threads = threads_per_rank(parse_count("--threads", a.threads, 0));
  in.recipe.model.threads = threads;
  try {
    check_memory(in.recipe, "gd", plugins);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("{}: {}", in.spec_source, e.what()));
  }
  BuiltRun built = build(in.recipe);
  // what a plugin checks against the objective (k against its dimension, its parameter blocks), before any file
  for (std::size_t i = 0; i < plugins.size(); ++i) {
    try {
      plugins[i]->bind(*built.objective);
    } catch (const std::invalid_argument& e) {
      throw UsageError(fmt::format("--plugin '{}': {}", a.plugins[i], e.what()));
    }
  }
  if (traj.sources.empty()) check_rebuilt(traj, *built.objective, fs::path(traj.dir) / "manifest.json");
  const std::size_t float32 = check_theta_files(traj, built.objective->dim());
  const nlohmann::json rebuilt = rebuilt_json(*built.objective, in.recipe);
  if (!a.quiet) {
    fmt::print("objective: {}; {} parameters{}\n", built.objective->describe(), built.objective->dim(),
               in.recipe.toy.empty() ? fmt::format("; standardize {}", in.recipe.model.data.standardize ? "subset" : "none")
                                     : "");
    if (float32) fmt::print("{} of {} θ were float32, widened to float64\n", float32, traj.manifest.steps.size());
  }
  FolderContents contents{"analysis", {"metrics.csv", "summary.json"}, {"density/step_*.csv"}, {}};
  // An earlier analysis of the same trajectory is replaced; anything else
  // eoslab wrote there only with --force.
  const nlohmann::json earlier = RunFolder::list_of(in.out);
  const bool same = !earlier.is_null() && earlier.value("kind", "") == "analysis" && earlier.value("command", "") == in.identity;
  RunFolder folder(in.out, same || a.force ? RunFolder::Mode::Replace : RunFolder::Mode::Fresh, contents, in.identity);
  set_blas_threads(threads);
  folder.claim();

  const auto table = analysis::analyze_trajectory(traj, *built.objective, plugins, nullptr, in.out.string());
  {
    analysis::CsvWriter csv((in.out / "metrics.csv").string(), table.columns);
    for (const auto& row : table.rows) csv.write(row);
  }
  nlohmann::json j;
  if (traj.sources.empty()) {
    j["trajectory"] = traj.dir;
  } else {
    j["theta"] = a.theta;
    j["command"] = command_line(a.command);
    j["steps_given"] = traj.steps_given;
    j["float32_widened"] = float32;
  }
  j["objective"] = traj.manifest.objective.empty() ? built.objective->describe() : traj.manifest.objective;
  j["optimizer"] = traj.manifest.optimizer;
  j["lr"] = traj.manifest.lr;
  j["steps"] = traj.manifest.steps;
  j["rebuilt"] = rebuilt;
  j["plugins"] = a.plugins;
  j["steps_analysed"] = table.rows.size();
  for (const auto& p : plugins)  // what each plugin says of the whole analysis (as in a run's summary)
    if (const std::string extra = p->summary_json(); !extra.empty()) j[p->name()] = nlohmann::json::parse(extra);
  j["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_file_atomically((in.out / "summary.json").string(), j.dump(2) + "\n");
  if (!a.quiet)
    fmt::print("analysed {} θ of {} → {}\n", table.rows.size(),
               traj.sources.empty() ? traj.dir : fmt::format("{} file pattern(s)", a.theta.size()),
               (in.out / "metrics.csv").string());
  warn_unconverged(j);
  return 0;
}

int plot_command(const PlotArgs& a) {
  const fs::path csv = fs::path(a.dir) / "metrics.csv";
  if (!fs::exists(csv))
    throw UsageError(fmt::format("{}: no metrics.csv here (a run directory of `eoslab train` or `eoslab analyze`)", a.dir));
  analysis::MetricsTable table;
  try {
    table = analysis::read_metrics_csv(csv.string());
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  if (auto missing = plot::gnuplot_missing()) {
    fmt::print(stderr, "eoslab plot: {}\n", *missing);
    return 1;
  }
  const fs::path out = a.out.empty() ? fs::path(a.dir) / "figures" : fs::path(a.out);
  const auto figures = plot::run_figures(csv, table, "");
  if (figures.empty()) {
    fmt::print(stderr, "eoslab plot: {} has no column to draw (run with plugins such as loss, rp, sharpness)\n",
               csv.string());
    return 1;
  }
  for (const auto& f : figures) fmt::print("{}\n", plot::render(f, out).string());
  return 0;
}

int plugins_command(const std::string& name) {
  const auto& reg = analysis::PluginRegistry::global();
  auto show = [](const analysis::PluginInfo& p) {
    fmt::print("{}  —  {}\n", p.name, p.description);
    if (!p.options.empty()) {
      fmt::print("  options:\n");
      for (const auto& o : p.options) fmt::print("    {:<28} {}\n", o.signature(), o.meaning());
    }
    fmt::print("  columns:\n");
    for (const auto& [c, m] : p.columns) fmt::print("    {:<28} {}\n", c, m);
  };
  if (!name.empty()) {
    if (!reg.contains(name))
      throw UsageError(fmt::format("no plugin '{}' (`eoslab plugins` lists them)", name));
    show(reg.info(name));
    return 0;
  }
  fmt::print("Plugins for --plugin SPEC[@K|@epoch], SPEC = name[:option=value,...]:\n\n");
  for (const auto& n : reg.names()) {
    show(reg.info(n));
    fmt::print("\n");
  }
  return 0;
}

}  // namespace eos::cli
