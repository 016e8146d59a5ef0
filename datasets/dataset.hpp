// A dataset in memory: n examples of d float64 features, with integer labels
// (classification) and/or real targets (regression), and where it came from.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace eos::data {

// Bad data or a bad request about data: the message names the file or
// dataset and the problem.
struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Dataset {
  Tensor X;                           // [n, d]
  std::vector<std::int64_t> labels;   // n class indices in [0, num_classes), or empty
  Tensor targets;                     // [n, k] real targets, or none (left default: rank 0)
  std::size_t num_classes = 0;
  std::string source;                 // e.g. "fashion-mnist train (/usr/share/...)"
  // The fingerprint of the rows as loaded, before standardization (set by
  // data::build_dataset; data_fingerprint_text); empty: not taken.
  std::string fingerprint;

  std::size_t size() const { return X.dimension() == 2 ? X.shape()[0] : 0; }
  std::size_t dim() const { return X.dimension() == 2 ? X.shape()[1] : 0; }
  bool has_labels() const { return !labels.empty(); }
  bool has_targets() const { return targets.dimension() == 2; }
  // Throws DataError unless X, labels and targets agree in n and labels are in range.
  void validate() const;
  // The examples `idx` in that order (rows copied).
  Dataset subset(std::span<const std::size_t> idx) const;
};

// Σ over rows of a 64-bit hash of (first + i, the row's features, label and
// targets), modulo 2⁶⁴: the fingerprint of a whole set is the sum of its
// shards' (a distributed run's ranks add theirs up). Not cryptographic.
std::uint64_t rows_fingerprint(const Dataset& ds, std::size_t first = 0);
// The printed fingerprint of a data set: the sum, its size and dimension.
std::string fingerprint_text(std::uint64_t rows_sum, std::size_t n, std::size_t dim);

// rows `idx` of the 2-D tensor M, into out (resized, reusing its memory).
void gather_rows(const Tensor& M, std::span<const std::size_t> idx, Tensor& out);

}  // namespace eos::data
