#include "random.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include <fmt/format.h>

namespace eos {
namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void Rng::save_state(StateDict& into) const {
  into.put("words", StateDict::Integers(std::begin(s_), std::end(s_)));
  into.put_integer("has_spare", has_spare_ ? 1 : 0);
  into.put_number("spare", spare_);
}

void Rng::load_state(const StateDict& from) {
  const auto& words = from.integers("words");
  if (words.size() != 4) throw StateError(fmt::format("state: rng 'words' has {} entries, expected 4", words.size()));
  if (words[0] == 0 && words[1] == 0 && words[2] == 0 && words[3] == 0)
    throw StateError("state: rng 'words' are all zero (not a xoshiro256** state)");
  const std::uint64_t spare = from.integer("has_spare");
  if (spare > 1) throw StateError(fmt::format("state: rng 'has_spare' is {}, expected 0 or 1", spare));
  std::copy(words.begin(), words.end(), s_);
  has_spare_ = spare == 1;
  spare_ = from.number("spare");
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * std::numbers::pi * u2);
}

std::uint64_t Rng::below(std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("Rng::below: n must be positive");
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the biased tail
  std::uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

std::vector<std::size_t> Rng::permutation(std::size_t n) {
  std::vector<std::size_t> p;
  permutation(n, p);
  return p;
}
void Rng::permutation(std::size_t n, std::vector<std::size_t>& p) {
  p.resize(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = i;
  for (std::size_t i = n; i > 1; --i) std::swap(p[i - 1], p[below(i)]);
}

}  // namespace eos
