// Analysis plugins: each observes steps of a trajectory and emits named
// columns. The same plugin runs online (attached to a Trainer) or offline (on
// a recorded trajectory) and gives the same numbers.
//
// Step data flows one way: f(θ_t) and ∇f(θ_t) are computed once per step and
// shared by every plugin (StepContext::loss/grad). The GD probe point
// θ_t − η∇f(θ_t), with its loss and gradient, is what RP_t and L_t need; under
// plain full-batch GD it IS θ_{t+1}, whose loss and gradient the trainer
// computes anyway, so those plugins cost nothing extra.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../core/objective.hpp"
#include "../optim/optimizer.hpp"

namespace eos::analysis {

// L(θ; v) = ⟨v, ∇f(θ) − ∇f(θ − v)⟩ / ‖v‖², from v and the two gradients
// (differences taken elementwise first: no cancellation between two inner products).
double directional_smoothness(const Tensor& v, const Tensor& grad_at_theta, const Tensor& grad_at_theta_minus_v);

// What is known of one step t; filled by the trainer or the offline replay.
// f and ∇f at one point, when known. `forget` keeps the gradient's buffer, so
// a trainer that reuses its StepData allocates nothing per step.
struct Evaluation {
  bool known = false;
  double value = 0.0;
  Tensor grad;
  explicit operator bool() const { return known; }
  void forget() { known = false; }
};

struct StepData {
  std::size_t step = 0;
  Tensor theta;                       // θ_t
  double lr = 0.0;                    // η_t, the step size of θ_t → θ_{t+1}
  Evaluation full;                    // f(θ_t), ∇f(θ_t)
  Evaluation probe;                   // f, ∇f at θ_t − η_t ∇f(θ_t)
  Tensor probe_point;
  // ∇²f(θ_t) linearized at θ_t, shared by every plugin of the step.
  std::shared_ptr<HessianOperator> hessian;
  // A plugin due at t needs ∇²f(θ_t): f(θ_t) and ∇f(θ_t) are then taken from
  // the linearization's primal sweeps (one pass serves both).
  bool wants_hessian = false;
  // Step t + 1 as the run actually took it (any optimizer): its θ_{t+1}, and
  // f and ∇f there once known. Set by the trainer while step t's plugins run
  // (the update is done by then), and offline when the next recorded step
  // is t + 1; null otherwise.
  StepData* successor = nullptr;
  // θ_{t+1} = θ_t − η_t∇f(θ_t) bit for bit (the optimizer's plain gradient
  // step on the full-batch gradient): the probe is the successor.
  bool successor_is_probe = false;
  // Forget everything known at the old point (buffers are kept).
  void forget() {
    full.forget();
    probe.forget();
    hessian.reset();
    wants_hessian = false;
    successor = nullptr;
    successor_is_probe = false;
  }
};

// The one lazy evaluator of a step's quantities: each is computed at most
// once, when first asked for, by the trainer or by a plugin, and shared.
class StepContext {
 public:
  StepContext(StepData& data, Objective& objective, const optim::Optimizer* optimizer, std::size_t batch_size,
              std::uint64_t seed)
      : data_(data), objective_(objective), optimizer_(optimizer), batch_size_(batch_size), seed_(seed) {}
  std::size_t step() const { return data_.step; }
  const Tensor& theta() const { return data_.theta; }
  double lr() const { return data_.lr; }
  Objective& objective() { return objective_; }
  const optim::Optimizer* optimizer() const { return optimizer_; }  // null offline unless given
  std::size_t batch_size() const { return batch_size_; }            // the run's minibatch size; 0 = full batch
  // Where a plugin may write files of its own (the run's folder; empty: nowhere).
  const std::string& output_dir() const { return output_dir_; }
  void set_output_dir(std::string dir) { output_dir_ = std::move(dir); }
  // A seed for stochastic estimates at this step, equal online and offline.
  std::uint64_t seed_for(const std::string& plugin) const;

