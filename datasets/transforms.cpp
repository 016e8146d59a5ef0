#include "transforms.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace eos::data {

Dataset first_n(const Dataset& ds, std::size_t n) {
  if (n > ds.size())
    throw DataError(fmt::format("{}: the first {} examples were asked for, it has {}", ds.source, n, ds.size()));
  Dataset s = rows_of(ds, 0, n);
  s.source = fmt::format("first {} of {}", n, ds.source);
  return s;
}

Dataset rows_of(const Dataset& ds, std::size_t first, std::size_t count) {
  if (first > ds.size() || count > ds.size() - first)
    throw DataError(fmt::format("{}: examples [{}, {}) were asked for, it has {}", ds.source, first, first + count,
                                ds.size()));
  std::vector<std::size_t> idx(count);
  for (std::size_t i = 0; i < count; ++i) idx[i] = first + i;
  Dataset s = ds.subset(idx);
  s.source = fmt::format("examples [{}, {}) of {}", first, first + count, ds.source);
  return s;
}

Dataset stratified_subset(const Dataset& ds, std::size_t n, std::uint64_t seed) {
  if (!ds.has_labels()) throw DataError(fmt::format("{}: a stratified subset needs labels", ds.source));
  const std::size_t k = ds.num_classes;
  std::vector<std::vector<std::size_t>> by_class(k);
  for (std::size_t i = 0; i < ds.size(); ++i) by_class[ds.labels[i]].push_back(i);
  Rng rng(seed);
  std::vector<std::size_t> chosen;
  for (std::size_t c = 0; c < k; ++c) {
    const std::size_t want = n / k + (c < n % k ? 1 : 0);
    if (want > by_class[c].size())
      throw DataError(fmt::format("{}: class {} has {} examples, a stratified subset of {} needs {}", ds.source, c,
                                  by_class[c].size(), n, want));
    const auto perm = rng.permutation(by_class[c].size());
    for (std::size_t j = 0; j < want; ++j) chosen.push_back(by_class[c][perm[j]]);
  }
  std::sort(chosen.begin(), chosen.end());
  Dataset s = ds.subset(chosen);
  s.source = fmt::format("stratified {} of {} (seed {})", n, ds.source, seed);
  return s;
}

void scale_features(Dataset& ds, double factor) { ds.X *= factor; }

void flatten(Dataset& ds) {
  if (ds.X.dimension() < 2) throw DataError(fmt::format("{}: cannot flatten features of shape {}", ds.source, shape_str_of(ds.X.shape())));
  const std::size_t n = ds.X.shape()[0];
  const std::size_t d = n ? ds.X.size() / n : 0;
  ds.X.reshape({n, d});
}

Tensor one_hot(const std::vector<std::int64_t>& labels, std::size_t num_classes) {
  Tensor Y = xt::zeros<double>({labels.size(), num_classes});
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= num_classes)
      throw DataError(fmt::format("one_hot: label {} of example {} is outside [0, {})", labels[i], i, num_classes));
    Y(i, labels[i]) = 1.0;
  }
  return Y;
}
void add_one_hot_targets(Dataset& ds) { ds.targets = one_hot(ds.labels, ds.num_classes); }

Standardizer Standardizer::fit(const Tensor& X) {
  if (X.dimension() != 2 || X.shape()[0] == 0)
    throw DataError(fmt::format("Standardizer::fit: need a non-empty [n, d] matrix, got {}", shape_str_of(X.shape())));
  const std::size_t n = X.shape()[0], d = X.shape()[1];
  Standardizer s;
  s.mean = xt::zeros<double>({d});
  s.std = xt::zeros<double>({d});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) s.mean(j) += X(i, j);
  s.mean /= double(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) s.std(j) += (X(i, j) - s.mean(j)) * (X(i, j) - s.mean(j));
  for (std::size_t j = 0; j < d; ++j) {
    s.std(j) = std::sqrt(s.std(j) / double(n));
    if (s.std(j) == 0.0) s.std(j) = 1.0;  // constant feature: centre only
  }
  return s;
}

