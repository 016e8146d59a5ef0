// What the data fingerprint costs at the start of every run (issue 19): the
// rows of a Fashion-MNIST-sized set (60000 × 784 doubles, 376 MB) hashed
// with their positions, as data::rows_fingerprint does, and one θ-sized
// tensor (the 784-200-200-10 MLP's 199210 parameters), as each θ file is.
//   ./build/bench/bench_fingerprint
#include <random>

#include <benchmark/benchmark.h>

#include <eoslab.hpp>

using namespace eos;

namespace {

const data::Dataset& fashion_sized() {
  static const data::Dataset ds = [] {
    data::Dataset d;
    d.X = Tensor::from_shape({60000, 784});
    std::mt19937_64 rng(0);
    for (double& x : d.X) x = double(rng() % 256) / 255.0;
    for (std::size_t i = 0; i < 60000; ++i) d.labels.push_back(std::int64_t(i % 10));
    d.num_classes = 10;
    return d;
  }();
  return ds;
}

void BM_rows_fingerprint(benchmark::State& state) {
  const data::Dataset& ds = fashion_sized();
  for (auto _ : state) benchmark::DoNotOptimize(data::rows_fingerprint(ds));
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(ds.X.size() * sizeof(double)));
}
BENCHMARK(BM_rows_fingerprint)->Unit(benchmark::kMillisecond);

void BM_theta_fingerprint(benchmark::State& state) {
  Tensor theta = Tensor::from_shape({199210});
  std::mt19937_64 rng(1);
  for (double& x : theta) x = double(rng()) / 1e19;
  for (auto _ : state) benchmark::DoNotOptimize(Fingerprint().add(theta).value());
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(theta.size() * sizeof(double)));
}
BENCHMARK(BM_theta_fingerprint)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
