#include "trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "../core/blas_kernel.hpp"
#include "../datasets/transforms.hpp"

namespace eos::analysis {

std::string to_string(Outcome o) {
  switch (o) {
    case Outcome::MaxSteps: return "max_steps";
    case Outcome::LossGoal: return "loss_goal";
    case Outcome::AccuracyGoal: return "accuracy_goal";
    case Outcome::Diverged: return "diverged";
    case Outcome::Interrupted: return "interrupted";
  }
  return "?";
}

std::string RunResult::describe() const {
  switch (outcome) {
    case Outcome::Diverged:
      return fmt::format("diverged at step {}{}", diverged_at.value_or(steps),
                         diverged_why.empty() ? "" : " (" + diverged_why + ")");
    case Outcome::LossGoal: return fmt::format("reached the loss goal at step {}", steps);
    case Outcome::AccuracyGoal: return fmt::format("reached the accuracy goal at step {}", steps);
    case Outcome::MaxSteps: return fmt::format("ran {} steps", steps);
    case Outcome::Interrupted: return fmt::format("interrupted at step {}", steps);
  }
  return "?";
}

// What the loop carries from step to step. cur and next (θ_t, θ_{t+1}) swap
// at each step and keep their buffers, and so do the batch gradient and the
// row: a step allocates only the row it appends to the result.
struct Trainer::Loop {
  Loop(Trainer& tr, const std::vector<std::string>& columns)
      : cur_ctx(cur, tr.objective_, &tr.optimizer_, tr.options_.batch_size, tr.options_.seed),
        next_ctx(next, tr.objective_, &tr.optimizer_, tr.options_.batch_size, tr.options_.seed),
        row(columns) {
    cur_ctx.set_output_dir(tr.options_.plugin_output_dir);
    res.metrics.columns = columns;
    // The probe's buffers up front: under GD the successor serves as the
    // probe, but the last step (no successor) still computes one.
    for (StepData* d : {&cur, &next}) {
      d->probe_point = Tensor::from_shape({tr.objective_.dim()});
      d->probe.grad = Tensor::from_shape({tr.objective_.dim()});
    }
  }
  StepData cur, next;
  StepContext cur_ctx, next_ctx;  // bound to cur and next, whatever they hold after a swap
  std::unique_ptr<data::MinibatchSampler> sampler;
  bool epoch_start = true;
  double explode = 0.0;           // a loss above this is divergence
  std::optional<std::size_t> resumed_from;
  std::vector<KernelStretch> kernels{{0, blas_kernel().kernel}};  // a resumed run's: the checkpoint's, then this one's
  const StateDict* checkpoint = nullptr;  // a resumed run's, for the sinks to check against
  bool began = false;             // the sinks have opened their files
  double seconds_before = 0.0;    // wall time of the run before its checkpoint
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  RunResult res;
  Row row;
  Tensor batch_grad;
  double seconds() const {
    return seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
};

Trainer::Trainer(Objective& objective, optim::Optimizer& optimizer, TrainerOptions options)
    : objective_(objective), optimizer_(optimizer), options_(std::move(options)) {
  if (options_.batch_size > 0 && objective_.num_examples() == 0)
    throw std::invalid_argument(fmt::format("Trainer: batch_size = {} but '{}' is not a sum over examples",
                                            options_.batch_size, objective_.describe()));
  if (!(options_.divergence_factor > 0))
    throw std::invalid_argument(fmt::format("Trainer: divergence_factor = {} must be positive", options_.divergence_factor));
}

Trainer& Trainer::attach(std::unique_ptr<Plugin> plugin, When when) {
  if (when.every == 0) throw std::invalid_argument(fmt::format("plugin {}: 'every' must be at least 1", plugin->name()));
  plugin->bind(objective_);
  const auto existing = columns();
  for (const auto& c : plugin->columns())
    if (std::find(existing.begin(), existing.end(), c) != existing.end())
      throw std::invalid_argument(fmt::format("plugin {}: column '{}' is already taken", plugin->name(), c));
  plugins_.push_back({std::move(plugin), when});
  return *this;
}

Trainer& Trainer::record_to(RunSink& sink) {
  sinks_.push_back(&sink);
  return *this;
}

std::vector<std::string> Trainer::columns() const {
  std::vector<std::string> c = {"step", "lr"};
  if (options_.batch_size > 0) c.push_back("batch_loss");
  for (const auto& a : plugins_)
    for (const auto& col : a.plugin->columns()) c.push_back(col);
  return c;
}

bool Trainer::due(const Attached& a, std::size_t step, bool epoch_start) const {
  return a.when.epoch_end ? epoch_start : step % a.when.every == 0;
}
bool Trainer::any_due(std::size_t step, bool epoch_start) const {
  return std::any_of(plugins_.begin(), plugins_.end(), [&](const Attached& a) { return due(a, step, epoch_start); });
}
// Under full-batch GD a plugin due at `step` that needs ∇²f there: the step's
// f and ∇f then come from the linearization (every step ends an epoch).
bool Trainer::hessian_due(std::size_t step) const {
  if (options_.batch_size > 0) return false;
  return std::any_of(plugins_.begin(), plugins_.end(),
                     [&](const Attached& a) { return a.plugin->needs_hessian() && due(a, step, true); });
}

// SGD's minibatches (none under full batch), seeded by the run's seed.
std::unique_ptr<data::MinibatchSampler> Trainer::make_sampler() const {
  if (options_.batch_size == 0) return nullptr;
  return std::make_unique<data::MinibatchSampler>(
      objective_.num_examples(), options_.batch_size,
      options_.with_replacement ? data::MinibatchSampler::Replacement::With
                                : data::MinibatchSampler::Replacement::Without,
      options_.seed);
}

// ---- the BLAS kernels of a run ---------------------------------------------------

namespace {
constexpr const char* kKernelsKey = "trainer.blas_kernels";  // "SkylakeX@0 Haswell@340"

std::string kernels_text(const std::vector<KernelStretch>& ks) {
  std::string t;
  for (const auto& k : ks) t += fmt::format("{}{}@{}", t.empty() ? "" : " ", k.kernel, k.from_step);
  return t;
}
}  // namespace

std::vector<KernelStretch> blas_kernels_of(const StateDict& checkpoint) {
  std::vector<KernelStretch> ks;
  if (!checkpoint.contains(kKernelsKey)) return ks;
  const std::string& text = checkpoint.text(kKernelsKey);
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = text.find(' ', begin);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(begin, end - begin);
    const std::size_t at = item.rfind('@');
    const std::string step = at == std::string::npos ? "" : item.substr(at + 1);
    if (step.empty() || step.find_first_not_of("0123456789") != std::string::npos || step.size() > 18 ||
        (!ks.empty() && std::stoull(step) <= ks.back().from_step))
      throw StateError(fmt::format("{} '{}': expected KERNEL@STEP items, steps rising, separated by spaces; '{}' "
                                   "is not one",
                                   kKernelsKey, text, item));
    ks.push_back({std::stoull(step), item.substr(0, at)});
    begin = end + 1;
  }
  return ks;
}

// ---- the run -------------------------------------------------------------------

RunResult Trainer::run(Tensor theta0) {
  if (theta0.dimension() != 1 || theta0.size() != objective_.dim())
    throw ShapeError(fmt::format("Trainer::run: θ₀ has shape {}, the objective has {} parameters",
                                 shape_str_of(theta0.shape()), objective_.dim()));
  Loop L(*this, columns());
  L.cur.theta = std::move(theta0);
  for (auto& a : plugins_) a.plugin->reset();
  L.sampler = make_sampler();
  return loop(L);
}

RunResult Trainer::resume(const std::string& checkpoint_path) {
  Loop L(*this, columns());
  const StateDict checkpoint = read_state(checkpoint_path);  // its errors name the file
  try {
    restore(L, checkpoint);
  } catch (const StateError& e) {
    throw StateError(fmt::format("{}: {}", checkpoint_path, e.what()));
  }
  L.checkpoint = &checkpoint;
  return loop(L);
}

// The algorithm. Each part is a function below; the sinks record what it does.
RunResult Trainer::loop(Loop& L) {
  try {
    start(L);
    for (;;) {
      std::optional<Outcome> stop = check_stop(L);      // divergence, goals, the step budget at θ_t
      if (!stop) stop = take_step(L);                   // θ_t → θ_{t+1}
      const bool diverged_here = stop == Outcome::Diverged && L.res.diverged_at == L.cur.step;
      if (!diverged_here) observe(L, stop);             // the plugins due at t
      record_row(L, stop.has_value(), diverged_here);   // the sinks: metrics, trajectory, progress
      if (stop) {
        L.res.outcome = *stop;
        break;
      }
      if (advance(L)) break;                            // θ_{t+1} becomes θ_t; a checkpoint may be written
    }
  } catch (...) {
    if (L.began) interrupt(L, std::current_exception());  // else refused before any sink wrote
    throw;
  }
  return finish(L);
}

// The sinks check what they continue, all of them before any writes; then
// the first step's data.
void Trainer::start(Loop& L) {
  for (const auto& a : plugins_) a.plugin->check_run(options_.batch_size, &optimizer_);  // before any file
  std::optional<MetricsTable> earlier;
  RunStart s{L.res.metrics.columns, objective_,   optimizer_,       options_.seed, options_.batch_size,
             options_.max_steps,    L.resumed_from, L.seconds_before, &earlier,      L.checkpoint};
  for (RunSink* sink : sinks_) sink->check(s);
  if (L.resumed_from && *L.resumed_from > 0) {
    if (!earlier)
      throw std::invalid_argument("Trainer::resume: the rows before the checkpoint are in a metrics CSV, and no sink "
                                  "records one");
    L.res.metrics.rows = std::move(earlier->rows);
  }
  for (RunSink* sink : sinks_) sink->begin(s);
  L.began = true;
  L.res.steps = L.resumed_from.value_or(0);
  L.res.resumed_from = L.resumed_from;
  L.res.metrics.rows.reserve(L.res.metrics.rows.size() + std::min<std::size_t>(options_.max_steps, 1u << 16) + 1);
  L.cur.step = L.resumed_from.value_or(0);
  L.cur.lr = optimizer_.current_lr();
  L.cur.wants_hessian = hessian_due(L.cur.step);
  if (!L.resumed_from) {
    const double f0 = L.cur_ctx.loss();
    L.explode = options_.divergence_factor * std::max(std::abs(f0), 1.0);
  }
}

// The row of step t starts here; then the stop rules on what is known at θ_t.
// Under SGD the full-batch f and ∇f are computed only where a plugin runs or
// a goal is checked (epoch ends).
std::optional<Outcome> Trainer::check_stop(Loop& L) {
  const std::size_t t = L.cur.step;
  L.row.clear();
  L.row.set("step", double(t));
  L.row.set("lr", L.cur.lr);
  const bool goals = options_.loss_goal || options_.accuracy_goal;
  const bool full_needed = !L.sampler || any_due(t, L.epoch_start) || (goals && L.epoch_start);
  if (full_needed || L.cur_ctx.evaluated()) {
    const double f = L.cur_ctx.loss();
    L.res.final_loss = f;
    if (!std::isfinite(f) || f > L.explode || !all_finite(L.cur_ctx.grad())) {
      L.res.diverged_at = t;
      return Outcome::Diverged;
    }
    if (options_.loss_goal && f <= *options_.loss_goal) return Outcome::LossGoal;
    if (options_.accuracy_goal) {
      const auto acc = objective_.accuracy(L.cur.theta);
      if (acc && *acc >= *options_.accuracy_goal) return Outcome::AccuracyGoal;
    }
  }
  if (t >= options_.max_steps) return Outcome::MaxSteps;
  return std::nullopt;
}

// θ_{t+1} = the optimizer's step from θ_t with the full-batch gradient, or a
// minibatch gradient (a non-finite one is divergence at t).
std::optional<Outcome> Trainer::take_step(Loop& L) {
  const std::size_t t = L.cur.step;
  L.next.forget();
  const Tensor* g = nullptr;
  if (L.sampler) {
    const double batch_loss = objective_.batch_value_and_grad(L.cur.theta, L.sampler->next(), L.batch_grad);
    L.row.set("batch_loss", batch_loss);
    if (!std::isfinite(batch_loss) || !all_finite(L.batch_grad)) {
      L.res.diverged_at = t;
      return Outcome::Diverged;
    }
    g = &L.batch_grad;
  } else {
    g = &L.cur_ctx.grad();
  }
  L.next.step = t + 1;
  copy_into(L.next.theta, L.cur.theta);
  optimizer_.step(L.next.theta, *g);
  L.next.lr = optimizer_.current_lr();
  L.next.wants_hessian = hessian_due(t + 1);
  L.cur.successor = &L.next;
  L.cur.successor_is_probe = !L.sampler && optimizer_.is_plain_gradient_step();
  L.res.steps = t + 1;
  return std::nullopt;
}

// The plugins due at t, in the order attached. A plugin's NumericalError ends
// the run as diverged at t; the row keeps what was computed.
void Trainer::observe(Loop& L, std::optional<Outcome>& stop) {
  const std::size_t t = L.cur.step;
  for (auto& a : plugins_) {
    if (!due(a, t, L.epoch_start)) continue;
    try {
      a.plugin->observe(L.cur_ctx, L.row);
    } catch (const NumericalError& e) {
      stop = Outcome::Diverged;
      L.res.diverged_at = t;
      L.res.diverged_why = fmt::format("plugin {}: {}", a.plugin->name(), e.what());
      return;
    }
  }
}

void Trainer::record_row(Loop& L, bool last, bool diverged_here) {
  if (diverged_here && L.row.has_column("loss") && L.cur_ctx.evaluated()) L.row.set("loss", L.cur_ctx.loss());
  L.res.metrics.rows.push_back(L.row.values());
  const StepRecord r{L.cur.step, options_.max_steps,         L.cur.lr, L.cur.theta, L.res.metrics.columns,
                     L.res.metrics.rows.back(), L.seconds(), last,     diverged_here};
  for (RunSink* s : sinks_) s->step(r);
}

// θ_{t+1} becomes θ_t. Returns true when the run stops here on request
// (the sinks were offered the state as a stopping snapshot).
bool Trainer::advance(Loop& L) {
  L.epoch_start = L.sampler ? L.sampler->epoch_ended() : true;
  std::swap(L.cur, L.next);
  const bool stopping = options_.stop_requested && options_.stop_requested();
  const RunSnapshot snap{L.cur.step, L.seconds(), [&] { return save(L); }, stopping};
  for (RunSink* s : sinks_) s->between_steps(snap);
  if (stopping) L.res.outcome = Outcome::Interrupted;
  return stopping;
}

// Every sink is told that the run stopped midway, with the exception's message.
void Trainer::interrupt(Loop& L, std::exception_ptr error) {
  std::string message = "an exception that is not a std::exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
  }
  Interruption what{L.cur.step, L.seconds(), message, summary(L, "interrupted")};
  what.summary["error"] = message;
  for (RunSink* s : sinks_) {
    try {
      s->interrupted(what);
    } catch (...) {  // the first error is the one to report
    }
  }
}

