// A complete, serializable description of a model objective: data (source,
// subset, preprocessing), model (MLP), loss, evaluation options and init. A
// trajectory manifest records it as JSON; build_objective rebuilds the very
// same objective for offline analysis.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "objective.hpp"

namespace eos::nn {

struct DataSpec {
  std::string source = "fashion-mnist";  // fashion-mnist | idx | cifar10 | csv | gaussian_clusters
  std::string path;                      // directory (fashion-mnist, cifar10) or file (csv); empty: default
  std::string split = "train";           // train | test
  std::size_t n = 0;                     // first n examples in file order (0: all)
  bool scale_unit = true;                // x/255 (image sources)
  bool standardize = true;               // per feature, statistics of the subset itself (zero std → 1)
  std::size_t label_column = 0;          // csv
  // gaussian_clusters
  std::size_t dim = 0, classes = 0;
  double separation = 1.0;
  std::uint64_t seed = 0;
};

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

data::Dataset build_dataset(const DataSpec& spec);

struct BuiltObjective {
  std::shared_ptr<Sequential> net;
  std::unique_ptr<ModelObjective> objective;
  Tensor theta0;  // the spec's initialization
};
BuiltObjective build_objective(const ObjectiveSpec& spec);

}  // namespace eos::nn
