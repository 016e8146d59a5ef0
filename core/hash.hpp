// Fingerprints: a fast 64-bit hash of bytes, to tell whether data, a θ file
// or a trajectory file is the one a run used (a checkpoint and a manifest
// record them; a resume and an analysis compare). Not cryptographic: it
// catches edits, truncations, swapped and regenerated files, not an
// adversary. Printed as 16 hex digits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tensor.hpp"

namespace eos {

class Fingerprint {
 public:
  Fingerprint& add(const void* bytes, std::size_t n);
  Fingerprint& add(std::string_view s) { return add(s.data(), s.size()); }
  Fingerprint& add(const Tensor& t);               // its shape and its values' bits
  Fingerprint& add(std::uint64_t v) { return add(&v, sizeof v); }
  std::uint64_t value() const;
  std::string hex() const;                         // 16 hex digits

 private:
  // Four lanes take the words of each 32-byte block in turn, so that four
  // multiply chains run at once (~4× the speed of one: a data set of 60000
  // images is fingerprinted in ~0.07 s).
  void block(const unsigned char* p);
  std::uint64_t lanes_[4] = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL,
                             0x082efa98ec4e6c89ULL};
  std::uint64_t length_ = 0;
  unsigned char pending_[32] = {};  // bytes of a block not yet complete
  std::size_t pending_size_ = 0;
};

// The fingerprint of a whole file's bytes (errors name the file).
std::string file_fingerprint(const std::string& path);

}  // namespace eos