RunResult Trainer::finish(Loop& L) {
  L.res.theta = L.cur.theta;
  L.res.seconds = L.seconds();
  L.res.summary = summary(L, to_string(L.res.outcome));
  for (RunSink* s : sinks_) s->end(L.res);
  return std::move(L.res);
}

// ---- what a checkpoint holds ------------------------------------------------------

StateDict Trainer::identity() const {
  StateDict id;
  std::string cols;
  for (const auto& c : columns()) cols += (cols.empty() ? "" : ",") + c;
  id.put("columns", cols);
  id.put("objective", objective_.describe());
  id.put("settings", fmt::format("batch_size={} with_replacement={} seed={} divergence_factor={}", options_.batch_size,
                                 options_.with_replacement, options_.seed, options_.divergence_factor));
  std::string plugins;
  for (const auto& a : plugins_)
    plugins += fmt::format("{}{}@{}{}", plugins.empty() ? "" : " ", a.plugin->name(), a.when.every,
                           a.when.epoch_end ? "/epoch" : "");
  id.put("plugins", plugins);
  id.put("data", objective_.data_fingerprint());
  for (const auto& [key, value] : options_.provenance) id.put(key, value);
  return id;
}

// The state at the start of step cur.step, once rows 0 … cur.step − 1 are
// recorded. f(θ_t) and ∇f(θ_t) are not saved: the resumed run recomputes
// them, bit for bit.
StateDict Trainer::save(const Loop& L) const {
  StateDict ck;
  ck.merge("identity", identity());
  ck.put_integer("trainer.step", L.cur.step);
  ck.put("trainer.theta", L.cur.theta);
  ck.put_integer("trainer.epoch_start", L.epoch_start ? 1 : 0);
  ck.put_number("trainer.explode", L.explode);
  ck.put_number("trainer.final_loss", L.res.final_loss);
  ck.put_number("trainer.seconds", L.seconds());
  ck.put(kKernelsKey, kernels_text(L.kernels));
  StateDict part;
  optimizer_.save_state(part);
  ck.merge("optimizer", part);
  if (L.sampler) {
    part = StateDict();
    L.sampler->save_state(part);
    ck.merge("sampler", part);
  }
  for (std::size_t i = 0; i < plugins_.size(); ++i) {
    part = StateDict();
    plugins_[i].plugin->save_state(part);
    ck.merge(fmt::format("plugin{}", i), part);
  }
  for (const RunSink* s : sinks_)
    if (!s->name().empty()) {
      part = StateDict();
      s->save_state(part);
      ck.merge("sink." + s->name(), part);
    }
  return ck;
}

