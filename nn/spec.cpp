#include "spec.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../datasets/loaders.hpp"
#include "../datasets/synthetic.hpp"
#include "../datasets/transforms.hpp"
#include "init.hpp"

namespace eos::nn {

std::string ObjectiveSpec::to_json() const {
  nlohmann::json d = {{"source", data.source}, {"path", data.path}, {"split", data.split}, {"n", data.n},
                      {"scale_unit", data.scale_unit}, {"standardize", data.standardize},
                      {"label_column", data.label_column}, {"dim", data.dim}, {"classes", data.classes},
                      {"separation", data.separation}, {"seed", data.seed}};
  nlohmann::json j = {{"data", d},          {"hidden", hidden},       {"activation", activation},
                      {"bias", bias},       {"loss", loss},           {"chunk_size", chunk_size},
                      {"weight_decay", weight_decay}, {"init", init}, {"init_seed", init_seed}};
  return j.dump();
}

namespace {

// Strict reading: the spec rebuilds the very objective a trajectory was
// recorded with, so anything that is not exactly a field of the right type is
// an error naming the field — never a silent default.
class SpecReader {
 public:
  SpecReader(const nlohmann::json& obj, std::string where) : obj_(obj), where_(std::move(where)) {
    if (!obj.is_object())
      throw std::invalid_argument(fmt::format("objective spec: {} must be a JSON object, got {}", where_, obj.dump()));
  }
  template <class Fn>
  void field(const char* key, Fn&& read) {
    known_.push_back(key);
    if (obj_.contains(key)) read(obj_.at(key), fmt::format("{}.{}", where_, key));
  }
  void text(const char* key, std::string& into) {
    field(key, [&](const nlohmann::json& v, const std::string& name) {
      if (!v.is_string()) fail(name, v, "a string");
      into = v.get<std::string>();
    });
  }
  void flag(const char* key, bool& into) {
    field(key, [&](const nlohmann::json& v, const std::string& name) {
      if (!v.is_boolean()) fail(name, v, "true or false");
      into = v.get<bool>();
    });
  }
  template <class U>
  void count(const char* key, U& into) {
    field(key, [&](const nlohmann::json& v, const std::string& name) { into = unsigned_of(v, name); });
  }
  void number(const char* key, double& into) {
    field(key, [&](const nlohmann::json& v, const std::string& name) {
      if (!v.is_number() || !std::isfinite(v.get<double>())) fail(name, v, "a finite number");
      into = v.get<double>();
    });
  }
  void counts(const char* key, std::vector<std::size_t>& into) {
    field(key, [&](const nlohmann::json& v, const std::string& name) {
      if (!v.is_array()) fail(name, v, "an array of non-negative integers");
      into.clear();
      for (const auto& e : v) into.push_back(unsigned_of(e, name));
    });
  }
  // Every key present must be one this reader asked for.
  void finish() const {
    for (const auto& [k, v] : obj_.items())
      if (std::find(known_.begin(), known_.end(), k) == known_.end())
        throw std::invalid_argument(fmt::format("objective spec: unknown field '{}.{}'", where_, k));
  }

 private:
  [[noreturn]] static void fail(const std::string& name, const nlohmann::json& v, const char* expected) {
    throw std::invalid_argument(fmt::format("objective spec: field '{}' = {}: expected {}", name, v.dump(), expected));
  }
  static std::uint64_t unsigned_of(const nlohmann::json& v, const std::string& name) {
    if (!v.is_number_unsigned()) fail(name, v, "a non-negative integer");
    return v.get<std::uint64_t>();
  }
  const nlohmann::json& obj_;
  std::string where_;
  std::vector<std::string> known_;
};

}  // namespace

ObjectiveSpec ObjectiveSpec::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::invalid_argument(fmt::format("objective spec: not valid JSON ({})", e.what()));
  }
  ObjectiveSpec s;
  SpecReader top(j, "spec");
  top.field("data", [&](const nlohmann::json& dj, const std::string&) {
    SpecReader d(dj, "data");
    d.text("source", s.data.source);
    d.text("path", s.data.path);
    d.text("split", s.data.split);
    d.count("n", s.data.n);
    d.flag("scale_unit", s.data.scale_unit);
    d.flag("standardize", s.data.standardize);
    d.count("label_column", s.data.label_column);
    d.count("dim", s.data.dim);
    d.count("classes", s.data.classes);
    d.number("separation", s.data.separation);
    d.count("seed", s.data.seed);
    d.finish();
  });
  top.counts("hidden", s.hidden);
  top.text("activation", s.activation);
  top.flag("bias", s.bias);
  top.text("loss", s.loss);
  top.count("chunk_size", s.chunk_size);
  top.number("weight_decay", s.weight_decay);
  top.text("init", s.init);
  top.count("init_seed", s.init_seed);
  top.finish();
  return s;
}

