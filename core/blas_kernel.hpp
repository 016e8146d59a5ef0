// Which of OpenBLAS's kernels runs the matrix products, and the one this CPU
// supports best.
//
// OpenBLAS (built DYNAMIC_ARCH, as Debian's is) picks its kernels from the CPU
// model when it loads; a CPU newer than the OpenBLAS release is unknown to it
// and gets its Prescott kernel (SSE3). Debian 12's 0.3.21 does that on Intel's
// Sapphire and Emerald Rapids Xeons: on one (family 6, model 207) a gradient of
// eoslab's benchmark took 315 ms on Prescott and 73 ms on OpenBLAS's AVX-512
// kernel (SkylakeX), a 4.3× loss nobody asked for (docs/PERFORMANCE.md).
// OPENBLAS_CORETYPE, read once when OpenBLAS loads, overrides its choice, so a
// program fixes it by starting again with it set: restart_with_cpu_blas_kernel.
// A user's own OPENBLAS_CORETYPE is never overridden.
#pragma once

#include <optional>
#include <string>

namespace eos {

// What the CPU and the OS support, of what OpenBLAS's x86-64 kernels use.
struct CpuFeatures {
  bool avx = false, avx2 = false, fma = false;
  bool avx512f = false, avx512cd = false, avx512bw = false, avx512dq = false, avx512vl = false;
};
CpuFeatures cpu_features();  // of this machine (all false off x86-64)

// The best of OpenBLAS's x86-64 kernels these features run, by its
// OPENBLAS_CORETYPE name: SkylakeX (AVX-512 F, CD, BW, DQ, VL), Haswell (AVX2
// and FMA), Sandybridge (AVX); empty where none of them does.
std::string openblas_kernel_for(const CpuFeatures& cpu);

// Whether a CPU with these features runs OpenBLAS's `kernel` (a name as
// openblas_get_corename gives it): known for openblas_kernel_for's kernels,
// Prescott (SSE3, every x86-64 CPU OpenBLAS runs on) and Zen (AVX2 and FMA,
// as Haswell); none for the others (Cooperlake, …) and off x86-64.
std::optional<bool> cpu_runs_kernel(const std::string& kernel, const CpuFeatures& cpu);

struct BlasKernel {
  std::string kernel;  // OpenBLAS's name of the kernel it runs ("SkylakeX"); empty: the BLAS is not OpenBLAS
  std::string config;  // openblas_get_config(): version and build options
  // who chose the kernel: "OpenBLAS" (by CPU model), "OPENBLAS_CORETYPE" (the
  // user), "eoslab" (restart_with_cpu_blas_kernel)
  std::string chosen_by;
  std::string cpu_supports;  // openblas_kernel_for(cpu_features())
};
BlasKernel blas_kernel();

// The OPENBLAS_CORETYPE that would run this CPU faster: set where OpenBLAS
// runs its Prescott fallback, OPENBLAS_CORETYPE is not set, and the CPU
// supports one of openblas_kernel_for's kernels.
std::optional<std::string> faster_blas_kernel();

// For a program's start, before it has done anything else: where
// faster_blas_kernel() names a kernel, executes this program again (same
// arguments, same process id) with OPENBLAS_CORETYPE set to it; returns
// otherwise, and where the restart cannot be made (a note on stderr).
void restart_with_cpu_blas_kernel();

// The same for a given kernel (`eoslab train --resume` continues a run on the
// kernel its checkpoint was written on, so that it stays bit for bit the run
// it would have been): restarts where OpenBLAS runs another kernel, the user
// has not set OPENBLAS_CORETYPE, this CPU runs `kernel` (cpu_runs_kernel), and
// this program was not already restarted for it; returns whether the kernel
// runs now (false: it was not restarted, or not honoured).
bool restart_with_blas_kernel(const std::string& kernel);

}  // namespace eos