// Everything is checked, and loaded into the optimizer, sampler and plugins,
// before any sink touches a file.
void Trainer::restore(Loop& L, const StateDict& ck) {
  const StateDict saved_id = ck.extract("identity"), id = identity();
  for (const auto& [key, entry] : id.entries()) {
    const std::string& now = std::get<std::string>(entry);
    if (!saved_id.contains(key))
      throw StateError(fmt::format("the checkpoint does not record its run's {} (written by an older eoslab?)", key));
    const std::string& then = saved_id.text(key);
    if (then == now) continue;
    if (key == "data")
      throw StateError(fmt::format("the data changed since the checkpoint: its fingerprint was {}, the data of '{}' "
                                   "now have {}",
                                   then, objective_.describe(), now));
    throw StateError(fmt::format("the checkpoint's run has {} '{}', this one '{}'", key, then, now));
  }
  const std::size_t step = ck.integer("trainer.step");
  L.cur.theta = ck.tensor("trainer.theta", {objective_.dim()});
  for (auto& a : plugins_) a.plugin->reset();
  optimizer_.load_state(ck.extract("optimizer"), {objective_.dim()});
  if (optimizer_.steps_taken() != step)
    throw StateError(fmt::format("the optimizer took {} steps, the trainer {}", optimizer_.steps_taken(), step));
  L.sampler = make_sampler();
  if (L.sampler) L.sampler->load_state(ck.extract("sampler"));
  for (std::size_t i = 0; i < plugins_.size(); ++i)
    plugins_[i].plugin->load_state(ck.extract(fmt::format("plugin{}", i)), objective_.dim());
  L.epoch_start = ck.integer("trainer.epoch_start") != 0;
  L.explode = ck.number("trainer.explode");
  L.res.final_loss = ck.number("trainer.final_loss");
  L.seconds_before = ck.number("trainer.seconds");
  L.resumed_from = step;
  const std::string now = L.kernels.back().kernel;
  L.kernels = blas_kernels_of(ck);  // none from a checkpoint written before they were recorded
  if (!L.kernels.empty() && L.kernels.back().from_step > step)
    throw StateError(fmt::format("{} '{}' runs past the checkpoint's step {}", kKernelsKey, kernels_text(L.kernels),
                                 step));
  if (!L.kernels.empty() && L.kernels.back().from_step == step) L.kernels.pop_back();  // nothing ran on it
  if (L.kernels.empty() || L.kernels.back().kernel != now) L.kernels.push_back({step, now});
}

