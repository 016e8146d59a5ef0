#include "hash.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace eos {

namespace {
// One 64-bit word into the state: multiply-xorshift (the splitmix64 finalizer).
std::uint64_t mix(std::uint64_t h, std::uint64_t w) {
  h ^= w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}
}  // namespace

void Fingerprint::block(const unsigned char* p) {
  for (int k = 0; k < 4; ++k) {
    std::uint64_t w;
    std::memcpy(&w, p + 8 * k, 8);
    lanes_[k] = mix(lanes_[k], w);
  }
}

// Streaming: the same bytes give the same fingerprint however they are split
// into add() calls (a file read in chunks, or a buffer at once).
Fingerprint& Fingerprint::add(const void* bytes, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  length_ += n;
  std::size_t i = 0;
  if (pending_size_ > 0) {
    while (i < n && pending_size_ < sizeof pending_) pending_[pending_size_++] = p[i++];
    if (pending_size_ < sizeof pending_) return *this;
    block(pending_);
    pending_size_ = 0;
  }
  for (; i + sizeof pending_ <= n; i += sizeof pending_) block(p + i);
  while (i < n) pending_[pending_size_++] = p[i++];
  return *this;
}

Fingerprint& Fingerprint::add(const Tensor& t) {
  add(std::uint64_t(t.dimension()));
  for (std::size_t d : t.shape()) add(std::uint64_t(d));
  return add(t.data(), t.size() * sizeof(double));
}

std::uint64_t Fingerprint::value() const {
  std::uint64_t h = lanes_[0];
  for (int k = 1; k < 4; ++k) h = mix(h, lanes_[k]);
  for (std::size_t at = 0; at < pending_size_; at += 8) {  // the tail, a word at a time, zero-padded
    std::uint64_t w = 0;
    std::memcpy(&w, pending_ + at, std::min<std::size_t>(8, pending_size_ - at));
    h = mix(h, w);
  }
  return mix(h, length_);
}
std::string Fingerprint::hex() const { return fmt::format("{:016x}", value()); }

std::string file_fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open to fingerprint it", path));
  Fingerprint f;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    if (in.gcount() > 0) f.add(buf.data(), std::size_t(in.gcount()));
  }
  if (in.bad()) throw std::runtime_error(fmt::format("{}: read failed while fingerprinting it", path));
  return f.hex();
}

}  // namespace eos
