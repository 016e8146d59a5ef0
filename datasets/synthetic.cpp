#include "synthetic.hpp"

#include <cmath>

#include <fmt/format.h>

#include "../core/random.hpp"

namespace eos::data {

Dataset gaussian_clusters(std::size_t n, std::size_t d, std::size_t k, double separation, std::uint64_t seed) {
  if (n == 0 || d == 0 || k == 0)
    throw DataError(fmt::format("gaussian_clusters: n, d and k must be positive (got {}, {}, {})", n, d, k));
  Rng rng(seed);
  Tensor centres = Tensor::from_shape({k, d});
  for (auto& c : centres) c = separation * rng.normal();
  const auto order = rng.permutation(n);
  Dataset ds;
  ds.X = Tensor::from_shape({n, d});
  ds.labels.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    const std::size_t cls = order[r] % k;
    ds.labels[r] = static_cast<std::int64_t>(cls);
    for (std::size_t j = 0; j < d; ++j) ds.X(r, j) = centres(cls, j) + rng.normal();
  }
  ds.num_classes = k;
  ds.source = fmt::format("gaussian_clusters(n={}, d={}, k={}, separation={}, seed={})", n, d, k, separation, seed);
  return ds;
}

Dataset teacher_student(std::size_t n, std::size_t d, std::size_t hidden, std::size_t k, double noise,
                        std::uint64_t seed) {
  if (n == 0 || d == 0 || hidden == 0 || k == 0)
    throw DataError("teacher_student: n, d, hidden and k must be positive");
  Rng rng(seed);
  Tensor W1 = Tensor::from_shape({hidden, d}), W2 = Tensor::from_shape({k, hidden});
  for (auto& w : W1) w = rng.normal();
  for (auto& w : W2) w = rng.normal();
  Dataset ds;
  ds.X = Tensor::from_shape({n, d});
  for (auto& x : ds.X) x = rng.normal();
  ds.targets = Tensor::from_shape({n, k});
  std::vector<double> h(hidden);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t a = 0; a < hidden; ++a) {
      double z = 0;
      for (std::size_t j = 0; j < d; ++j) z += W1(a, j) * ds.X(r, j);
      h[a] = std::tanh(z / std::sqrt(double(d)));
    }
    for (std::size_t o = 0; o < k; ++o) {
      double y = 0;
      for (std::size_t a = 0; a < hidden; ++a) y += W2(o, a) * h[a];
      ds.targets(r, o) = y / std::sqrt(double(hidden)) + noise * rng.normal();
    }
  }
  ds.source = fmt::format("teacher_student(n={}, d={}, hidden={}, k={}, noise={}, seed={})", n, d, hidden, k, noise, seed);
  return ds;
}

}  // namespace eos::data
