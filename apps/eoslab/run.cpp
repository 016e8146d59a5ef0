#include "run.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <fmt/format.h>

#include "core/blas_kernel.hpp"
#include "folder.hpp"
#include "parallel.hpp"
#include "progress.hpp"
#include "signals.hpp"

namespace eos::cli {
namespace fs = std::filesystem;

// ---- value parsers --------------------------------------------------------

double parse_number(const std::string& flag, const std::string& text) {
  double v = 0.0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || !std::isfinite(v))
    throw UsageError(fmt::format("{} {}: expected a finite number", flag, quote_input(text)));
  return v;
}

CheckpointRule parse_checkpoint_every(const std::string& flag, const std::string& text) {
  CheckpointRule r;
  if (text == "off") return r;
  const std::string expected = fmt::format("{} '{}': expected N (steps), Ts (seconds, T > 0) or off", flag, text);
  if (!text.empty() && text.back() == 's') {
    r.seconds = parse_number(flag, text.substr(0, text.size() - 1));
    if (!(r.seconds > 0)) throw UsageError(expected);
    return r;
  }
  try {
    r.steps = parse_count(flag, text, 1);
  } catch (const UsageError&) {
    throw UsageError(expected);
  }
  return r;
}

double parse_step_size(const std::string& flag, const std::string& text) {
  const auto slash = text.find('/');
  double v;
  if (slash == std::string::npos) {
    v = parse_number(flag, text);
  } else {
    const double num = parse_number(flag + " (numerator)", text.substr(0, slash));
    const double den = parse_number(flag + " (denominator)", text.substr(slash + 1));
    if (den == 0.0) throw UsageError(fmt::format("{} '{}': division by zero", flag, text));
    v = num / den;
  }
  if (!(v > 0.0) || !std::isfinite(v))
    throw UsageError(fmt::format("{} '{}': expected a positive step size such as 0.1 or 2/15", flag, text));
  return v;
}

std::size_t parse_count(const std::string& flag, const std::string& text, std::size_t min) {
  std::size_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end)
    throw UsageError(fmt::format("{} {}: expected a whole number ≥ {}", flag, quote_input(text), min));
  if (v < min) throw UsageError(fmt::format("{} {}: must be at least {}", flag, quote_input(text), min));
  return v;
}

namespace {
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}
}  // namespace

std::vector<std::size_t> parse_widths(const std::string& flag, const std::string& text) {
  if (text == "none") return {};
  std::vector<std::size_t> w;
  for (const auto& part : split(text, ',')) w.push_back(parse_count(flag, part, 1));
  return w;
}

std::vector<double> parse_numbers(const std::string& flag, const std::string& text) {
  std::vector<double> v;
  for (const auto& part : split(text, ',')) v.push_back(parse_number(flag, part));
  return v;
}

PluginRequest parse_plugin(const std::string& flag, const std::string& text) {
  PluginRequest r;
  r.text = text;
  r.spec = text;
  const auto at = text.rfind('@');
  if (at != std::string::npos) {
    r.spec = text.substr(0, at);
    const std::string when = text.substr(at + 1);
    if (when == "epoch") r.when = analysis::When::at_epoch_end();
    else r.when = analysis::When::every_k(parse_count(fmt::format("{} '{}': @", flag, text), when, 1));
  }
  try {
    (void)analysis::PluginRegistry::global().create_from_spec(r.spec);
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("{} '{}': {}", flag, text, e.what()));
  }
  return r;
}

void parse_data(const std::string& text, data::DataSpec& d) {
  const auto colon = text.find(':');
  const std::string kind = text.substr(0, colon), arg = colon == std::string::npos ? "" : text.substr(colon + 1);
  auto need_arg = [&](const char* what) {
    if (arg.empty()) throw UsageError(fmt::format("--data '{}': expected {}:{}", text, kind, what));
  };
  if (kind == "fashion-mnist") {
    d.source = "fashion-mnist";
    d.path = arg;  // empty: Debian's package directory
  } else if (kind == "idx" || kind == "cifar10") {
    need_arg("DIR");
    d.source = kind;
    d.path = arg;
  } else if (kind == "csv") {
    need_arg("FILE");
    d.source = "csv";
    d.path = arg;
    d.scale_unit = false;
  } else if (kind == "gaussian") {
    need_arg("DIM,CLASSES");
    const auto parts = split(arg, ',');
    if (parts.size() != 2) throw UsageError(fmt::format("--data '{}': expected gaussian:DIM,CLASSES", text));
    d.source = "gaussian_clusters";
    d.dim = parse_count("--data gaussian: DIM", parts[0], 1);
    d.classes = parse_count("--data gaussian: CLASSES", parts[1], 2);
  } else {
    throw UsageError(fmt::format(
        "--data '{}': expected fashion-mnist, idx:DIR, cifar10:DIR, csv:FILE or gaussian:DIM,CLASSES", text));
  }
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@+%") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + shell_quote(a);
  return s;
}

