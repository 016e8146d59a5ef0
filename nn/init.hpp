// Seeded parameter initialization, reproducible across runs and platforms
// (eos::Rng, not std::*_distribution).
#pragma once

#include <cstdint>

#include "module.hpp"

namespace eos::nn {

enum class Init {
  PyTorchDefault,  // weight and bias U(±1/√fan_in), as torch.nn.Linear
  Xavier,          // weight U(±√(6/(fan_in+fan_out))), bias 0 (Glorot uniform)
  He,              // weight N(0, 2/fan_in), bias 0 (Kaiming normal, fan_in)
};
Init parse_init(const std::string& name);  // "pytorch", "xavier", "he"

Tensor init_params(const Module& module, Init scheme, std::uint64_t seed);

}  // namespace eos::nn
