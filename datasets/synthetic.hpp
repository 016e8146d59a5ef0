// Synthetic datasets, fully determined by their arguments and seed.
#pragma once

#include <cstdint>

#include "dataset.hpp"

namespace eos::data {

// k Gaussian clusters in d dimensions: centres drawn N(0, separation²·I),
// points centre + N(0, I); labels balanced (example i has class i mod k) and
// the order shuffled.
Dataset gaussian_clusters(std::size_t n, std::size_t d, std::size_t k, double separation, std::uint64_t seed);

// Teacher–student regression: X ~ N(0, I_d); a random teacher
// y = W₂ tanh(W₁x/√d)/√h (W entries N(0,1), h hidden units, k outputs), plus
// N(0, noise²) per target.
Dataset teacher_student(std::size_t n, std::size_t d, std::size_t hidden, std::size_t k, double noise,
                        std::uint64_t seed);

}  // namespace eos::data