// ---- objective ------------------------------------------------------------

std::string ObjectiveRecipe::manifest_json() const {
  if (!toy.empty()) return nlohmann::json{{"toy", toy}}.dump();
  return model.to_json();
}

ObjectiveRecipe ObjectiveRecipe::from_manifest(const std::string& text) {
  ObjectiveRecipe r;
  if (text.empty())
    throw UsageError("the trajectory's manifest has no objective spec (it was recorded from a custom objective "
                     "in C++; replay it there with analysis::analyze_trajectory)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("the manifest's objective spec is not JSON ({})", e.what()));
  }
  if (j.is_object() && j.contains("toy")) {
    if (!j.at("toy").is_string()) throw UsageError("the manifest's objective spec: 'toy' must be a string");
    r.toy = j.at("toy").get<std::string>();
  } else {
    try {
      r.model = nn::ObjectiveSpec::from_json(text);
    } catch (const std::exception& e) {
      throw UsageError(e.what());
    }
  }
  return r;
}

BuiltRun build(const ObjectiveRecipe& r, bool parallel) {
  BuiltRun b;
  std::optional<BuiltRun> sharded = parallel ? build_parallel(r) : std::nullopt;
  if (sharded) {
    b = std::move(*sharded);
  } else if (!r.toy.empty()) {
    try {
      b.objective = analysis::toys::by_name(r.toy);
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("--toy: {}", e.what()));
    }
    if (r.toy_theta0.size() != 2 && !r.toy_theta0.empty())
      throw UsageError(fmt::format("--theta0: the toy '{}' has 2 parameters, {} given", r.toy, r.toy_theta0.size()));
    b.theta0 = Tensor::from_shape({2});
    for (std::size_t i = 0; i < 2; ++i) b.theta0(i) = r.toy_theta0.empty() ? 1.0 : r.toy_theta0[i];
  } else {
    nn::BuiltObjective m;
    const std::string what = r.model.data.path.empty() ? r.model.data.source
                                                        : r.model.data.source + ":" + r.model.data.path;
    try {
      m = nn::build_objective(r.model);
    } catch (const nn::ModelSyntaxError& e) {
      throw UsageError(fmt::format("{}: {}", r.model.arch.empty() ? "--model" : "--arch " + r.model.arch, e.what()));
    } catch (const data::DataError& e) {
      throw UsageError(fmt::format("--data {}: {}", what, e.what()));
    } catch (const std::invalid_argument& e) {
      throw UsageError(fmt::format("--data {}: {}", what, e.what()));
    }
    b.theta0 = std::move(m.theta0);
    b.objective = std::move(m.objective);
  }
  if (!r.init_params.empty()) {
    try {
      b.theta0 = read_npy_vector(r.init_params, b.objective->dim());
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("--init-params {}: {} (the model has {} parameters, flat PyTorch layout)",
                                   r.init_params, e.what(), b.objective->dim()));
    }
    if (const auto bad = first_non_finite(b.theta0))
      throw UsageError(fmt::format("--init-params {}: entry {} is {}; θ₀ must be finite", r.init_params, *bad,
                                   b.theta0(*bad)));
  }
  return b;
}

// ---- optimizer ------------------------------------------------------------