  double loss();            // f(θ_t), full batch
  const Tensor& grad();     // ∇f(θ_t)
  double grad_norm_sq();     // may overflow where ‖∇f‖ passes ~1e154
  double grad_norm();        // ‖∇f(θ_t)‖, also there (eos::norm)
  bool evaluated() const { return data_.full.known; }  // f(θ_t) and ∇f(θ_t) are known already
  // At p = θ_t − η_t ∇f(θ_t):
  const Tensor& probe_point();
  double probe_loss();
  const Tensor& probe_grad();
  // RP(θ_t) = (f(p) − f(θ_t)) / (η‖∇f‖²); L(θ_t; η∇f) = ⟨∇f, ∇f − ∇f(p)⟩ / (η‖∇f‖²)
  double relative_progress();
  double directional_smoothness();
  // v ↦ ∇²f(θ_t)·v, linearized once per step (and f, ∇f from the same sweeps
  // if they were not known yet).
  HessianOperator& hessian();
  // The actual update θ_t → θ_{t+1} (any optimizer), when known: θ_{t+1} and
  // f, ∇f there (computed once if the trainer has not: SGD, offline).
  bool has_next() const { return data_.successor != nullptr; }
  const Tensor& next_theta();
  double next_loss();
  const Tensor& next_grad();

 private:
  void evaluate(StepData& d);   // f and ∇f at d.θ, from the linearization when d wants one
  void linearize(StepData& d);  // ∇²f at d.θ (and f, ∇f from its sweeps)
  const Evaluation& probe();
  StepData& data_;
  Objective& objective_;
  const optim::Optimizer* optimizer_;
  std::size_t batch_size_;
  std::uint64_t seed_;
  std::string output_dir_;
};

// One row of metrics: a value per column, or none.
class Row {
 public:
  explicit Row(const std::vector<std::string>& columns);
  void set(std::string_view column, double value);  // no allocation: a trainer reuses one Row
  const std::optional<double>& get(std::string_view column) const;
  bool has_column(std::string_view column) const { return index_->find(column) != index_->end(); }
  const std::vector<std::optional<double>>& values() const { return values_; }
  void clear();  // every column back to "no value"

 private:
  std::shared_ptr<const std::map<std::string, std::size_t, std::less<>>> index_;
  std::vector<std::optional<double>> values_;
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::string name() const = 0;
  // Called once with the objective before columns() is asked for, by the
  // Trainer's attach and by analyze_trajectory: a plugin whose columns depend
  // on the model (one per parameter block) learns it here.
  virtual void bind(const Objective& /*objective*/) {}
  virtual std::vector<std::string> columns() const = 0;
  virtual void observe(StepContext& ctx, Row& row) = 0;
  // Whether observe() calls ctx.hessian(): the trainer then linearizes θ_t in
  // the pass that computes f(θ_t) and ∇f(θ_t) anyway.
  virtual bool needs_hessian() const { return false; }
  // How many vectors the size of θ the plugin holds at its peak (a Krylov
  // basis, probes): what a memory estimate counts before a run is built.
  virtual std::size_t memory_vectors() const { return 2; }
  // Whether its HVPs ask the linearization for float32 products (which then
  // keeps float32 copies of its values and adjoints: memory the estimate counts).
  virtual bool float32_products() const { return false; }
  // Whether the plugin can run in this run (its batch size; the optimizer,
  // null offline): throws std::invalid_argument naming the plugin and what
  // does not fit, before the run writes anything (central_flow with SGD,
  // sgd_rp at full batch without batch=…).
  virtual void check_run(std::size_t /*batch_size*/, const optim::Optimizer* /*optimizer*/) const {}
  // Forget state carried between steps (warm starts), before a new run.
  virtual void reset() {}
  // A JSON object summarizing the whole run for summary.json (under the
  // plugin's name), or empty for none.
  virtual std::string summary_json() const { return {}; }
  // The state carried between steps, for checkpoints: a plugin whose
  // observe() depends on earlier steps saves it here, so that a resumed run
  // continues bit for bit (dim: the objective's parameter count, to check
  // what is loaded). Plugins without such state keep the defaults.
  virtual void save_state(StateDict& /*into*/) const {}
  virtual void load_state(const StateDict& /*from*/, std::size_t /*dim*/) {}
};

// When a plugin runs: every `every` steps (t % every == 0), or at the ends of
// epochs (t = 0 and the first step of each later epoch; under full-batch GD
// every step ends an epoch).
struct When {
  std::size_t every = 1;
  bool epoch_end = false;
  static When every_step() { return {1, false}; }
  static When every_k(std::size_t k) { return {k, false}; }
  static When at_epoch_end() { return {1, true}; }
};

// ---- options: each declared once (name, default, range, meaning) -----------
// The registry checks a spec's values against the declarations before a
// plugin is made (unknown keys, types, ranges, choices: errors name the
// plugin, the option, the value and what was expected) and writes the
// documentation (`eoslab plugins`) from the same declarations, so the
// default a user reads is the default a plugin gets.
struct OptionDecl {
  enum class Kind { Count, Number, Choice, Text };
  // A default and range that hold when another option has a given value
  // (tau_profile's m: 100 nodes on the uniform grid, 16 Gauss nodes).
  struct Variant {
    std::string when;           // the other option's value
    std::string default_text;
    double min = 0, max = 0;
  };
  std::string name;
  Kind kind = Kind::Text;
  std::string default_text;     // parsed like a user's value
  double min = 0, max = 0;      // Count and Number: the accepted range
  std::vector<std::string> choices;  // Choice
  std::string doc;
  std::string depends_on;       // the option the variants depend on
  std::vector<Variant> variants;

