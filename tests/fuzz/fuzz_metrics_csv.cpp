// metrics.csv as eoslab reads it back (plot, reproduce, --resume).
#include <eoslab.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = eos::fuzz::as_file(data, size, "metrics.csv");
  eos::fuzz::expect_clean([&] {
    const auto t = eos::analysis::read_metrics_csv(path);
    for (const auto& row : t.rows)
      if (row.size() != t.columns.size()) std::abort();
  });
  return 0;
}
