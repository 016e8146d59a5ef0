// A complete, serializable description of a model objective: data (a
// data::DataSpec), model (MLP), loss, evaluation options and init. A
// trajectory manifest records it as JSON; build_objective rebuilds the very
// same objective for offline analysis.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../datasets/spec.hpp"
#include "objective.hpp"

namespace eos::nn {

using data::DataSpec;  // datasets/spec.hpp; nn::DataSpec is kept for one release

struct ObjectiveSpec {
  DataSpec data;
  std::vector<std::size_t> hidden = {200, 200};
  std::string activation = "tanh";
  bool bias = true;
  std::string loss = "ce";               // ce | mse
  std::size_t chunk_size = 5000;
  double weight_decay = 0.0;
  std::string init = "pytorch";          // pytorch | xavier | he
  std::uint64_t init_seed = 0;

  std::string to_json() const;
  static ObjectiveSpec from_json(const std::string& json);  // errors name the field
};

// Moved to datasets/spec.hpp (eos::data); these names are kept for one release.
using data::build_dataset;
using data::dataset_size;
using data::load_dataset_rows;

struct BuiltObjective {
  std::shared_ptr<Sequential> net;
  std::unique_ptr<ModelObjective> objective;
  Tensor theta0;  // the spec's initialization
};
BuiltObjective build_objective(const ObjectiveSpec& spec);
// The same on a dataset prepared elsewhere (a shard): the network's input
// and output sizes come from `num_classes` (all shards agree) and ds.dim().
BuiltObjective build_objective_on(const ObjectiveSpec& spec, data::Dataset ds);

}  // namespace eos::nn
