#include "trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../core/npy.hpp"
#include "../datasets/transforms.hpp"
#include "trajectory.hpp"

namespace eos::analysis {

std::string to_string(Outcome o) {
  switch (o) {
    case Outcome::MaxSteps: return "max_steps";
    case Outcome::LossGoal: return "loss_goal";
    case Outcome::AccuracyGoal: return "accuracy_goal";
    case Outcome::Diverged: return "diverged";
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
  }
  return "?";
}

Trainer::Trainer(Objective& objective, optim::Optimizer& optimizer, TrainerOptions options)
    : objective_(objective), optimizer_(optimizer), options_(std::move(options)) {
  if (options_.batch_size > 0 && objective_.num_examples() == 0)
    throw std::invalid_argument(fmt::format("Trainer: batch_size = {} but '{}' is not a sum over examples",
                                            options_.batch_size, objective_.describe()));
  if (options_.trajectory_every > 0 && options_.trajectory_dir.empty())
    throw std::invalid_argument("Trainer: trajectory_every is set but trajectory_dir is empty");
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

RunResult Trainer::run(Tensor theta0) { return run_from(std::move(theta0), nullptr); }

RunResult Trainer::resume() {
  if (options_.checkpoint_path.empty()) throw std::invalid_argument("Trainer::resume: checkpoint_path is empty");
  const StateDict state = read_state(options_.checkpoint_path);
  return run_from(Tensor(), &state);
}

StateDict Trainer::identity() const {
  StateDict id;
  std::string cols;
  for (const auto& c : columns()) cols += (cols.empty() ? "" : ",") + c;
  id.put("columns", cols);
  id.put("objective", objective_.describe());
  id.put("settings", fmt::format("batch_size={} with_replacement={} seed={} divergence_factor={} trajectory_every={}",
                                 options_.batch_size, options_.with_replacement, options_.seed,
                                 options_.divergence_factor, options_.trajectory_every));
  std::string plugins;
  for (const auto& a : plugins_)
    plugins += fmt::format("{}{}@{}{}", plugins.empty() ? "" : " ", a.plugin->name(), a.when.every,
                           a.when.epoch_end ? "/epoch" : "");
  id.put("plugins", plugins);
  return id;
}

RunResult Trainer::run_from(Tensor theta0, const StateDict* checkpoint) {
  const auto start = std::chrono::steady_clock::now();
  double seconds_before = 0.0;  // wall time of the run before the checkpoint
  const bool sgd = options_.batch_size > 0;
  const bool exact_gd = !sgd && optimizer_.weight_decay() == 0.0 &&
                        dynamic_cast<const optim::GradientDescent*>(&optimizer_) != nullptr;
  const bool goals = options_.loss_goal || options_.accuracy_goal;
  RunResult res;
  res.metrics.columns = columns();
  const bool has_loss_column = std::find(res.metrics.columns.begin(), res.metrics.columns.end(), "loss") !=
                               res.metrics.columns.end();
  std::unique_ptr<data::MinibatchSampler> sampler;
  if (sgd)
    sampler = std::make_unique<data::MinibatchSampler>(
        objective_.num_examples(), options_.batch_size,
        options_.with_replacement ? data::MinibatchSampler::Replacement::With
                                  : data::MinibatchSampler::Replacement::Without,
        options_.seed);
  for (auto& a : plugins_) a.plugin->reset();

  StepData cur, next;
  std::size_t first_step = 0;
  bool epoch_start = true;
  double explode = 0.0;
  if (checkpoint) {
    // Everything is checked before any file of the run is touched.
    const StateDict& ck = *checkpoint;
    const std::string& path = options_.checkpoint_path;
    try {
      const StateDict saved_id = ck.extract("identity");
      const StateDict id = identity();
      for (const auto& [key, entry] : id.entries())
        if (saved_id.text(key) != std::get<std::string>(entry))
          throw StateError(fmt::format("the checkpoint's run has {} '{}', this one '{}'", key, saved_id.text(key),
                                       std::get<std::string>(entry)));
      first_step = ck.integer("trainer.step");
      cur.theta = ck.tensor("trainer.theta", {objective_.dim()});
      optimizer_.load_state(ck.extract("optimizer"), {objective_.dim()});
      if (optimizer_.steps_taken() != first_step)
        throw StateError(fmt::format("the optimizer took {} steps, the trainer {}", optimizer_.steps_taken(), first_step));
      if (sampler) sampler->load_state(ck.extract("sampler"));
      for (std::size_t i = 0; i < plugins_.size(); ++i)
        plugins_[i].plugin->load_state(ck.extract(fmt::format("plugin{}", i)), objective_.dim());
      epoch_start = ck.integer("trainer.epoch_start") != 0;
      explode = ck.number("trainer.explode");
      res.final_loss = ck.number("trainer.final_loss");
      seconds_before = ck.number("trainer.seconds");
    } catch (const StateError& e) {
      throw StateError(fmt::format("{}: {}", path, e.what()));
    }
    res.steps = first_step;
    res.resumed_from = first_step;
  } else {
    if (theta0.dimension() != 1 || theta0.size() != objective_.dim())
      throw ShapeError(fmt::format("Trainer::run: θ₀ has shape {}, the objective has {} parameters",
                                   shape_str_of(theta0.shape()), objective_.dim()));
    cur.theta = std::move(theta0);
  }

  std::unique_ptr<CsvWriter> csv;
  if (!options_.metrics_csv.empty()) {
    if (checkpoint) {
      res.metrics = resume_metrics_csv(options_.metrics_csv, res.metrics.columns, first_step);
      csv = std::make_unique<CsvWriter>(CsvWriter::append_to(options_.metrics_csv));
    } else {
      csv = std::make_unique<CsvWriter>(options_.metrics_csv, res.metrics.columns);
    }
  } else if (checkpoint && first_step > 0) {
    throw std::invalid_argument("Trainer::resume: the rows before the checkpoint are in metrics_csv, which is not set");
  }
  std::unique_ptr<TrajectoryWriter> traj;
  if (options_.trajectory_every > 0) {
    TrajectoryManifest m;
    m.objective = objective_.describe();
    m.optimizer = optimizer_.describe();
    m.objective_spec = options_.objective_spec_json;
    m.lr = optimizer_.current_lr();
    m.seed = options_.seed;
    m.batch_size = options_.batch_size;
    m.every = options_.trajectory_every;
    traj = std::make_unique<TrajectoryWriter>(
        checkpoint ? TrajectoryWriter::resume(options_.trajectory_dir, m, first_step)
                   : TrajectoryWriter(options_.trajectory_dir, m));
  }

  // f and ∇f at a GD iterate, from the Hessian's linearization when a plugin
  // due at that step needs ∇²f there (one primal pass serves both).
  // The loop allocates nothing that scales with θ or the data: cur and next
  // swap at each step and keep their buffers, and so do the batch gradient
  // and the row (only the recorded row is copied into the result).
  auto evaluate = [&](StepData& d) {
    bool hessian = false;
    for (const auto& a : plugins_) hessian |= a.plugin->needs_hessian() && due(a, d.step, true);
    if (hessian) {
      d.hessian = objective_.hessian_at(d.theta);
      d.full.value = d.hessian->value();
      copy_into(d.full.grad, d.hessian->grad());
    } else {
      d.full.value = objective_.value_and_grad(d.theta, d.full.grad);
    }
    d.full.known = true;
  };
  cur.step = first_step;
  cur.lr = optimizer_.current_lr();
  if (!sgd) evaluate(cur);
  if (!checkpoint) {
    const double f0 = cur.full ? cur.full.value : objective_.value(cur.theta);
    explode = options_.divergence_factor * std::max(std::abs(f0), 1.0);
  }
  Tensor batch_grad;
  Row row(res.metrics.columns);
  res.metrics.rows.reserve(std::min<std::size_t>(options_.max_steps, 1u << 16) + 1);
  auto elapsed = [&] { return seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };

  // The state at the start of step cur.step, once rows 0..cur.step−1 are in
  // the CSV (and the trajectory). f(θ_t) and ∇f(θ_t) are not saved: the
  // resumed run recomputes them, bit for bit.
  std::size_t checkpoint_step = first_step;
  double checkpoint_time = elapsed();
  auto write_checkpoint = [&] {
    StateDict ck;
    ck.merge("identity", identity());
    ck.put_integer("trainer.step", cur.step);
    ck.put("trainer.theta", cur.theta);
    ck.put_integer("trainer.epoch_start", epoch_start ? 1 : 0);
    ck.put_number("trainer.explode", explode);
    ck.put_number("trainer.final_loss", res.final_loss);
    ck.put_number("trainer.seconds", elapsed());
    StateDict part;
    optimizer_.save_state(part);
    ck.merge("optimizer", part);
    if (sampler) {
      part = StateDict();
      sampler->save_state(part);
      ck.merge("sampler", part);
    }
    for (std::size_t i = 0; i < plugins_.size(); ++i) {
      part = StateDict();
      plugins_[i].plugin->save_state(part);
      ck.merge(fmt::format("plugin{}", i), part);
    }
    write_state(options_.checkpoint_path, ck);
    checkpoint_step = cur.step;
    checkpoint_time = elapsed();
  };

  for (;;) {
    const std::size_t t = cur.step;
    row.clear();
    row.set("step", double(t));
    row.set("lr", cur.lr);
    bool any_due = false;
    for (const auto& a : plugins_) any_due |= due(a, t, epoch_start);
    if (sgd && (any_due || (goals && epoch_start)) && !cur.full) {
      cur.full.value = objective_.value_and_grad(cur.theta, cur.full.grad);
      cur.full.known = true;
    }

    // 1. stop conditions on what is known at θ_t
    std::optional<Outcome> stop;
    if (cur.full) {
      const double f = cur.full.value;
      res.final_loss = f;
      if (!std::isfinite(f) || f > explode || !all_finite(cur.full.grad)) {
        stop = Outcome::Diverged;
        res.diverged_at = t;
      } else if (options_.loss_goal && f <= *options_.loss_goal) {
        stop = Outcome::LossGoal;
      } else if (options_.accuracy_goal) {
        const auto acc = objective_.accuracy(cur.theta);
        if (acc && *acc >= *options_.accuracy_goal) stop = Outcome::AccuracyGoal;
      }
    }
    if (!stop && t >= options_.max_steps) stop = Outcome::MaxSteps;

    // 2. the update θ_t → θ_{t+1}
    next.forget();
    if (!stop) {
      const Tensor* g = nullptr;
      if (sgd) {
        const double batch_loss = objective_.batch_value_and_grad(cur.theta, sampler->next(), batch_grad);
        row.set("batch_loss", batch_loss);
        if (!std::isfinite(batch_loss) || !all_finite(batch_grad)) {
          stop = Outcome::Diverged;
          res.diverged_at = t;
        }
        g = &batch_grad;
      } else {
        g = &cur.full.grad;
      }
      if (!stop) {
        next.step = t + 1;
        copy_into(next.theta, cur.theta);
        optimizer_.step(next.theta, *g);
        next.lr = optimizer_.current_lr();
        if (!sgd) evaluate(next);
        if (exact_gd) {  // θ_{t+1} = θ_t − η∇f(θ_t) bit for bit: the probe is free
          cur.probe.known = true;
          cur.probe.value = next.full.value;
          copy_into(cur.probe.grad, next.full.grad);
          copy_into(cur.probe_point, next.theta);
        }
        res.steps = t + 1;
      }
    }

    // 3. plugins at step t (not at a diverged step: its θ is not data to analyse)
    const bool diverged_here = stop == Outcome::Diverged && res.diverged_at == t;
    cur.successor = next.step == t + 1 && res.steps == t + 1 ? &next : nullptr;  // the update happened
    if (!diverged_here) {
      StepContext ctx(cur, objective_, &optimizer_, options_.batch_size, options_.seed);
      ctx.set_output_dir(options_.plugin_output_dir);
      for (auto& a : plugins_) {
        if (!due(a, t, epoch_start)) continue;
        try {
          a.plugin->observe(ctx, row);
        } catch (const NumericalError& e) {  // the run ends here as diverged; the row keeps what was computed
          stop = Outcome::Diverged;
          res.diverged_at = t;
          res.diverged_why = fmt::format("plugin {}: {}", a.plugin->name(), e.what());
          break;
        }
      }
    } else if (has_loss_column && cur.full) {
      row.set("loss", cur.full.value);
    }
    res.metrics.rows.push_back(row.values());
    if (csv) csv->write(row.values());
    if (traj && (t % options_.trajectory_every == 0 || (stop && !diverged_here))) traj->record(t, cur.lr, cur.theta);
    if (options_.on_step)
      options_.on_step({t, options_.max_steps, &res.metrics.columns, &res.metrics.rows.back(), elapsed(),
                        stop.has_value()});
    if (stop) {
      res.outcome = *stop;
      break;
    }
    epoch_start = sgd ? sampler->epoch_ended() : true;
    std::swap(cur, next);
    if (!options_.checkpoint_path.empty() &&
        ((options_.checkpoint_every > 0 && cur.step - checkpoint_step >= options_.checkpoint_every) ||
         (options_.checkpoint_seconds > 0 && elapsed() - checkpoint_time >= options_.checkpoint_seconds)))
      write_checkpoint();
  }
  res.theta = cur.theta;
  res.seconds = elapsed();
  if (traj) traj->finish(res.describe());
  if (!options_.summary_json.empty()) {
    nlohmann::json j;
    j["objective"] = objective_.describe();
    j["optimizer"] = optimizer_.describe();
    j["settings"] = {{"max_steps", options_.max_steps},
                     {"batch_size", options_.batch_size},
                     {"with_replacement", options_.with_replacement},
                     {"seed", options_.seed},
                     {"lr0", optimizer_.current_lr()},
                     {"divergence_factor", std::isfinite(options_.divergence_factor) ? nlohmann::json(options_.divergence_factor) : nlohmann::json("inf")},
                     {"loss_goal", options_.loss_goal ? nlohmann::json(*options_.loss_goal) : nlohmann::json()},
                     {"accuracy_goal", options_.accuracy_goal ? nlohmann::json(*options_.accuracy_goal) : nlohmann::json()}};
    nlohmann::json plugins = nlohmann::json::array();
    for (const auto& a : plugins_)
      plugins.push_back({{"name", a.plugin->name()}, {"every", a.when.every}, {"epoch_end", a.when.epoch_end}});
    j["plugins"] = plugins;
    for (const auto& a : plugins_)
      if (const std::string extra = a.plugin->summary_json(); !extra.empty())
        j[a.plugin->name()] = nlohmann::json::parse(extra);
    j["outcome"] = to_string(res.outcome);
    j["outcome_text"] = res.describe();
    j["diverged_at_step"] = res.diverged_at ? nlohmann::json(*res.diverged_at) : nlohmann::json();
    j["steps"] = res.steps;
    j["final_loss"] = std::isfinite(res.final_loss) ? nlohmann::json(res.final_loss) : nlohmann::json(fmt::format("{}", res.final_loss));
    j["wall_seconds"] = res.seconds;
    j["metrics_csv"] = options_.metrics_csv;
    j["trajectory_dir"] = options_.trajectory_dir;
    j["resumed_from_step"] = checkpoint ? nlohmann::json(first_step) : nlohmann::json();
    write_file_atomically(options_.summary_json, j.dump(2) + "\n");
  }
  // The run is complete: its checkpoint is no longer state to resume from.
  if (!options_.checkpoint_path.empty()) {
    std::filesystem::remove(options_.checkpoint_path);
    std::filesystem::remove(options_.checkpoint_path + ".tmp");  // left by a run killed mid-write
  }
  return res;
}

}  // namespace eos::analysis