namespace {
optim::Schedule make_schedule(const OptimizerConfig& c, std::size_t total_steps) {
  const std::string& s = c.schedule;
  const auto colon = s.find(':');
  const std::string kind = s.substr(0, colon), arg = colon == std::string::npos ? "" : s.substr(colon + 1);
  if (kind == "constant" && arg.empty()) return optim::Schedule::constant(c.lr);
  if (kind == "cosine" && arg.empty()) return optim::Schedule::cosine(c.lr, std::max<std::size_t>(total_steps, 1));
  if (kind == "step" && !arg.empty()) {
    const auto parts = split(arg, ',');
    if (parts.size() == 2) {
      const double gamma = parse_number("--schedule step: GAMMA", parts[1]);
      if (!(gamma > 0)) throw UsageError(fmt::format("--schedule '{}': GAMMA must be positive", s));
      return optim::Schedule::step(c.lr, parse_count("--schedule step: EVERY", parts[0], 1), gamma);
    }
  }
  if (kind == "warmup" && !arg.empty())
    return optim::Schedule::linear_warmup(parse_count("--schedule warmup: W", arg, 1), optim::Schedule::constant(c.lr));
  throw UsageError(fmt::format("--schedule '{}': expected constant, step:EVERY,GAMMA, cosine or warmup:W", s));
}
}  // namespace

std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerConfig& c, std::size_t total_steps) {
  auto sched = make_schedule(c, total_steps);
  const double wd = c.decay.value_or(c.name == "adamw" ? defaults::adamw_decay : 0.0);
  if (wd < 0) throw UsageError(fmt::format("--optim-decay {}: must be ≥ 0", wd));
  if (c.name == "gd") return std::make_unique<optim::GradientDescent>(sched, wd);
  if (c.name == "momentum" || c.name == "nesterov") {
    if (!(c.momentum >= 0 && c.momentum < 1)) throw UsageError(fmt::format("--momentum {}: expected 0 ≤ μ < 1", c.momentum));
    return std::make_unique<optim::Momentum>(sched, c.momentum, c.name == "nesterov", wd);
  }
  auto unit = [](const char* flag, double v) {
    if (!(v >= 0 && v < 1)) throw UsageError(fmt::format("{} {}: expected a value in [0, 1)", flag, v));
  };
  if (!(c.eps > 0)) throw UsageError(fmt::format("--eps {}: must be positive", c.eps));
  if (c.name == "rmsprop") {
    unit("--alpha", c.alpha);
    return std::make_unique<optim::RMSProp>(sched, c.alpha, c.eps, wd);
  }
  if (c.name == "adam" || c.name == "adamw") {
    unit("--beta1", c.beta1);
    unit("--beta2", c.beta2);
    return std::make_unique<optim::Adam>(sched, c.beta1, c.beta2, c.eps, wd, c.name == "adamw");
  }
  throw UsageError(fmt::format("--optimizer '{}': expected gd, momentum, nesterov, rmsprop, adam or adamw", c.name));
}

// ---- the run --------------------------------------------------------------

nlohmann::json RunConfig::to_json() const {
  nlohmann::json j;
  if (!objective.toy.empty()) j["objective"] = {{"toy", objective.toy}, {"theta0", objective.toy_theta0}};
  else j["objective"] = nlohmann::json::parse(objective.model.to_json());
  j["init_params"] = objective.init_params;
  j["optimizer"] = {{"name", optimizer.name},       {"lr", optimizer.lr},     {"lr_text", optimizer.lr_text},
                    {"schedule", optimizer.schedule}, {"momentum", optimizer.momentum},
                    {"beta1", optimizer.beta1},     {"beta2", optimizer.beta2}, {"eps", optimizer.eps},
                    {"alpha", optimizer.alpha},
                    {"decay", optimizer.decay ? nlohmann::json(*optimizer.decay) : nlohmann::json()}};
  j["batch_size"] = batch_size;
  j["steps"] = steps;
  j["epochs"] = epochs ? nlohmann::json(*epochs) : nlohmann::json();
  j["loss_goal"] = loss_goal ? nlohmann::json(*loss_goal) : nlohmann::json();
  j["accuracy_goal"] = accuracy_goal ? nlohmann::json(*accuracy_goal) : nlohmann::json();
  j["divergence_factor"] = divergence_factor;
  nlohmann::json p = nlohmann::json::array();
  for (const auto& r : plugins) p.push_back(r.text);
  j["plugins"] = p;
  j["save_every"] = save_every;
  j["threads"] = threads;
  j["checkpoint_every"] = checkpoint_text;
  return j;
}


