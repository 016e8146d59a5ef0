#include "spec.hpp"

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

ObjectiveSpec ObjectiveSpec::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::invalid_argument(fmt::format("objective spec: not valid JSON ({})", e.what()));
  }
  ObjectiveSpec s;
  auto get = [](const nlohmann::json& obj, const char* key, auto& into) {
    if (!obj.contains(key)) return;
    try {
      obj.at(key).get_to(into);
    } catch (const nlohmann::json::exception&) {
      throw std::invalid_argument(fmt::format("objective spec: field '{}' has the wrong type ({})", key, obj.at(key).dump()));
    }
  };
  if (j.contains("data")) {
    const auto& d = j.at("data");
    get(d, "source", s.data.source);
    get(d, "path", s.data.path);
    get(d, "split", s.data.split);
    get(d, "n", s.data.n);
    get(d, "scale_unit", s.data.scale_unit);
    get(d, "standardize", s.data.standardize);
    get(d, "label_column", s.data.label_column);
    get(d, "dim", s.data.dim);
    get(d, "classes", s.data.classes);
    get(d, "separation", s.data.separation);
    get(d, "seed", s.data.seed);
  }
  get(j, "hidden", s.hidden);
  get(j, "activation", s.activation);
  get(j, "bias", s.bias);
  get(j, "loss", s.loss);
  get(j, "chunk_size", s.chunk_size);
  get(j, "weight_decay", s.weight_decay);
  get(j, "init", s.init);
  get(j, "init_seed", s.init_seed);
  return s;
}

data::Dataset build_dataset(const DataSpec& s) {
  data::Split split;
  if (s.split == "train") split = data::Split::Train;
  else if (s.split == "test") split = data::Split::Test;
  else throw std::invalid_argument(fmt::format("data spec: split '{}' (expected train or test)", s.split));
  const std::optional<std::size_t> limit = s.n ? std::optional<std::size_t>(s.n) : std::nullopt;
  data::Dataset ds;
  bool image = false;
  if (s.source == "fashion-mnist") {
    ds = data::load_fashion_mnist(split, s.path.empty() ? data::kFashionMnistDir : s.path, limit);
    image = true;
  } else if (s.source == "idx") {
    if (s.path.empty()) throw std::invalid_argument("data spec: idx needs path = the directory of the idx files");
    ds = data::load_idx_directory(split, s.path, limit);
    image = true;
  } else if (s.source == "cifar10") {
    if (s.path.empty()) throw std::invalid_argument("data spec: cifar10 needs path = the directory of the .bin batches");
    ds = data::load_cifar10(split, s.path);
    if (limit) ds = data::first_n(ds, *limit);
    image = true;
  } else if (s.source == "csv") {
    data::CsvOptions o;
    o.label_column = s.label_column;
    ds = data::load_csv(s.path, o);
    if (limit) ds = data::first_n(ds, *limit);
  } else if (s.source == "gaussian_clusters") {
    ds = data::gaussian_clusters(s.n, s.dim, s.classes, s.separation, s.seed);
  } else {
    throw std::invalid_argument(fmt::format(
        "data spec: source '{}' (expected fashion-mnist, idx, cifar10, csv or gaussian_clusters)", s.source));
  }
  if (image && s.scale_unit) data::scale_features(ds, 1.0 / 255.0);
  if (s.standardize) data::Standardizer::fit(ds.X).apply(ds);
  return ds;
}

BuiltObjective build_objective(const ObjectiveSpec& s) {
  const data::Dataset ds = build_dataset(s.data);
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
