#include "blas_kernel.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace eos {

namespace {
// Set beside OPENBLAS_CORETYPE by the restart, to the same kernel: the
// restarted program (and what it starts) can tell eoslab chose it.
constexpr const char* kSetByEoslab = "EOSLAB_BLAS_KERNEL_SET";

std::string openblas_text(const char* symbol) {
  using Text = char* (*)();
  const auto f = reinterpret_cast<Text>(::dlsym(RTLD_DEFAULT, symbol));
  const char* s = f ? f() : nullptr;
  return s ? std::string(s) : std::string();
}
}  // namespace

CpuFeatures cpu_features() {
  CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // may run before the constructors that would otherwise do it
  // libgcc's answers include the OS's support (XGETBV) for the AVX and AVX-512 registers.
  c.avx = __builtin_cpu_supports("avx");
  c.avx2 = __builtin_cpu_supports("avx2");
  c.fma = __builtin_cpu_supports("fma");
  c.avx512f = __builtin_cpu_supports("avx512f");
  c.avx512cd = __builtin_cpu_supports("avx512cd");
  c.avx512bw = __builtin_cpu_supports("avx512bw");
  c.avx512dq = __builtin_cpu_supports("avx512dq");
  c.avx512vl = __builtin_cpu_supports("avx512vl");
#endif
  return c;
}

std::string openblas_kernel_for(const CpuFeatures& c) {
  if (c.avx512f && c.avx512cd && c.avx512bw && c.avx512dq && c.avx512vl && c.avx2 && c.fma) return "SkylakeX";
  if (c.avx2 && c.fma) return "Haswell";
  if (c.avx) return "Sandybridge";
  return "";
}

std::optional<bool> cpu_runs_kernel(const std::string& kernel, const CpuFeatures& cpu) {
#if defined(__x86_64__) || defined(__i386__)
  // The ladder openblas_kernel_for climbs: each kernel runs on the CPUs of those above it.
  static constexpr const char* kLadder[] = {"Prescott", "Sandybridge", "Haswell", "SkylakeX"};
  auto rung = [](const std::string& name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < std::size(kLadder); ++i)
      if (name == kLadder[i]) return i;
    if (name == "Zen") return 2;  // AMD's, on Haswell's AVX2 and FMA kernels
    return std::nullopt;
  };
  const std::optional<std::size_t> needs = rung(kernel);
  if (!needs) return std::nullopt;
  const std::string best = openblas_kernel_for(cpu);
  return *needs <= (best.empty() ? 0 : *rung(best));
#else
  (void)kernel;
  (void)cpu;
  return std::nullopt;
#endif
}

BlasKernel blas_kernel() {
  BlasKernel b;
  b.kernel = openblas_text("openblas_get_corename");
  b.config = openblas_text("openblas_get_config");
  b.cpu_supports = openblas_kernel_for(cpu_features());
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  const char* by_us = std::getenv(kSetByEoslab);
  if (b.kernel.empty()) b.chosen_by = "";
  else if (!forced || !*forced) b.chosen_by = "OpenBLAS";
  else b.chosen_by = by_us && std::strcmp(by_us, forced) == 0 ? "eoslab" : "OPENBLAS_CORETYPE";
  return b;
}

std::optional<std::string> faster_blas_kernel() {
  // Prescott is OpenBLAS's fallback for x86-64 CPUs it does not know; no CPU
  // with AVX is one, so there it is never the right kernel. A kernel the user
  // chose (OPENBLAS_CORETYPE) stands.
  const BlasKernel b = blas_kernel();
  if (b.chosen_by != "OpenBLAS" || b.kernel != "Prescott" || b.cpu_supports.empty()) return std::nullopt;
  return b.cpu_supports;
}

namespace {
// Executes this program again (same arguments, same process id) with
// OPENBLAS_CORETYPE=kernel; returns the exec's errno where that fails.
int exec_with_kernel(const std::string& kernel) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (std::size_t begin = 0; begin < cmdline.size();) {
    const std::size_t end = cmdline.find('\0', begin);
    args.push_back(cmdline.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  if (args.empty()) return ENOENT;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const char* before = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = before ? before : "";
  ::setenv("OPENBLAS_CORETYPE", kernel.c_str(), 1);
  ::setenv(kSetByEoslab, kernel.c_str(), 1);
  std::fflush(nullptr);
  ::execv("/proc/self/exe", argv.data());
  const int error = errno;  // not restarted: the environment as it was
  if (before) ::setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  else ::unsetenv("OPENBLAS_CORETYPE");
  ::unsetenv(kSetByEoslab);
  return error;
}
}  // namespace

void restart_with_cpu_blas_kernel() {
  const std::optional<std::string> kernel = faster_blas_kernel();
  if (!kernel) return;
  const int error = exec_with_kernel(*kernel);
  // Not restarted: go on with Prescott, and say what it costs.
  std::fprintf(stderr,
               "eoslab: OpenBLAS runs its slow Prescott kernel on this CPU, which supports its %s kernel; restarting "
               "with OPENBLAS_CORETYPE=%s failed (%s). Set OPENBLAS_CORETYPE=%s yourself for matrix products several "
               "times faster.\n",
               kernel->c_str(), kernel->c_str(), std::strerror(error), kernel->c_str());
}

bool restart_with_blas_kernel(const std::string& kernel) {
  const BlasKernel b = blas_kernel();
  if (b.kernel.empty()) return false;  // not OpenBLAS
  if (b.kernel == kernel) return true;
  if (b.chosen_by == "OPENBLAS_CORETYPE" || cpu_runs_kernel(kernel, cpu_features()) != true) return false;
  const char* by_us = std::getenv(kSetByEoslab);
  if (by_us && kernel == by_us) return false;  // restarted for it once, and OpenBLAS did not take it
  const int error = exec_with_kernel(kernel);
  std::fprintf(stderr, "eoslab: restarting on OpenBLAS's %s kernel (OPENBLAS_CORETYPE=%s) failed (%s)\n",
               kernel.c_str(), kernel.c_str(), std::strerror(error));
  return false;
}

}  // namespace eos
