// The BLAS kernel (core/blas_kernel.hpp): which of OpenBLAS's kernels a CPU's
// features run, and that this program runs the CPU's kernel rather than
// OpenBLAS's Prescott fallback (the suite's main restarts it so, as eoslab's).
#include <cstdlib>
#include <optional>
#include <string>

#include <boost/test/unit_test.hpp>

#include <eoslab.hpp>

using eos::CpuFeatures;
using eos::openblas_kernel_for;

BOOST_AUTO_TEST_SUITE(blas_kernel)

BOOST_AUTO_TEST_CASE(each_feature_set_gets_the_best_kernel_it_runs) {
  CpuFeatures c;
  BOOST_TEST(openblas_kernel_for(c) == "");  // SSE only: Prescott is right
  c.avx = true;
  BOOST_TEST(openblas_kernel_for(c) == "Sandybridge");
  c.avx2 = true;  // AVX2 without FMA does not run Haswell's kernel
  BOOST_TEST(openblas_kernel_for(c) == "Sandybridge");
  c.fma = true;
  BOOST_TEST(openblas_kernel_for(c) == "Haswell");
  c.avx512f = c.avx512cd = c.avx512bw = c.avx512dq = true;  // no AVX512VL: not SkylakeX's
  BOOST_TEST(openblas_kernel_for(c) == "Haswell");
  c.avx512vl = true;
  BOOST_TEST(openblas_kernel_for(c) == "SkylakeX");
  c.avx512bw = false;
  BOOST_TEST(openblas_kernel_for(c) == "Haswell");
}

// Whether a CPU runs a kernel a checkpoint names (a run resumed elsewhere):
// each kernel of the ladder runs on the CPUs of those above it; of the others
// eoslab cannot tell.
BOOST_AUTO_TEST_CASE(a_kernel_runs_on_the_cpus_of_the_kernels_above_it) {
#if defined(__x86_64__) || defined(__i386__)
  CpuFeatures c;  // SSE only
  BOOST_TEST((eos::cpu_runs_kernel("Prescott", c) == std::optional<bool>(true)));
  BOOST_TEST((eos::cpu_runs_kernel("Zen", c) == std::optional<bool>(false)));
  BOOST_TEST((eos::cpu_runs_kernel("Sandybridge", c) == std::optional<bool>(false)));
  c.avx = c.avx2 = c.fma = true;
  BOOST_TEST((eos::cpu_runs_kernel("Sandybridge", c) == std::optional<bool>(true)));
  BOOST_TEST((eos::cpu_runs_kernel("Haswell", c) == std::optional<bool>(true)));
  BOOST_TEST((eos::cpu_runs_kernel("SkylakeX", c) == std::optional<bool>(false)));
  BOOST_TEST((eos::cpu_runs_kernel("Zen", c) == std::optional<bool>(true)));
  c.avx512f = c.avx512cd = c.avx512bw = c.avx512dq = c.avx512vl = true;
  BOOST_TEST((eos::cpu_runs_kernel("SkylakeX", c) == std::optional<bool>(true)));
  BOOST_TEST(!eos::cpu_runs_kernel("Cooperlake", c).has_value());
  BOOST_TEST(!eos::cpu_runs_kernel("", c).has_value());
#else
  BOOST_TEST(!eos::cpu_runs_kernel("Prescott", CpuFeatures{}).has_value());
#endif
}

BOOST_AUTO_TEST_CASE(this_program_runs_the_cpus_kernel_not_the_fallback) {
  const eos::BlasKernel b = eos::blas_kernel();
  BOOST_TEST_MESSAGE("BLAS: " << b.config << " (kernel " << b.kernel << ", chosen by " << b.chosen_by
                              << "; the CPU supports " << b.cpu_supports << ")");
  if (b.kernel.empty()) return;  // not OpenBLAS: nothing to choose
  BOOST_TEST(b.cpu_supports == openblas_kernel_for(eos::cpu_features()));
  if (b.chosen_by == "OPENBLAS_CORETYPE") return;  // the user's choice stands
  if (!b.cpu_supports.empty()) BOOST_TEST(b.kernel != "Prescott", "chosen by " << b.chosen_by);
  BOOST_TEST(!eos::faster_blas_kernel().has_value());
}

BOOST_AUTO_TEST_CASE(a_users_openblas_coretype_is_never_overridden) {
  const char* before = std::getenv("OPENBLAS_CORETYPE");
  const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  ::setenv("OPENBLAS_CORETYPE", "Prescott", 1);
  BOOST_TEST(!eos::faster_blas_kernel().has_value());
  BOOST_TEST(eos::blas_kernel().chosen_by == (eos::blas_kernel().kernel.empty() ? "" : "OPENBLAS_CORETYPE"));
  if (saved) ::setenv("OPENBLAS_CORETYPE", saved->c_str(), 1);
  else ::unsetenv("OPENBLAS_CORETYPE");
}

BOOST_AUTO_TEST_SUITE_END()
