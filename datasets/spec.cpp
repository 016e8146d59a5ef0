#include "spec.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "../core/strict_json.hpp"
#include "loaders.hpp"
#include "synthetic.hpp"
#include "transforms.hpp"

namespace eos::data {

nlohmann::json DataSpec::to_json() const {
  nlohmann::json j = {{"source", source}, {"path", path}, {"split", split}, {"n", n},
                      {"scale_unit", scale_unit}, {"standardize", standardize},
                      {"label_column", label_column}, {"dim", dim}, {"classes", classes},
                      {"separation", separation}, {"seed", seed}};
  if (!input_shape.empty()) j["input_shape"] = input_shape;  // written only when declared: older specs read the same
  return j;
}

DataSpec DataSpec::from_json(const nlohmann::json& j, const std::string& where) {
  DataSpec s;
  StrictJsonObject d(j, where, "objective spec");
  d.text("source", s.source);
  d.text("path", s.path);
  d.text("split", s.split);
  d.count("n", s.n);
  d.flag("scale_unit", s.scale_unit);
  d.flag("standardize", s.standardize);
  d.count("label_column", s.label_column);
  d.counts("input_shape", s.input_shape);
  d.count("dim", s.dim);
  d.count("classes", s.classes);
  d.number("separation", s.separation);
  d.count("seed", s.seed);
  d.finish();
  return s;
}

Dataset load_dataset_rows(const DataSpec& s, std::size_t first, std::optional<std::size_t> count) {
  Split split;
  if (s.split == "train") split = Split::Train;
  else if (s.split == "test") split = Split::Test;
  else throw std::invalid_argument(fmt::format("data spec: split '{}' (expected train or test)", s.split));
  // Rows past the spec's first n are not the spec's to give.
  if (s.n && (first > s.n || (count && *count > s.n - first)))
    throw std::invalid_argument(fmt::format("data spec: rows [{}, {}) of the first {}", first,
                                            first + count.value_or(0), s.n));
  if (!count && s.n) count = s.n - first;
  // Sources read whole, then cut to the rows.
  auto cut = [&](Dataset ds) {
    return first == 0 && (!count || *count == ds.size())
               ? ds
               : rows_of(ds, first, count.value_or(first <= ds.size() ? ds.size() - first : 0));
  };
  Dataset ds;
  bool image = false;
  if (s.source == "fashion-mnist") {
    ds = load_fashion_mnist(split, s.path.empty() ? kFashionMnistDir : s.path, count, first);
    image = true;
  } else if (s.source == "idx") {
    if (s.path.empty()) throw std::invalid_argument("data spec: idx needs path = the directory of the idx files");
    ds = load_idx_directory(split, s.path, count, first);
    image = true;
  } else if (s.source == "cifar10") {
    if (s.path.empty()) throw std::invalid_argument("data spec: cifar10 needs path = the directory of the .bin batches");
    ds = load_cifar10(split, s.path, first, count);
    image = true;
  } else if (s.source == "csv") {
    CsvOptions o;
    o.label_column = s.label_column;
    ds = cut(load_csv(s.path, o));
  } else if (s.source == "gaussian_clusters") {
    ds = cut(gaussian_clusters(s.n, s.dim, s.classes, s.separation, s.seed));
  } else {
    throw std::invalid_argument(fmt::format(
        "data spec: source '{}' (expected fashion-mnist, idx, cifar10, csv or gaussian_clusters)", s.source));
  }
  if (image && s.scale_unit) scale_features(ds, 1.0 / 255.0);
  return ds;
}

std::size_t dataset_size(const DataSpec& s) {
  if (s.n) return s.n;
  const Split split = s.split == "test" ? Split::Test : Split::Train;
  if (s.source == "fashion-mnist") return idx_directory_size(split, s.path.empty() ? kFashionMnistDir : s.path);
  if (s.source == "idx") return idx_directory_size(split, s.path);
  if (s.source == "cifar10") return cifar10_size(split, s.path);
  return load_dataset_rows(s, 0, std::nullopt).size();  // CSV: read to count
}

std::size_t dataset_dim(const DataSpec& s) {
  const Split split = s.split == "test" ? Split::Test : Split::Train;
  if (s.source == "fashion-mnist") return idx_directory_dim(split, s.path.empty() ? kFashionMnistDir : s.path);
  if (s.source == "idx") return idx_directory_dim(split, s.path);
  if (s.source == "cifar10") return 3072;
  if (s.source == "gaussian_clusters") return s.dim;
  if (s.source == "csv") {  // the first line's fields, less the label
    std::ifstream in(s.path);
    std::string line;
    while (std::getline(in, line) && (line.empty() || line == "\r")) {
    }
    std::size_t fields = line.empty() ? 0 : 1 + std::size_t(std::count(line.begin(), line.end(), ','));
    return fields > 0 ? fields - 1 : 0;
  }
  throw std::invalid_argument(fmt::format("data spec: source '{}' (expected fashion-mnist, idx, cifar10, csv or "
                                          "gaussian_clusters)",
                                          s.source));
}

Shape example_shape(const DataSpec& s, std::size_t dim) {
  if (!s.input_shape.empty()) {
    if (shape_size(s.input_shape) != dim)
      throw std::invalid_argument(fmt::format("data spec: input_shape {} holds {} values, but the examples of {} have {}",
                                              shape_str(s.input_shape), shape_size(s.input_shape), s.source, dim));
    return s.input_shape;
  }
  if (s.source == "cifar10" && dim == 3072) return {3, 32, 32};
  if (s.source == "fashion-mnist" || s.source == "idx") {
    std::size_t side = 0;
    while ((side + 1) * (side + 1) <= dim) ++side;
    if (side * side == dim) return {1, side, side};
  }
  return {dim};
}

Dataset build_dataset(const DataSpec& s) {
  Dataset ds = load_dataset_rows(s, 0, std::nullopt);
  ds.fingerprint = fingerprint_text(rows_fingerprint(ds), ds.size(), ds.dim());
  if (s.standardize) Standardizer::fit(ds.X).apply(ds);
  return ds;
}

}  // namespace eos::data
