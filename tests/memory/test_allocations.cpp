// Steady-state training allocates nothing: a counting allocator (the malloc
// family of this program, which every operator new and xtensor buffer goes
// through) counts the calls made while the counter is on.
//
// BLAS runs on one thread here: OpenBLAS's threaded dgemm driver mallocs a
// small job table on each call it splits across threads (its allocation, not
// ours; docs/PERFORMANCE.md). With one thread nothing in the loop may allocate.
#include <dlfcn.h>
#include <malloc.h>

#include <atomic>
#include <cstdlib>

#include <eoslab.hpp>

#include "support/check.hpp"

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_calls{0};
std::atomic<long> g_bytes{0};
void note(std::size_t n) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  g_calls.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(static_cast<long>(n), std::memory_order_relaxed);
}
}  // namespace

extern "C" void* malloc(std::size_t n) {
  note(n);
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t a, std::size_t b) {
  note(a * b);
  return __libc_calloc(a, b);
}
extern "C" void* realloc(void* p, std::size_t n) {
  note(n);
  return __libc_realloc(p, n);
}
extern "C" int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  note(n);
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : ENOMEM;
}
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t n) {
  note(n);
  return __libc_memalign(alignment, n);
}
extern "C" void* memalign(std::size_t alignment, std::size_t n) {
  note(n);
  return __libc_memalign(alignment, n);
}

using namespace eos;

namespace {

struct Counted {
  long calls = 0, bytes = 0;
};
class Counter {
 public:
  Counter() {
    g_calls = 0;
    g_bytes = 0;
    g_counting = true;
  }
  Counted stop() {
    g_counting = false;
    return {g_calls.load(), g_bytes.load()};
  }
  ~Counter() { g_counting = false; }
};

void one_blas_thread() {
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(1);
}

// 2 chunks (the accumulating path), weight decay, a tanh MLP.
nn::BuiltObjective small_problem(std::size_t chunk_size = 64, std::size_t threads = 1) {
  nn::ObjectiveSpec s;
  s.data = {.source = "gaussian_clusters", .n = 128, .standardize = true, .dim = 12, .classes = 4, .separation = 1.0, .seed = 1};
  s.hidden = {16, 16};
  s.chunk_size = chunk_size;
  s.weight_decay = 1e-3;
  s.init_seed = 2;
  s.threads = threads;
  return nn::build_objective(s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(allocations)

BOOST_AUTO_TEST_CASE(counter_sees_tensor_and_operator_new_allocations) {
  // The counter must be able to fail: a tensor and a vector are both seen.
  Counter c;
  Tensor t = xt::zeros<double>({1000});
  auto* v = new std::vector<int>(100);
  const Counted n = c.stop();
  delete v;
  BOOST_TEST(n.calls >= 3);
  BOOST_TEST(n.bytes >= long(8000 + 400));
}

// Five full-batch GD steps after two to warm up: what they allocate.
Counted allocations_of_gd_steps(nn::BuiltObjective& built) {
  Tensor theta = built.theta0, grad;
  optim::GradientDescent gd(optim::Schedule::constant(0.1));
  for (int i = 0; i < 2; ++i) gd.step(theta, grad = built.objective->value_and_grad(theta).grad);  // warm up
  double f = 0;
  Counter c;
  for (int i = 0; i < 5; ++i) {
    f = built.objective->value_and_grad(theta, grad);
    gd.step(theta, grad);
  }
  const Counted n = c.stop();
  BOOST_TEST(std::isfinite(f));
  return n;
}

BOOST_AUTO_TEST_CASE(gd_loop_allocates_nothing_per_step) {
  one_blas_thread();
  auto built = small_problem();
  BOOST_TEST(built.objective->num_examples() == 128u);
  const Counted n = allocations_of_gd_steps(built);
  BOOST_TEST(n.calls == 0);
  BOOST_TEST(n.bytes == 0);
}

// Two threads, each chunk in two parts: the lanes' threads persist, a run
// hands them a pointer and switches BLAS to one thread and back.
BOOST_AUTO_TEST_CASE(gd_loop_on_two_threads_allocates_nothing_per_step) {
  set_blas_threads(2);
  auto built = small_problem(64, 2);
  BOOST_TEST(built.objective->num_chunks() == 4u);
  const Counted n = allocations_of_gd_steps(built);
  BOOST_TEST(n.calls == 0);
  BOOST_TEST(n.bytes == 0);
}

BOOST_AUTO_TEST_CASE(sgd_loop_with_momentum_allocates_nothing_per_step) {
  one_blas_thread();
  auto built = small_problem();
  data::MinibatchSampler sampler(128, 32, data::MinibatchSampler::Replacement::Without, 7);
  Tensor theta = built.theta0, grad;
  optim::Momentum sgd(optim::Schedule::constant(0.05), 0.9);
  for (int i = 0; i < 5; ++i) {  // warm up: more than one epoch, so the reshuffle has run
    built.objective->batch_value_and_grad(theta, sampler.next(), grad);
    sgd.step(theta, grad);
  }
  Counter c;
  for (int i = 0; i < 8; ++i) {  // two epochs
    built.objective->batch_value_and_grad(theta, sampler.next(), grad);
    sgd.step(theta, grad);
  }
  const Counted n = c.stop();
  BOOST_TEST(n.calls == 0);
}

// The Trainer records one row per step: that row (a vector of #columns
// optionals) is the only allocation; nothing scales with θ or the data.
void check_trainer_steps(std::size_t batch_size) {
  one_blas_thread();
  auto built = small_problem();
  optim::GradientDescent gd(optim::Schedule::constant(0.1));
  analysis::TrainerOptions o;
  o.max_steps = 12;
  o.batch_size = batch_size;
  std::vector<Counted> per_step;
  Counter* counter = nullptr;
  analysis::StepObserver observer([&](const analysis::StepRecord& r) {
    if (counter) per_step.push_back(counter->stop());
    delete counter;
    counter = nullptr;
    if (r.step >= 3 && !r.last) counter = new Counter();
  });
  analysis::Trainer t(*built.objective, gd, o);
  t.record_to(observer);
  t.attach(analysis::PluginRegistry::global().create("loss"));
  t.attach(analysis::PluginRegistry::global().create("grad_norm"));
  if (batch_size == 0) t.attach(analysis::PluginRegistry::global().create("rp"));
  const auto res = t.run(built.theta0);
  delete counter;
  BOOST_TEST(res.steps == 12u);
  BOOST_TEST(per_step.size() == 9u);  // steps 3 → 4, …, 11 → 12
  const long row_bytes = long(res.metrics.columns.size() * sizeof(std::optional<double>));
  for (const auto& n : per_step) {
    BOOST_TEST(n.calls <= 1);
    BOOST_TEST(n.bytes <= row_bytes);
  }
}

BOOST_AUTO_TEST_CASE(trainer_gd_step_allocates_only_its_recorded_row) { check_trainer_steps(0); }
BOOST_AUTO_TEST_CASE(trainer_sgd_step_allocates_only_its_recorded_row) { check_trainer_steps(32); }

BOOST_AUTO_TEST_SUITE_END()
