// The one Boost.Test main of the suite (each tests/<folder> links it).
#define BOOST_TEST_MODULE eoslab
#include <boost/test/unit_test.hpp>

#include "core/blas_kernel.hpp"

namespace {
// The suite runs on the kernel eoslab itself would run (core/blas_kernel.hpp):
// on a CPU OpenBLAS does not know, its Prescott fallback made it ~2× slower.
const bool restarted_on_cpu_kernel = (eos::restart_with_cpu_blas_kernel(), true);
}  // namespace
