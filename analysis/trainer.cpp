#include "trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

namespace {
bool all_finite(const Tensor& t) {
  for (double v : t)
    if (!std::isfinite(v)) return false;
  return true;
}
}  // namespace

RunResult Trainer::run(Tensor theta0) {
  const auto start = std::chrono::steady_clock::now();
  if (theta0.dimension() != 1 || theta0.size() != objective_.dim())
    throw ShapeError(fmt::format("Trainer::run: θ₀ has shape {}, the objective has {} parameters",
                                 shape_str_of(theta0.shape()), objective_.dim()));
  const bool sgd = options_.batch_size > 0;
  const bool exact_gd = !sgd && optimizer_.weight_decay() == 0.0 &&
                        dynamic_cast<const optim::GradientDescent*>(&optimizer_) != nullptr;
  const bool goals = options_.loss_goal || options_.accuracy_goal;
  RunResult res;
  res.metrics.columns = columns();
  const bool has_loss_column = std::find(res.metrics.columns.begin(), res.metrics.columns.end(), "loss") !=
                               res.metrics.columns.end();
  std::unique_ptr<CsvWriter> csv;
  if (!options_.metrics_csv.empty()) csv = std::make_unique<CsvWriter>(options_.metrics_csv, res.metrics.columns);
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
    traj = std::make_unique<TrajectoryWriter>(options_.trajectory_dir, m);
  }
  std::unique_ptr<data::MinibatchSampler> sampler;
  if (sgd)
    sampler = std::make_unique<data::MinibatchSampler>(
        objective_.num_examples(), options_.batch_size,
        options_.with_replacement ? data::MinibatchSampler::Replacement::With
                                  : data::MinibatchSampler::Replacement::Without,
        options_.seed);
  for (auto& a : plugins_) a.plugin->reset();

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
  StepData cur, next;
  cur.step = 0;
  cur.theta = std::move(theta0);
  cur.lr = optimizer_.current_lr();
  if (!sgd) evaluate(cur);
  const double f0 = cur.full ? cur.full.value : objective_.value(cur.theta);
  const double explode = options_.divergence_factor * std::max(std::abs(f0), 1.0);
  bool epoch_start = true;
  Tensor batch_grad;
  Row row(res.metrics.columns);
  res.metrics.rows.reserve(std::min<std::size_t>(options_.max_steps, 1u << 16) + 1);

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
    if (!diverged_here) {
      StepContext ctx(cur, objective_, &optimizer_, options_.batch_size, options_.seed);
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
      options_.on_step({t, options_.max_steps, &res.metrics.columns, &res.metrics.rows.back(),
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                        stop.has_value()});
    if (stop) {
      res.outcome = *stop;
      break;
    }
    epoch_start = sgd ? sampler->epoch_ended() : true;
    std::swap(cur, next);
  }
  res.theta = cur.theta;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
    j["outcome"] = to_string(res.outcome);
    j["outcome_text"] = res.describe();
    j["diverged_at_step"] = res.diverged_at ? nlohmann::json(*res.diverged_at) : nlohmann::json();
    j["steps"] = res.steps;
    j["final_loss"] = std::isfinite(res.final_loss) ? nlohmann::json(res.final_loss) : nlohmann::json(fmt::format("{}", res.final_loss));
    j["wall_seconds"] = res.seconds;
    j["metrics_csv"] = options_.metrics_csv;
    j["trajectory_dir"] = options_.trajectory_dir;
    std::ofstream out(options_.summary_json);
    if (!out) throw std::runtime_error(fmt::format("{}: cannot open for writing", options_.summary_json));
    out << j.dump(2) << '\n';
  }
  return res;
}

}  // namespace eos::analysis
