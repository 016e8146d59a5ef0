#include "dataset.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace eos::data {

void Dataset::validate() const {
  if (X.dimension() != 2)
    throw DataError(fmt::format("{}: features must be [n, d], got shape {}", source, shape_str_of(X.shape())));
  const std::size_t n = size();
  if (!labels.empty() && labels.size() != n)
    throw DataError(fmt::format("{}: {} labels for {} examples", source, labels.size(), n));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= num_classes)
      throw DataError(fmt::format("{}: label {} of example {} is outside [0, {})", source, labels[i], i, num_classes));
  if (targets.dimension() != 0 && (targets.dimension() != 2 || targets.shape()[0] != n))
    throw DataError(fmt::format("{}: targets of shape {} for {} examples", source, shape_str_of(targets.shape()), n));
}

void gather_rows(const Tensor& M, std::span<const std::size_t> idx, Tensor& out) {
  const std::size_t n = M.shape()[0], d = M.shape()[1];
  out.resize({idx.size(), d});
  for (std::size_t r = 0; r < idx.size(); ++r) {
    if (idx[r] >= n) throw DataError(fmt::format("row index {} is out of range for {} rows", idx[r], n));
    std::copy_n(M.data() + idx[r] * d, d, out.data() + r * d);
  }
}

Dataset Dataset::subset(std::span<const std::size_t> idx) const {
  Dataset s;
  gather_rows(X, idx, s.X);
  if (!labels.empty())
    for (std::size_t i : idx) s.labels.push_back(labels[i]);
  if (has_targets()) gather_rows(targets, idx, s.targets);
  s.num_classes = num_classes;
  s.source = source;
  return s;
}

}  // namespace eos::data
