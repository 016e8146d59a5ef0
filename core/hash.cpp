#include "hash.hpp"

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

// Streaming: the same bytes give the same fingerprint however they are split
// into add() calls (a file read in chunks, or a buffer at once).
Fingerprint& Fingerprint::add(const void* bytes, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  length_ += n;
  std::size_t i = 0;
  while (i < n && pending_size_ > 0 && pending_size_ < 8) pending_[pending_size_++] = p[i++];
  if (pending_size_ == 8) {
    std::uint64_t w;
    std::memcpy(&w, pending_, 8);
    h_ = mix(h_, w);
    pending_size_ = 0;
  }
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h_ = mix(h_, w);
  }
  while (i < n) pending_[pending_size_++] = p[i++];
  return *this;
}

Fingerprint& Fingerprint::add(const Tensor& t) {
  add(std::uint64_t(t.dimension()));
  for (std::size_t d : t.shape()) add(std::uint64_t(d));
  return add(t.data(), t.size() * sizeof(double));
}

std::uint64_t Fingerprint::value() const {
  std::uint64_t tail = 0;
  std::memcpy(&tail, pending_, pending_size_);
  return mix(mix(h_, tail), length_);
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
