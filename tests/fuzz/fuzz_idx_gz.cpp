// idx through the gzip path: the input is compressed first, so every
// mutation reaches the streaming inflater and the header checks behind it.
#include <zlib.h>

#include <eoslab.hpp>

#include "fuzz_support.hpp"

namespace {
std::string gzip(const std::uint8_t* data, std::size_t size) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 15 + 16: gzip framing
  std::string out(deflateBound(&z, uLong(size)) + 32, '\0');
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = uInt(size);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string gz = gzip(data, size);
  const std::string path =
      eos::fuzz::as_file(reinterpret_cast<const std::uint8_t*>(gz.data()), gz.size(), "input.gz");
  eos::fuzz::expect_clean([&] { (void)eos::data::read_idx_images(path, std::nullopt); });
  eos::fuzz::expect_clean([&] { (void)eos::data::read_idx_labels(path); });
  return 0;
}