// ---- the summary, built once ---------------------------------------------------------

nlohmann::json Trainer::summary(const Loop& L, const std::string& outcome) const {
  const RunResult& res = L.res;
  auto number_or_text = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(fmt::format("{}", v)); };
  auto optional = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  nlohmann::json j;
  j["objective"] = objective_.describe();
  j["optimizer"] = optimizer_.describe();
  j["settings"] = {{"max_steps", options_.max_steps},
                   {"batch_size", options_.batch_size},
                   {"with_replacement", options_.with_replacement},
                   {"seed", options_.seed},
                   {"lr0", optimizer_.current_lr()},
                   {"divergence_factor", std::isfinite(options_.divergence_factor) ? nlohmann::json(options_.divergence_factor) : nlohmann::json("inf")},
                   {"loss_goal", optional(options_.loss_goal)},
                   {"accuracy_goal", optional(options_.accuracy_goal)}};
  nlohmann::json plugins = nlohmann::json::array();
  for (const auto& a : plugins_)
    plugins.push_back({{"name", a.plugin->name()}, {"every", a.when.every}, {"epoch_end", a.when.epoch_end}});
  j["plugins"] = plugins;
  for (const auto& a : plugins_)
    if (const std::string extra = a.plugin->summary_json(); !extra.empty())
      j[a.plugin->name()] = nlohmann::json::parse(extra);
  j["outcome"] = outcome;
  if (outcome == "interrupted") {
    j["outcome_text"] = fmt::format("interrupted at step {}", L.cur.step);
    j["interrupted_at_step"] = L.cur.step;
  } else {
    j["outcome_text"] = res.describe();
  }
  j["diverged_at_step"] = optional(res.diverged_at);
  j["steps"] = res.steps;
  j["final_loss"] = number_or_text(res.final_loss);
  j["wall_seconds"] = L.seconds();
  // what ran the matrix products, for comparing wall times (core/blas_kernel.hpp)
  const BlasKernel blas = blas_kernel();
  j["blas"] = {{"kernel", blas.kernel},
               {"chosen_by", blas.chosen_by},
               {"cpu_supports", blas.cpu_supports},
               {"config", blas.config},
               {"kernels", nlohmann::json::array()}};
  for (const auto& k : L.kernels) j["blas"]["kernels"].push_back({{"from_step", k.from_step}, {"kernel", k.kernel}});
  j["resumed_from_step"] = optional(L.resumed_from);
  for (const RunSink* s : sinks_) s->describe(j);
  return j;
}

}  // namespace eos::analysis
