// The command line's value parsers and `eoslab train`'s whole flag set. The
// first byte picks a parser; for parse_train_args the rest is the argument
// list, split at NUL bytes.
#include <eoslab.hpp>

#include "eoslab/flags.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace eos::cli;
  if (size == 0) return 0;
  const std::string text(eos::fuzz::as_text(data + 1, size - 1));
  eos::fuzz::expect_clean([&] {
    switch (data[0] % 9) {
      case 0: {
        const double v = parse_number("--x", text);
        if (!std::isfinite(v)) std::abort();
        break;
      }
      case 1: {
        const double v = parse_step_size("--lr", text);
        if (!(v > 0) || !std::isfinite(v)) std::abort();
        break;
      }
      case 2: (void)parse_count("--n", text, 1); break;
      case 3: (void)parse_widths("--widths", text); break;
      case 4: (void)parse_numbers("--theta0", text); break;
      case 5: {
        eos::data::DataSpec d;
        parse_data(text, d);
        break;
      }
      case 6: {
        (void)parse_checkpoint_every("--checkpoint-every", text);
        break;
      }
      case 7: (void)parse_plugin("--plugin", text); break;
      default: {
        std::vector<std::string> args;
        std::size_t start = 0;
        for (std::size_t i = 0; i <= text.size(); ++i)
          if (i == text.size() || text[i] == '\0') {
            args.push_back(text.substr(start, i - start));
            start = i + 1;
          }
        (void)parse_train_args(args);
      }
    }
  });
  return 0;
}
