// eoslab: the command line. Exit codes: 0 success (a diverged run is a
// result), 1 runtime failure, 2 bad input (a flag, a value, a file).
#include <cstdio>
#include <exception>
#include <new>

#include <fmt/format.h>

#include "commands.hpp"
#include "core/blas_kernel.hpp"
#include "parallel.hpp"
#include "run.hpp"

int main(int argc, char** argv) {
  using namespace eos::cli;
  // A resumed run continues on the BLAS kernel its checkpoint was written on
  // (else its products round differently); any other run avoids OpenBLAS's
  // Prescott fallback on a CPU it does not know, ~4× slower (core/blas_kernel.hpp).
  if (const auto kernel = resumed_run_blas_kernel(argc, argv); !kernel || !eos::restart_with_blas_kernel(*kernel))
    eos::restart_with_cpu_blas_kernel();
  start_job(&argc, &argv);  // MPI, when launched by mpirun
  const Commands commands{train_command, analyze_command, reproduce_command, plot_command, plugins_command};
  // Under mpirun an error on one rank ends every rank (abort_job) instead of
  // leaving the others waiting in a reduction.
  try {
    return run_command_line(argc, argv, commands);
  } catch (const UsageError& e) {
    abort_job(e.what(), 2);
    std::fflush(stdout);
    fmt::print(stderr, "eoslab: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    const std::string m = "out of memory: the run needed more than the machine could give, beyond the estimate made "
                          "before it started; reduce --n, --widths, --batch-size or the plugins' max_iter/steps";
    abort_job(m, 1);
    std::fflush(stdout);
    fmt::print(stderr, "eoslab: {}\n", m);
    return 1;
  } catch (const std::exception& e) {
    abort_job(std::string("error: ") + e.what(), 1);
    std::fflush(stdout);
    fmt::print(stderr, "eoslab: error: {}\n", e.what());
    return 1;
  }
}
