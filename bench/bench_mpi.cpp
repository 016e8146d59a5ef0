// The communication of a data-parallel step, measured: Communicator::sum (a
// reduction to rank 0 and a broadcast, the bit-identical allreduce of
// distributed/) of d doubles, for the θ sizes of the nets we train, and the
// data-parallel gradient and HVP of the default 784-200-200-10 net on n
// Fashion-MNIST images against one process's. Run under mpirun:
//   mpirun -np 2 build/bench/bench_mpi [n]
// Rank 0 prints one line per measurement (median of repetitions).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <fmt/format.h>

#include <eoslab.hpp>

#include "distributed/objective.hpp"

using namespace eos;

namespace {
template <class F>
double median_seconds(const mpi::Communicator& comm, int reps, F&& f) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    MPI_Barrier(comm.handle());
    const auto start = std::chrono::steady_clock::now();
    f();
    MPI_Barrier(comm.handle());
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  eos::restart_with_cpu_blas_kernel();  // as eoslab does: the CPU's kernel, not OpenBLAS's Prescott fallback
  mpi::Session session(&argc, &argv);
  const mpi::Communicator comm;
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 5000;
  auto say = [&](const std::string& s) {
    if (comm.rank() == 0) std::fputs((s + "\n").c_str(), stdout);
  };
  say(fmt::format("{} ranks", comm.size()));
  for (std::size_t d : {1000u, 10000u, 199210u, 1000000u}) {
    std::vector<double> x(d, 1.0);
    const double s = median_seconds(comm, 30, [&] { comm.sum(x.data(), d); });
    say(fmt::format("sum of {:>8} doubles ({:>7.2f} MB): {:8.3f} ms  ({:.2f} GB/s of vector per rank)", d,
                    d * 8 / 1e6, s * 1e3, d * 8 / s / 1e9));
  }
  nn::ObjectiveSpec spec;
  spec.data.n = n;
  auto dist = mpi::build_distributed_objective(spec, comm);
  Tensor g, v = dist.theta0;
  const double tg = median_seconds(comm, 9, [&] { dist.objective->value_and_grad(dist.theta0, g); });
  auto H = dist.objective->hessian_at(dist.theta0);
  Tensor out;
  const double th = median_seconds(comm, 9, [&] { H->apply(v, out); });
  say(fmt::format("fc-tanh 784-200-200-10 on {} images: gradient {:.1f} ms, linearized HVP {:.1f} ms", n, tg * 1e3,
                  th * 1e3));
  return 0;
}
