#include "init.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "../core/random.hpp"

namespace eos::nn {

Init parse_init(const std::string& name) {
  if (name == "pytorch") return Init::PyTorchDefault;
  if (name == "xavier") return Init::Xavier;
  if (name == "he") return Init::He;
  throw std::invalid_argument(fmt::format("unknown init '{}' (expected pytorch, xavier or he)", name));
}

Tensor init_params(const Module& module, Init scheme, std::uint64_t seed) {
  Rng rng(seed);
  Tensor theta = Tensor::from_shape({module.num_params()});
  std::size_t o = 0;
  for (const auto& p : module.param_specs()) {
    const std::size_t n = shape_size(p.shape);
    const double fan_in = static_cast<double>(p.fan_in), fan_out = static_cast<double>(p.fan_out);
    if (p.fill) {
      for (std::size_t i = 0; i < n; ++i, ++o) theta(o) = *p.fill;
      continue;
    }
    for (std::size_t i = 0; i < n; ++i, ++o) {
      switch (scheme) {
        case Init::PyTorchDefault: {
          const double b = 1.0 / std::sqrt(fan_in);
          theta(o) = rng.uniform(-b, b);
          break;
        }
        case Init::Xavier: {
          const double b = std::sqrt(6.0 / (fan_in + fan_out));
          theta(o) = p.is_bias ? 0.0 : rng.uniform(-b, b);
          break;
        }
        case Init::He:
          theta(o) = p.is_bias ? 0.0 : std::sqrt(2.0 / fan_in) * rng.normal();
          break;
      }
    }
  }
  return theta;
}

}  // namespace eos::nn
