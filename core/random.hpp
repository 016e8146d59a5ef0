// A seeded random generator whose streams are identical on every platform and
// standard library (std::*_distribution are not): xoshiro256** seeded by
// splitmix64, uniform doubles from the top 53 bits, normals by Box–Muller,
// unbiased integers by rejection. Used for init, data and sampling.
#pragma once

#include <cstdint>
#include <vector>

#include "state_dict.hpp"

namespace eos {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0);
  std::uint64_t next_u64();
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // N(0, 1)
  std::uint64_t below(std::uint64_t n);  // uniform in [0, n), n > 0
  // A uniformly random permutation of 0..n−1 (Fisher–Yates).
  std::vector<std::size_t> permutation(std::size_t n);
  void permutation(std::size_t n, std::vector<std::size_t>& out);  // the same, into out's memory
  // The generator's whole state (xoshiro words and the spare normal), for checkpoints.
  void save_state(StateDict& into) const;
  void load_state(const StateDict& from);

 private:
  std::uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace eos