void Standardizer::apply(Tensor& X) const {
  if (X.dimension() != 2 || X.shape()[1] != mean.size())
    throw DataError(fmt::format("Standardizer::apply: fitted on {} features, got shape {}", mean.size(), shape_str_of(X.shape())));
  for (std::size_t i = 0; i < X.shape()[0]; ++i)
    for (std::size_t j = 0; j < X.shape()[1]; ++j) X(i, j) = (X(i, j) - mean(j)) / std(j);
}

MinibatchSampler::MinibatchSampler(std::size_t n, std::size_t batch, Replacement replacement, std::uint64_t seed,
                                   bool drop_last)
    : n_(n), batch_(batch), replacement_(replacement), drop_last_(drop_last), rng_(seed) {
  if (n == 0 || batch == 0) throw DataError(fmt::format("MinibatchSampler: n ({}) and batch ({}) must be positive", n, batch));
  if (replacement == Replacement::Without && batch > n)
    throw DataError(fmt::format("MinibatchSampler: batch {} is larger than the {} examples (without replacement)", batch, n));
}

std::size_t MinibatchSampler::batches_per_epoch() const {
  return drop_last_ ? n_ / batch_ : (n_ + batch_ - 1) / batch_;
}

void MinibatchSampler::save_state(StateDict& into) const {
  into.put("config", StateDict::Integers{n_, batch_, replacement_ == Replacement::With ? 1u : 0u, drop_last_ ? 1u : 0u});
  into.put("position", StateDict::Integers{pos_, epoch_, epoch_ended_ ? 1u : 0u});
  // Mid-epoch, the rest of the epoch's order is state; at an epoch boundary
  // the next permutation comes from the generator alone.
  into.put("perm", pos_ == 0 ? StateDict::Integers{} : StateDict::Integers(perm_.begin(), perm_.end()));
  StateDict rng;
  rng_.save_state(rng);
  into.merge("rng", rng);
}

void MinibatchSampler::load_state(const StateDict& from) {
  const auto& config = from.integers("config");
  const StateDict::Integers mine{n_, batch_, replacement_ == Replacement::With ? 1u : 0u, drop_last_ ? 1u : 0u};
  if (config != mine)
    throw StateError(fmt::format("state: the sampler was saved for n = {}, batch = {}; this one has n = {}, batch = {}",
                                 config.size() > 0 ? config[0] : 0, config.size() > 1 ? config[1] : 0, n_, batch_));
  const auto& position = from.integers("position");
  const auto& perm = from.integers("perm");
  if (position.size() != 3 || position[0] >= n_ || position[2] > 1)
    throw StateError(fmt::format("state: sampler position is not [pos < {}, epoch, ended]", n_));
  if (position[0] != 0) {
    // A permutation of 0..n−1, or the next batches would index out of range.
    if (perm.size() != n_) throw StateError(fmt::format("state: sampler permutation has {} entries, expected {}", perm.size(), n_));
    std::vector<bool> seen(n_, false);
    for (auto i : perm) {
      if (i >= n_ || seen[i]) throw StateError("state: sampler permutation is not a permutation of 0..n−1");
      seen[i] = true;
    }
    perm_.assign(perm.begin(), perm.end());
  }
  rng_.load_state(from.extract("rng"));
  pos_ = position[0];
  epoch_ = position[1];
  epoch_ended_ = position[2] == 1;
}

const std::vector<std::size_t>& MinibatchSampler::next() {
  current_.clear();
  epoch_ended_ = false;
  if (replacement_ == Replacement::With) {
    for (std::size_t i = 0; i < batch_; ++i) current_.push_back(rng_.below(n_));
    return current_;
  }
  if (pos_ == 0) rng_.permutation(n_, perm_);
  const std::size_t end = std::min(pos_ + batch_, n_);
  current_.assign(perm_.begin() + static_cast<std::ptrdiff_t>(pos_), perm_.begin() + static_cast<std::ptrdiff_t>(end));
  pos_ = end;
  const bool short_next = drop_last_ && n_ - pos_ < batch_;
  if (pos_ == n_ || short_next) {
    pos_ = 0;
    ++epoch_;
    epoch_ended_ = true;
  }
  return current_;
}

}  // namespace eos::data
