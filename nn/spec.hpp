// A complete, serializable description of a model objective: data (source,
// subset, preprocessing), model (MLP), loss, evaluation options and init. A
// trajectory manifest records it as JSON; build_objective rebuilds the very
// same objective for offline analysis.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
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
// Examples [first, first + count) of those the spec selects (its first n, or
// the whole file; count unset: the rest), loaded and scaled but not
// standardized: a shard of a distributed run, which standardizes with the
// statistics of all shards. The idx sources stream past the other rows.
data::Dataset load_dataset_rows(const DataSpec& spec, std::size_t first, std::optional<std::size_t> count);
// How many examples the spec selects: n, or the file's count (idx and CIFAR-10
// from the files' headers and sizes; a CSV file is read).
std::size_t dataset_size(const DataSpec& spec);

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
