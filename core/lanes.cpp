#include "lanes.hpp"

#include <dlfcn.h>

#include <stdexcept>

namespace eos {

Lanes::Lanes(std::size_t count) : count_(count), errors_(count) {
  if (count == 0) throw std::invalid_argument("Lanes: at least one lane");
  workers_.reserve(count - 1);
  for (std::size_t lane = 1; lane < count; ++lane) workers_.emplace_back([this, lane] { work(lane); });
}

Lanes::~Lanes() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  start_.notify_all();
  for (auto& w : workers_) w.join();
}

void Lanes::work(std::size_t lane) {
  std::size_t seen = 0;
  for (;;) {
    void* job;
    Call call;
    {
      std::unique_lock lock(mutex_);
      start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
      call = call_;
    }
    try {
      call(job, lane);
    } catch (...) {
      errors_[lane] = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    if (--pending_ == 0) done_.notify_one();
  }
}

SingleThreadedBlas::SingleThreadedBlas() : previous_(blas_threads()) {
  if (previous_ > 1) set_blas_threads(1);
}
SingleThreadedBlas::~SingleThreadedBlas() {
  if (previous_ > 1) set_blas_threads(previous_);
}

void Lanes::run_erased(void* job, Call call) {
  if (count_ == 1) {
    call(job, 0);
    return;
  }
  SingleThreadedBlas blas;
  {
    std::lock_guard lock(mutex_);
    job_ = job;
    call_ = call;
    pending_ = count_ - 1;
    ++generation_;
  }
  start_.notify_all();
  try {
    call(job, 0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
  }
  for (auto& e : errors_)
    if (e) {
      std::exception_ptr first = e;
      for (auto& clear : errors_) clear = nullptr;
      std::rethrow_exception(first);
    }
}

// OpenBLAS's entry points, resolved once (a lookup per call could allocate).
namespace {
using GetThreads = int (*)();
using SetThreads = void (*)(int);
GetThreads get_threads_fn() {
  static const auto f = reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return f;
}
SetThreads set_threads_fn() {
  static const auto f = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  return f;
}
}  // namespace

std::size_t blas_threads() {
  const auto f = get_threads_fn();
  return f ? std::size_t(f()) : 0;
}

void set_blas_threads(std::size_t threads) {
  if (threads == 0) return;
  if (const auto f = set_threads_fn()) f(int(threads));
}

}  // namespace eos
