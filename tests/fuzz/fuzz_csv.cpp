// The CSV dataset loader. The first byte picks the options (header rule,
// label column, delimiter); the rest is the file.
#include <eoslab.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  eos::data::CsvOptions o;
  const std::uint8_t pick = data[0];
  if (pick & 1) o.header = (pick & 2) != 0;
  if (pick & 4) o.label_column = (pick >> 3) % 4;
  if (pick & 0x80) o.delimiter = ';';
  const std::string path = eos::fuzz::as_file(data + 1, size - 1, "input.csv");
  eos::fuzz::expect_clean([&] {
    const eos::data::Dataset d = eos::data::load_csv(path, o);
    for (double v : d.X)
      if (!std::isfinite(v)) std::abort();  // refused by contract
  });
  return 0;
}
