// .npy files (θ, eigenvectors, trajectories): any shape, and as a flat vector.
#include <eoslab.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eos::fuzz::as_file(data, size, "input.npy");
  eos::fuzz::expect_clean([&] {
    const eos::Tensor t = eos::read_npy(path);
    double sum = 0.0;
    for (double v : t) sum += v;  // every element is readable: storage matches the shape
    (void)sum;
  });
  eos::fuzz::expect_clean([&] { (void)eos::read_npy_vector(path, std::size_t(size % 7)); });
  return 0;
}
