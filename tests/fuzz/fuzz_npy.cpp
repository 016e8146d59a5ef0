// .npy and .npz files (θ, eigenvectors, trajectories, θ trained elsewhere):
// any shape, as a flat vector, a row of a 2-D array, and every array of an
// archive. Only NpyError (or a clean std::exception) may come out.
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
  eos::fuzz::expect_clean([&] { (void)eos::read_npy_row(path, size % 3); });
  eos::fuzz::expect_clean([&] {
    for (const auto& key : eos::npz_keys(path)) {
      eos::NpyInfo info;
      const eos::Tensor t = eos::read_npz_array(path, key, &info);
      double sum = 0.0;
      for (double v : t) sum += v;
      (void)sum;
    }
  });
  return 0;
}
