#include "dataset.hpp"

#include "../core/hash.hpp"

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

std::uint64_t rows_fingerprint(const Dataset& ds, std::size_t first) {
  const std::size_t n = ds.size(), d = ds.dim();
  const bool targets = ds.has_targets();
  const std::size_t k = targets ? ds.targets.shape()[1] : 0;
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Fingerprint f;
    f.add(std::uint64_t(first + i));
    f.add(ds.X.data() + i * d, d * sizeof(double));
    if (ds.has_labels()) f.add(std::uint64_t(ds.labels[i]));
    if (targets) f.add(ds.targets.data() + i * k, k * sizeof(double));
    sum += f.value();
  }
  return sum;
}

std::string fingerprint_text(std::uint64_t rows_sum, std::size_t n, std::size_t dim) {
  return Fingerprint().add(rows_sum).add(std::uint64_t(n)).add(std::uint64_t(dim)).hex();
}

}  // namespace eos::data
