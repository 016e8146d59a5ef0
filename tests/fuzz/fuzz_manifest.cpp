// Trajectory manifests: the input is manifest.json of a trajectory folder.
#include <eoslab.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eos::fuzz::as_file(data, size, "manifest.json");
  const std::string dir = std::filesystem::path(path).parent_path().string();
  eos::fuzz::expect_clean([&] {
    const auto t = eos::analysis::read_trajectory(dir);
    for (const auto& f : t.manifest.files)  // the contract: names inside the folder, nothing else
      if (f.empty() || f.find('/') != std::string::npos || f == "..") std::abort();
  });
  return 0;
}