namespace {

// Everything a run needs, built and checked before anything is written.
struct PreparedRun {
  BuiltRun built;
  std::size_t steps = 0;  // --epochs resolved
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<analysis::Trainer> trainer;
};

// The bytes this machine can give a process: MemAvailable, and the cgroup's
// limit less its usage where one is set.
double available_memory() {
  double avail = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    double kb = 0;
    meminfo >> kb;
    if (key == "MemAvailable:") avail = kb * 1024;
    meminfo.ignore(256, '\n');
  }
  auto read_number = [](const char* path) -> std::optional<double> {
    std::ifstream in(path);
    std::string v;
    if (!(in >> v) || v == "max") return std::nullopt;
    try {
      return std::stod(v);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  if (const auto limit = read_number("/sys/fs/cgroup/memory.max")) {
    const double used = read_number("/sys/fs/cgroup/memory.current").value_or(0);
    avail = avail > 0 ? std::min(avail, *limit - used) : *limit - used;
  }
  return avail;
}

std::size_t line_count(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<char> buf(1 << 20);
  std::size_t lines = 1;
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    lines += std::size_t(std::count(buf.data(), buf.data() + in.gcount(), '\n'));
  }
  return lines;
}

std::string gigabytes(double bytes) { return fmt::format("{:.3g} GB", bytes / 1e9); }

}  // namespace

void check_memory(const ObjectiveRecipe& recipe, const std::string& optimizer,
                  const std::vector<std::unique_ptr<analysis::Plugin>>& plugins) {
  if (!recipe.toy.empty()) return;
  const nn::ObjectiveSpec& spec = recipe.model;
  std::size_t n = 0, dim = 0;
  try {
    // A CSV's rows are counted by its lines (an upper bound), not parsed twice.
    n = spec.data.source == "csv" && !spec.data.n ? line_count(spec.data.path) : data::dataset_size(spec.data);
    dim = data::dataset_dim(spec.data);
  } catch (const std::exception&) {
    return;  // the data's own error comes, with its flag, when they are loaded
  }
  const std::size_t outputs = spec.data.source == "gaussian_clusters" ? std::max<std::size_t>(spec.data.classes, 1) : 10;
  bool linearized = false, float32_copies = false;
  double vectors = 10;  // θ, gradients, the probe and θ_{t+1}, the batch gradient, the optimizer's scratch
  if (optimizer == "adam" || optimizer == "adamw") vectors += 2;
  else if (optimizer != "gd") vectors += 1;
  for (const auto& p : plugins) {
    vectors += double(p->memory_vectors());
    linearized |= p->needs_hessian();
    float32_copies |= p->float32_products();
  }
  const nn::MemoryEstimate e = nn::estimate_memory(spec, n, dim, outputs, linearized, float32_copies);
  const double need = e.total(vectors), have = available_memory();
  if (have > 0 && need > have)
    throw UsageError(fmt::format(
        "the run needs about {} of memory, more than the {} available: the data {} ({} examples × {} features: --n, "
        "--data), the tapes {} (--widths, --n; a Hessian plugin keeps one per chunk), and {:.0f} vectors the size of "
        "θ ({:.3g} parameters: --widths and the data's features) of {} each (the optimizer, and the plugins' bases: "
        "max_iter, steps)",
        gigabytes(need), gigabytes(have), gigabytes(e.data), n, dim, gigabytes(e.tapes), vectors, e.parameters,
        gigabytes(e.per_vector)));
}

