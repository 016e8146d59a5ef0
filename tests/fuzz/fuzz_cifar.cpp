// CIFAR-10 binary batches: the input is one batch file.
#include <eoslab.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eos::fuzz::as_file(data, size, "data_batch_1.bin");
  eos::fuzz::expect_clean([&] { (void)eos::data::load_cifar10_files({path}); });
  return 0;
}