data::Dataset load_dataset_rows(const DataSpec& s, std::size_t first, std::optional<std::size_t> count) {
  data::Split split;
  if (s.split == "train") split = data::Split::Train;
  else if (s.split == "test") split = data::Split::Test;
  else throw std::invalid_argument(fmt::format("data spec: split '{}' (expected train or test)", s.split));
  // Rows past the spec's first n are not the spec's to give.
  if (s.n && (first > s.n || (count && *count > s.n - first)))
    throw std::invalid_argument(fmt::format("data spec: rows [{}, {}) of the first {}", first,
                                            first + count.value_or(0), s.n));
  if (!count && s.n) count = s.n - first;
  // Sources read whole, then cut to the rows.
  auto cut = [&](data::Dataset ds) {
    return first == 0 && (!count || *count == ds.size())
               ? ds
               : data::rows_of(ds, first, count.value_or(first <= ds.size() ? ds.size() - first : 0));
  };
  data::Dataset ds;
  bool image = false;
  if (s.source == "fashion-mnist") {
    ds = data::load_fashion_mnist(split, s.path.empty() ? data::kFashionMnistDir : s.path, count, first);
    image = true;
  } else if (s.source == "idx") {
    if (s.path.empty()) throw std::invalid_argument("data spec: idx needs path = the directory of the idx files");
    ds = data::load_idx_directory(split, s.path, count, first);
    image = true;
  } else if (s.source == "cifar10") {
    if (s.path.empty()) throw std::invalid_argument("data spec: cifar10 needs path = the directory of the .bin batches");
    ds = data::load_cifar10(split, s.path, first, count);
    image = true;
  } else if (s.source == "csv") {
    data::CsvOptions o;
    o.label_column = s.label_column;
    ds = cut(data::load_csv(s.path, o));
  } else if (s.source == "gaussian_clusters") {
    ds = cut(data::gaussian_clusters(s.n, s.dim, s.classes, s.separation, s.seed));
  } else {
    throw std::invalid_argument(fmt::format(
        "data spec: source '{}' (expected fashion-mnist, idx, cifar10, csv or gaussian_clusters)", s.source));
  }
  if (image && s.scale_unit) data::scale_features(ds, 1.0 / 255.0);
  return ds;
}

std::size_t dataset_size(const DataSpec& s) {
  if (s.n) return s.n;
  const data::Split split = s.split == "test" ? data::Split::Test : data::Split::Train;
  if (s.source == "fashion-mnist") return data::idx_directory_size(split, s.path.empty() ? data::kFashionMnistDir : s.path);
  if (s.source == "idx") return data::idx_directory_size(split, s.path);
  if (s.source == "cifar10") return data::cifar10_size(split, s.path);
  return load_dataset_rows(s, 0, std::nullopt).size();  // CSV: read to count
}

data::Dataset build_dataset(const DataSpec& s) {
  data::Dataset ds = load_dataset_rows(s, 0, std::nullopt);
  if (s.standardize) data::Standardizer::fit(ds.X).apply(ds);
  return ds;
}

BuiltObjective build_objective(const ObjectiveSpec& s) { return build_objective_on(s, build_dataset(s.data)); }

BuiltObjective build_objective_on(const ObjectiveSpec& s, data::Dataset ds) {
  BuiltObjective b;
  b.net = mlp({ds.dim(), s.hidden, parse_activation(s.activation), ds.num_classes ? ds.num_classes : ds.targets.shape()[1], s.bias});
  ObjectiveOptions o;
  o.chunk_size = s.chunk_size;
  o.weight_decay = s.weight_decay;
  b.objective = std::make_unique<ModelObjective>(as_model(b.net), parse_loss(s.loss), ds, o);
  b.theta0 = init_params(*b.net, parse_init(s.init), s.init_seed);
  return b;
}

}  // namespace eos::nn