namespace {

PreparedRun prepare(const RunConfig& c, const std::string& plugin_output_dir) {
  std::vector<std::unique_ptr<analysis::Plugin>> plugins;
  for (const auto& p : c.plugins) {
    try {
      plugins.push_back(analysis::PluginRegistry::global().create_from_spec(p.spec));
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("--plugin '{}': {}", p.text, e.what()));
    }
  }
  check_memory(c.objective, c.optimizer.name, plugins);
  if (job().parallel() && c.batch_size > 0 && c.objective.toy.empty() && nn::couples_batch(c.objective.model))
    throw UsageError(fmt::format("--batch-size {} under mpirun: a BatchNorm network normalizes each minibatch with its "
                                 "own statistics, which a minibatch split across ranks does not have (full-batch GD is "
                                 "sharded exactly); run SGD on one process",
                                 c.batch_size));
  PreparedRun r;
  ObjectiveRecipe recipe = c.objective;
  recipe.model.threads = threads_per_rank(c.threads);
  r.built = build(recipe, /*parallel=*/true);
  const std::size_t n = r.built.objective->num_examples();
  r.steps = c.steps;
  if (c.epochs) r.steps = c.batch_size == 0 ? *c.epochs : *c.epochs * ((n + c.batch_size - 1) / c.batch_size);
  if (c.batch_size > 0) {
    if (n == 0) throw UsageError(fmt::format("--batch-size {}: the objective '{}' has no examples to sample",
                                             c.batch_size, r.built.objective->describe()));
    if (c.batch_size > n) throw UsageError(fmt::format("--batch-size {}: larger than the {} examples", c.batch_size, n));
  }
  r.optimizer = make_optimizer(c.optimizer, r.steps);
  analysis::TrainerOptions o;
  o.max_steps = r.steps;
  o.loss_goal = c.loss_goal;
  o.accuracy_goal = c.accuracy_goal;
  o.divergence_factor = c.divergence_factor;
  o.batch_size = c.batch_size;
  o.seed = c.objective.model.init_seed;
  o.plugin_output_dir = plugin_output_dir;  // density/…
  o.stop_requested = [] { return max_over_ranks(stop_signal()) != 0; };  // every rank stops at the same step
  o.provenance.emplace_back("mpi_ranks", std::to_string(job().size));
  if (!c.objective.init_params.empty()) {
    try {
      o.provenance.emplace_back("init_params", c.objective.init_params + " " + file_fingerprint(c.objective.init_params));
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("--init-params {}: {}", c.objective.init_params, e.what()));
    }
  }
  r.trainer = std::make_unique<analysis::Trainer>(*r.built.objective, *r.optimizer, o);
  for (std::size_t i = 0; i < plugins.size(); ++i) {
    try {
      plugins[i]->check_run(c.batch_size, r.optimizer.get());
      r.trainer->attach(std::move(plugins[i]), c.plugins[i].when);
    } catch (const std::exception& e) {  // two plugins claiming one column; a plugin that does not fit the run
      throw UsageError(fmt::format("--plugin '{}': {}", c.plugins[i].text, e.what()));
    }
  }
  return r;
}

// --resume of a run that ended: its summary's outcome text; none when the
// run is to be continued or started over (no summary, or an interrupted one).
std::optional<std::string> ended_run(const fs::path& out) {
  if (!fs::exists(out / "summary.json")) return std::nullopt;
  try {
    std::ifstream in(out / "summary.json");
    const auto j = nlohmann::json::parse(in);
    if (j.value("outcome", "") == "interrupted") return std::nullopt;
    return j.value("outcome_text", "finished");
  } catch (const std::exception&) {
    return "finished";
  }
}

// A train run killed between claiming its folder and writing command.json
// (its first act after the claim) left only its list, lock and perhaps
// command.txt: no result, nothing to resume. The same folder is then free for
// a new run, as if the killed one had never started.
bool stopped_before_it_began(const fs::path& out) {
  const nlohmann::json list = RunFolder::list_of(out);
  if (list.is_null() || list.value("kind", "") != "train") return false;
  std::error_code ec;
  for (const char* result : {"command.json", "metrics.csv", "summary.json", "checkpoint.eos", "trajectory", "density",
                             "figures", "analysis"})
    if (fs::exists(out / result, ec)) return false;
  return true;
}

// What a train run writes into its folder (eoslab-files.json lists it
// before the first is written): its own files, the plugins' and `eoslab
// plot`'s, and the default folder of `eoslab analyze`.
FolderContents train_contents(const RunConfig& c) {
  FolderContents f;
  f.kind = "train";
  f.files = {"command.txt", "command.json", "metrics.csv", "summary.json", "checkpoint.eos"};
  f.patterns = {"trajectory/manifest.json", "trajectory/theta_*.npy", "density/step_*.csv", "figures/*.png",
                "figures/*.svg", "figures/*.gp", "figures/*.csv"};
  f.folders = {"analysis"};
  (void)c;
  return f;
}

// The command line's parts of a checkpoint to check before the Trainer
// resumes: the number of ranks, said plainly. Returns its step and the BLAS
// kernels the run ran on (analysis::KernelStretch).
struct ResumePoint {
  std::size_t step = 0;
  std::vector<analysis::KernelStretch> kernels;
};
ResumePoint check_resumable(const fs::path& checkpoint, const std::string& out) {
  try {
    const StateDict ck = read_state(checkpoint.string());
    if (ck.contains("identity.mpi_ranks") && ck.text("identity.mpi_ranks") != std::to_string(job().size)) {
      const std::string ranks = ck.text("identity.mpi_ranks");
      throw UsageError(fmt::format("--resume {}: the run was started on {} rank{}; resume it with the same number ({}), "
                                   "not {}",
                                   out, ranks, ranks == "1" ? "" : "s",
                                   ranks == "1" ? "without mpirun" : "mpirun -np " + ranks, job().size));
    }
    return {ck.contains("trainer.step") ? std::size_t(ck.integer("trainer.step")) : 0, analysis::blas_kernels_of(ck)};
  } catch (const StateError& e) {
    throw UsageError(fmt::format("--resume {}: {}", out, e.what()));
  }
}

