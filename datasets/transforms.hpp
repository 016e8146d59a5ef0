// Transforms of datasets and a seeded minibatch sampler.
#pragma once

#include <cstdint>

#include "../core/random.hpp"
#include "dataset.hpp"

namespace eos::data {

// The first n examples in file order (Cohen et al. take the first 5000).
Dataset first_n(const Dataset& ds, std::size_t n);
// Examples [first, first + count) in file order (a shard of a distributed run).
Dataset rows_of(const Dataset& ds, std::size_t first, std::size_t count);
// n examples with classes as equal as possible (n/k each, the remainder to
// the smallest class indices), drawn at random within each class, in file order.
Dataset stratified_subset(const Dataset& ds, std::size_t n, std::uint64_t seed);
// X ← X · factor (e.g. 1/255 for images into [0, 1]).
void scale_features(Dataset& ds, double factor);
// Flattens trailing feature dimensions: [n, a, b, …] → [n, a·b·…].
void flatten(Dataset& ds);
// Targets = one-hot rows of the labels (for MSE classification).
Tensor one_hot(const std::vector<std::int64_t>& labels, std::size_t num_classes);
void add_one_hot_targets(Dataset& ds);

// Per-feature standardization: x ← (x − mean) / std, statistics (ddof = 0)
// from one set, applied to any set; a feature with zero std is divided by 1.
struct Standardizer {
  Tensor mean, std;  // [d]
  static Standardizer fit(const Tensor& X);
  void apply(Tensor& X) const;
  void apply(Dataset& ds) const { apply(ds.X); }
};

// Indices of minibatches of a dataset of n examples. Without replacement:
// each epoch is a fresh permutation cut into batches (the last one smaller
// unless drop_last). With replacement: every batch is `batch` independent
// uniform draws.
class MinibatchSampler {
 public:
  enum class Replacement { Without, With };
  MinibatchSampler(std::size_t n, std::size_t batch, Replacement replacement, std::uint64_t seed,
                   bool drop_last = false);
  const std::vector<std::size_t>& next();
  std::size_t epoch() const { return epoch_; }        // epochs completed (without replacement)
  bool epoch_ended() const { return epoch_ended_; }   // the last next() finished an epoch
  std::size_t batches_per_epoch() const;
  // Position in the epoch, its permutation and the generator, for checkpoints;
  // load_state refuses a state saved by a sampler of another n or batch.
  void save_state(StateDict& into) const;
  void load_state(const StateDict& from);

 private:
  std::size_t n_, batch_;
  Replacement replacement_;
  bool drop_last_;
  Rng rng_;
  std::vector<std::size_t> perm_, current_;
  std::size_t pos_ = 0, epoch_ = 0;
  bool epoch_ended_ = false;
};

}  // namespace eos::data
