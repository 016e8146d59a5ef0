// idx images and labels (MNIST, Fashion-MNIST), raw or gzip by content: the
// input is the file. The first byte picks a read limit, as the loaders ask
// for the first n images.
#include <eoslab.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eos::fuzz::as_file(data, size);
  const std::optional<std::size_t> limit =
      size > 0 && data[0] % 4 != 0 ? std::optional<std::size_t>(data[0] % 16) : std::nullopt;
  eos::fuzz::expect_clean([&] {
    std::size_t total = 0;
    const eos::Tensor x = eos::data::read_idx_images(path, limit, &total);
    if (limit && x.shape()[0] != *limit) std::abort();  // a promise not kept is a finding too
  });
  eos::fuzz::expect_clean([&] { (void)eos::data::read_idx_labels(path); });
  return 0;
}
