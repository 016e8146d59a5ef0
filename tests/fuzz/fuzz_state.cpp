// Checkpoint state files, parsed from memory. Mutated bytes almost never
// keep a valid CRC-32, so each input is also parsed with the checksum it
// lacks appended: mutations then reach the header and the sizes behind the
// check. What parses serializes back to the same bytes.
#include <zlib.h>

#include <eoslab.hpp>

#include "fuzz_support.hpp"

namespace {
void parse_and_round_trip(std::string_view bytes) {
  eos::fuzz::expect_clean([&] {
    const eos::StateDict s = eos::StateDict::parse(bytes, "fuzz");
    const std::string again = s.serialize();
    if (eos::StateDict::parse(again, "again").serialize() != again) std::abort();
  });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  parse_and_round_trip(eos::fuzz::as_text(data, size));
  std::string sealed(eos::fuzz::as_text(data, size));
  const std::uint32_t crc = std::uint32_t(::crc32(::crc32(0L, Z_NULL, 0), data, uInt(size)));
  sealed.append(reinterpret_cast<const char*>(&crc), 4);
  parse_and_round_trip(sealed);
  return 0;
}
