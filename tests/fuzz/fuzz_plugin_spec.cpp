// Plugin spec strings as `--plugin` takes them: name[:key=value,…][@K|@epoch].
// Creating a plugin validates every option's range; nothing may hang or
// allocate what the option merely names.
#include <eoslab.hpp>

#include "eoslab/flags.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(eos::fuzz::as_text(data, size));
  eos::fuzz::expect_clean([&] { (void)eos::analysis::PluginRegistry::global().create_from_spec(text); });
  eos::fuzz::expect_clean([&] { (void)eos::cli::parse_plugin("--plugin", text); });
  return 0;
}
