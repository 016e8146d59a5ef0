// eoslab: the command line. Exit codes: 0 success (a diverged run is a
// result), 1 runtime failure, 2 bad input (a flag, a value, a file).
#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "commands.hpp"

int main(int argc, char** argv) {
  using namespace eos::cli;
  const Commands commands{train_command, analyze_command, reproduce_command, plot_command, plugins_command};
  try {
    return run_command_line(argc, argv, commands);
  } catch (const UsageError& e) {
    std::fflush(stdout);
    fmt::print(stderr, "eoslab: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "eoslab: error: {}\n", e.what());
    return 1;
  }
}