// A run checkpointed on one BLAS kernel and resumed on another rounds its
// products differently from the resume on. main restarts eoslab on the
// checkpoint's kernel where it can (resumed_run_blas_kernel); where it could
// not, this says so before the run starts, and why.
std::string kernel_change_note(const ResumePoint& at, const std::string& out) {
  const BlasKernel b = blas_kernel();
  if (at.kernels.empty() || at.kernels.back().kernel == b.kernel) return {};
  const std::string& then = at.kernels.back().kernel;
  auto name = [](const std::string& k) {
    return k.empty() ? std::string("a BLAS other than OpenBLAS") : "OpenBLAS's " + k + " kernel";
  };
  std::string why;
  if (then.empty() || b.kernel.empty())
    why = "the BLAS library itself changed";
  else if (b.chosen_by == "OPENBLAS_CORETYPE")
    why = fmt::format("OPENBLAS_CORETYPE={} is set here; without it eoslab resumes on {}", b.kernel, then);
  else if (const std::optional<bool> runs = cpu_runs_kernel(then, cpu_features()); !runs)
    why = fmt::format("eoslab cannot tell whether this CPU runs {}, so it does not try; set OPENBLAS_CORETYPE={} "
                      "yourself where it does",
                      then, then);
  else if (!*runs)
    why = fmt::format("this CPU cannot run {}", then);
  else
    why = "OpenBLAS did not take it";
  return fmt::format("{}: note: the run was checkpointed on {} and resumes on {} ({}); their products round "
                     "differently, so from step {} on it is not bit for bit the run it would have been (at the edge "
                     "of stability the two part within a few hundred steps). summary.json's blas record lists the "
                     "kernels by step.",
                     out, name(then), name(b.kernel), why, at.step);
}

// How a train run takes its --out: fresh (or replacing, with --force),
// continuing its checkpoint, or in place of a run with nothing to continue.
struct FolderClaim {
  RunFolder::Mode mode = RunFolder::Mode::Fresh;
  bool in_place_of_unbegun = false;  // a run killed before it began was there
};
FolderClaim folder_claim(const RunConfig& c, bool resume) {
  FolderClaim f;
  f.mode = c.force ? RunFolder::Mode::Replace : RunFolder::Mode::Fresh;
  if (resume) f.mode = RunFolder::Mode::Continue;
  if (c.resume && !resume) f.mode = RunFolder::Mode::Replace;  // stopped before its first checkpoint: starts over
  f.in_place_of_unbegun = f.mode == RunFolder::Mode::Fresh && stopped_before_it_began(c.out);
  if (f.in_place_of_unbegun) f.mode = RunFolder::Mode::Replace;
  return f;
}

// Said once the folder is claimed, before the first step: a kernel change
// on resume (always), a start over and a replaced unbegun run (not --quiet).
void say_how_it_starts(const RunConfig& c, bool resume, const ResumePoint& at, bool in_place_of_unbegun) {
  if (resume)
    if (const std::string note = kernel_change_note(at, c.out); !note.empty()) fmt::print(stderr, "{}\n", note);
  if (c.resume && !resume && !c.quiet)
    fmt::print(stderr, "{}: no checkpoint yet (stopped before its first): starting over from step 0\n", c.out);
  if (in_place_of_unbegun && !c.quiet)
    fmt::print(stderr, "{}: the run there was stopped before it began (no command.json, no results): this one takes "
                       "its place\n", c.out);
}

// A rank other than 0 keeps no rows: its resume starts from none.
class NoRowsKept : public analysis::RunSink {
 public:
  void check(analysis::RunStart& s) override {
    if (s.resumed_from && s.earlier_rows) *s.earlier_rows = analysis::MetricsTable{s.columns, {}};
  }
};

}  // namespace

