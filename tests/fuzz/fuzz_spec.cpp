// The objective spec JSON (recorded in trajectory manifests and rebuilt on
// replay): parsed strictly, and what parses must print back to itself.
#include <eoslab.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(eos::fuzz::as_text(data, size));
  eos::fuzz::expect_clean([&] {
    const eos::nn::ObjectiveSpec s = eos::nn::ObjectiveSpec::from_json(text);
    const std::string again = s.to_json();
    if (eos::nn::ObjectiveSpec::from_json(again).to_json() != again) std::abort();
  });
  return 0;
}
