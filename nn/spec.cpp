#include "spec.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../core/strict_json.hpp"
#include "arch.hpp"
#include "init.hpp"

namespace eos::nn {

std::string ObjectiveSpec::to_json() const {
  nlohmann::json j = {{"data", data.to_json()}, {"hidden", hidden},       {"activation", activation},
                      {"bias", bias},           {"loss", loss},           {"chunk_size", chunk_size},
                      {"weight_decay", weight_decay}, {"init", init}, {"init_seed", init_seed}};
  if (!model.empty()) j["model"] = model;  // written only when set: an MLP's spec reads as before
  if (!arch.empty()) j["arch"] = arch;
  return j.dump();
}

ObjectiveSpec ObjectiveSpec::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::invalid_argument(fmt::format("objective spec: not valid JSON ({})", e.what()));
  }
  ObjectiveSpec s;
  StrictJsonObject top(j, "spec", "objective spec");
  top.field("data", [&](const nlohmann::json& d, const std::string&) { s.data = data::DataSpec::from_json(d); });
  top.counts("hidden", s.hidden);
  top.text("activation", s.activation);
  top.flag("bias", s.bias);
  top.text("model", s.model);
  top.text("arch", s.arch);
  top.text("loss", s.loss);
  top.count("chunk_size", s.chunk_size);
  top.number("weight_decay", s.weight_decay);
  top.text("init", s.init);
  top.count("init_seed", s.init_seed);
  top.finish();
  return s;
}

namespace {
// Per example: the values of every layer's output (a residual block's inner
// layers counted as three outputs of its size), for a layer-text model.
double model_activations(const ObjectiveSpec& s, std::size_t dim, std::size_t outputs, double& parameters) {
  const Shape input = data::example_shape(s.data, dim);
  const auto net = parse_model(model_text(s, outputs), input);
  parameters = double(net->num_params());
  double activations = 0;
  Shape shape = input;
  for (const auto& m : net->modules()) {
    shape = m->output_shape(shape);
    const bool residual = dynamic_cast<const Residual*>(m.get()) != nullptr;
    activations += (residual ? 3.0 : 1.0) * double(shape_size(shape));
  }
  return activations;
}
}  // namespace

MemoryEstimate estimate_memory(const ObjectiveSpec& s, std::size_t n, std::size_t dim, std::size_t outputs,
                               bool linearized, bool float32_copies) {
  MemoryEstimate e;
  double in = double(dim), activations = 0;  // per row: the outputs of every Linear and activation
  if (!model_text(s, outputs).empty()) {
    activations = model_activations(s, dim, outputs, e.parameters) + double(dim);  // + the reshaped input
  } else {
    for (std::size_t h : s.hidden) {
      e.parameters += in * double(h) + (s.bias ? double(h) : 0.0);
      activations += 2.0 * double(h);
      in = double(h);
    }
    e.parameters += in * double(outputs) + (s.bias ? double(outputs) : 0.0);
  }
  activations += 3.0 * double(outputs);  // logits, log-softmax, its probabilities
  const double chunk = double(std::min(std::max<std::size_t>(s.chunk_size, 1), std::max<std::size_t>(n, 1)));
  const double rows = 4.0 * chunk + (linearized ? double(n) : 0.0);
  constexpr double kBuffersPerNode = 5, kBytes = 8;
  e.data = 3.0 * double(n) * double(dim) * kBytes;
  e.tapes = rows * activations * kBuffersPerNode * kBytes;
  if (linearized && float32_copies) e.tapes += double(n) * activations * 2 * 4;  // values and adjoints in float32
  e.per_vector = e.parameters * kBytes;
  return e;
}

BuiltObjective build_objective(const ObjectiveSpec& s) { return build_objective_on(s, data::build_dataset(s.data)); }

std::string model_text(const ObjectiveSpec& s, std::size_t classes) {
  if (!s.model.empty()) return s.model;
  if (!s.arch.empty()) return arch_model(s.arch, classes);
  return {};
}

bool couples_batch(const ObjectiveSpec& s) {
  try {
    const std::string text = model_text(s, 10);
    return !text.empty() && parse_model(text, data::example_shape(s.data, data::dataset_dim(s.data)))->couples_batch();
  } catch (const std::exception&) {
    return false;
  }
}

BuiltObjective build_objective_on(const ObjectiveSpec& s, data::Dataset ds) { return build_objective_on(s, std::move(ds), {}, 0); }

BuiltObjective build_objective_on(const ObjectiveSpec& s, data::Dataset ds,
                                  std::function<void(double*, std::size_t)> sum_across_ranks, std::size_t rows_across_ranks) {
  BuiltObjective b;
  const std::size_t outputs = ds.num_classes ? ds.num_classes : ds.targets.shape()[1];
  const std::string text = model_text(s, outputs);
  if (text.empty()) {
    b.net = mlp({ds.dim(), s.hidden, parse_activation(s.activation), outputs, s.bias});
    b.input_shape = {ds.dim()};
  } else {
    b.input_shape = data::example_shape(s.data, ds.dim());
    b.net = parse_model(text, b.input_shape);
    const Shape out = b.net->output_shape(b.input_shape);
    if (out != Shape{outputs})
      throw ModelSyntaxError(fmt::format("model '{}' gives outputs of shape {} per example, but the data have {} {}",
                                         text, shape_str(out), outputs, ds.num_classes ? "classes" : "targets"));
  }
  ObjectiveOptions o;
  o.chunk_size = s.chunk_size;
  o.threads = s.threads;
  o.weight_decay = s.weight_decay;
  o.batch_sum_across_ranks = std::move(sum_across_ranks);
  o.batch_rows_across_ranks = rows_across_ranks;
  b.objective = std::make_unique<ModelObjective>(as_model(b.net, b.input_shape), parse_loss(s.loss), ds, o);
  b.theta0 = init_params(*b.net, parse_init(s.init), s.init_seed);
  return b;
}

}  // namespace eos::nn