  static OptionDecl count(std::string name, std::string default_text, std::size_t min, std::size_t max, std::string doc);
  static OptionDecl number(std::string name, std::string default_text, double min, double max, std::string doc);
  static OptionDecl choice(std::string name, std::vector<std::string> choices, std::string doc);  // default: the first
  static OptionDecl text(std::string name, std::string default_text, std::string doc);
  OptionDecl& depending_on(std::string option, std::vector<Variant> variants);
  std::string signature() const;  // "k=1", "m=100 (grid=uniform) / 16 (grid=gauss)"
  std::string meaning() const;    // the doc with the range or the choices
};

using PluginOptions = std::map<std::string, std::string>;  // a spec's key=value pairs, as text

// A plugin's options once checked: every declared option has a value (given
// or default). Asking for an undeclared name is a programming error.
class OptionValues {
 public:
  OptionValues(const std::string& plugin, const std::vector<OptionDecl>& decls, const PluginOptions& given);
  std::size_t count(const std::string& name) const;
  double number(const std::string& name) const;
  const std::string& text(const std::string& name) const;  // Choice and Text
  const std::string& plugin() const { return plugin_; }      // whose options (for errors)

 private:
  struct Value {
    OptionDecl::Kind kind = OptionDecl::Kind::Text;
    std::string text;
    double number = 0.0;
    std::size_t count = 0;
  };
  const Value& get(const std::string& name, OptionDecl::Kind kind) const;
  std::string plugin_;
  std::map<std::string, Value> values_;
};

// ---- registry: name → factory, with documentation of the columns --------
struct PluginInfo {
  std::string name;
  std::string description;
  std::vector<std::pair<std::string, std::string>> columns;  // column (pattern) → meaning
  std::vector<OptionDecl> options;
  std::function<std::unique_ptr<Plugin>(const OptionValues&)> make;
};

class PluginRegistry {
 public:
  static PluginRegistry& global();  // holds the built-in plugins
  // Replaces an entry of the same name. Each option's default is checked
  // here against its own declaration (std::logic_error for a bad one).
  void add(PluginInfo info);
  bool contains(const std::string& name) const;
  const PluginInfo& info(const std::string& name) const;
  std::vector<std::string> names() const;
  // Options are checked against the plugin's declarations (std::invalid_argument).
  std::unique_ptr<Plugin> create(const std::string& name, const PluginOptions& options = {}) const;
  // "sharpness:k=3,tol=1e-4" → create("sharpness", {{"k","3"},{"tol","1e-4"}})
  std::unique_ptr<Plugin> create_from_spec(const std::string& spec) const;

 private:
  std::map<std::string, PluginInfo> plugins_;
};

void register_builtin_plugins(PluginRegistry& registry);

}  // namespace eos::analysis
