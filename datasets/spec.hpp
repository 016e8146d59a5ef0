// A dataset as data: where the examples come from (source, path, split),
// which of them (the first n in file order), and how they are prepared
// (scaling, per-feature standardization). A trajectory manifest records it
// inside the objective spec; build_dataset loads the very same examples again.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/defaults.hpp"
#include "dataset.hpp"

namespace eos::data {

struct DataSpec {
  // Defaults from core/defaults.hpp: an omitted field means what the omitted flag of `eoslab train` means.
  std::string source = defaults::data_source;  // fashion-mnist | idx | cifar10 | csv | gaussian_clusters
  std::string path;                      // directory (fashion-mnist, cifar10) or file (csv); empty: default
  std::string split = defaults::split;   // train | test
  std::size_t n = defaults::n;           // first n examples in file order (0: all)
  bool scale_unit = true;                // x/255 (image sources)
  bool standardize = defaults::standardize;  // per feature, statistics of the subset itself (zero std → 1)
  std::size_t label_column = 0;          // csv
  // The shape of one example as a convolutional model reads it ([C, H, W]),
  // when it is not the source's own (csv; idx images that are not square).
  // Empty: the source's (see example_shape).
  std::vector<std::size_t> input_shape;
  // gaussian_clusters
  std::size_t dim = 0, classes = 0;
  double separation = 1.0;
  std::uint64_t seed = defaults::seed;

  nlohmann::json to_json() const;
  // Strict: errors name the field ("objective spec: field 'data.n' = …").
  static DataSpec from_json(const nlohmann::json& j, const std::string& where = "data");
};

Dataset build_dataset(const DataSpec& spec);
// Examples [first, first + count) of those the spec selects (its first n, or
// the whole file; count unset: the rest), loaded and scaled but not
// standardized: a shard of a distributed run, which standardizes with the
// statistics of all shards. The idx sources stream past the other rows.
Dataset load_dataset_rows(const DataSpec& spec, std::size_t first, std::optional<std::size_t> count);
// How many examples the spec selects: n, or the file's count (idx and CIFAR-10
// from the files' headers and sizes; a CSV file is read).
std::size_t dataset_size(const DataSpec& spec);
// Features per example, from headers (idx), the format (CIFAR-10: 3072), the
// spec (synthetic) or a CSV's first line, without loading the data: what a
// memory estimate needs before anything is allocated.
std::size_t dataset_dim(const DataSpec& spec);
// The shape of one example: the declared input_shape (its product must be
// `dim`), else Fashion-MNIST's and idx's [1, h, w] (square images),
// CIFAR-10's [3, 32, 32], and [dim] for a CSV or synthetic data.
// std::invalid_argument names the field when a declared shape does not fit.
Shape example_shape(const DataSpec& spec, std::size_t dim);

}  // namespace eos::data