std::optional<std::string> resumed_run_blas_kernel(int argc, char** argv) {
  if (argc < 3 || std::string_view(argv[1]) != "train") return std::nullopt;
  std::optional<std::string> dir;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--resume" && i + 1 < argc) dir = argv[i + 1];
    else if (a.starts_with("--resume=")) dir = std::string(a.substr(9));
  }
  if (!dir) return std::nullopt;
  try {
    const fs::path checkpoint = fs::path(*dir) / "checkpoint.eos";
    if (!fs::is_regular_file(checkpoint)) return std::nullopt;
    const std::vector<analysis::KernelStretch> kernels = analysis::blas_kernels_of(read_state(checkpoint.string()));
    if (kernels.empty()) return std::nullopt;
    return kernels.back().kernel;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

TrainOutcome run_training(const RunConfig& c) {
  // Under mpirun every rank runs this: the objective is sharded, and only
  // rank 0 writes files or progress (the other ranks compute the same steps).
  const Job& jb = job();
  const fs::path out = c.out, checkpoint = out / "checkpoint.eos";
  const bool resume = c.resume && fs::exists(checkpoint);
  ResumePoint resume_point;
  if (resume) resume_point = check_resumable(checkpoint, c.out);
  TrainOutcome res;
  res.out_dir = out.string();
  if (c.resume && !resume) {
    // Every rank decides this alike (from the same files), or under mpirun
    // rank 0 would stop while the others train.
    if (auto ended = ended_run(out)) {  // its checkpoint went when it ended: nothing to continue
      res.already_finished = true;
      res.finished_text = *ended;
      return res;
    }
  }
  install_stop_handlers();
  PreparedRun run = prepare(c, jb.writes() ? out.string() : "");
  const std::size_t threads = threads_per_rank(c.threads);
  set_blas_threads(threads);  // for minibatches; full-batch parts run it single-threaded
  analysis::Trainer& trainer = *run.trainer;
  if (!jb.writes()) {  // a rank other than 0: the same steps, no files
    NoRowsKept none;
    trainer.record_to(none);
    res.result = resume ? trainer.resume(checkpoint.string()) : trainer.run(run.built.theta0);
    res.signal = max_over_ranks(stop_signal());
    return res;
  }
  const FolderClaim claim = folder_claim(c, resume);
  RunFolder folder(out, claim.mode, train_contents(c), command_line(c.command));  // checks; writes nothing
  say_how_it_starts(c, resume, resume_point, claim.in_place_of_unbegun);

  // The sinks that record the run, in the order they are told of each step:
  // the folder first (its lock and list, after every check has passed), the
  // checkpoint last, so that it never refers to rows not yet written.
  FolderSink own(folder, [&] {  // then the command --resume reads (a resumed run keeps its own)
    if (resume) return;
    write_file_atomically((out / "command.txt").string(), command_line(c.command) + "\n");
    write_file_atomically((out / "command.json").string(),
                          nlohmann::json{{"argv", c.command}, {"config", c.to_json()}, {"threads_per_rank", threads}}
                                  .dump(2) +
                              "\n");
  });
  trainer.record_to(own);
  analysis::MetricsCsvSink csv((out / "metrics.csv").string());
  trainer.record_to(csv);
  std::optional<analysis::TrajectorySink> trajectory;
  if (c.save_every > 0) trainer.record_to(trajectory.emplace((out / "trajectory").string(), c.save_every,
                                                             c.objective.manifest_json()));
  std::optional<ProgressLine> progress;
  if (!c.quiet) trainer.record_to(progress.emplace(c.progress_label));
  const std::string resume_command = command_line({"eoslab", "train", "--resume", c.out});
  analysis::SummarySink summary((out / "summary.json").string(), {{"command", command_line(c.command)},
                                                                  {"config", c.to_json()},
                                                                  {"max_steps", run.steps},
                                                                  {"threads_per_rank", threads},
                                                                  {"resume_command", resume_command}});
  trainer.record_to(summary);
  analysis::CheckpointSink checkpoints(checkpoint.string(), c.checkpoint.steps, c.checkpoint.seconds);
  trainer.record_to(checkpoints);

  if (resume) {
    try {
      res.result = trainer.resume(checkpoint.string());
    } catch (const StateError& e) {
      throw UsageError(fmt::format("--resume {}: {}", c.out, e.what()));
    }
    res.resumed_from = res.result.resumed_from;
  } else {
    res.result = trainer.run(run.built.theta0);
  }
  res.summary = summary.summary();
  res.signal = max_over_ranks(stop_signal());
  return res;
}

}  // namespace eos::cli
