// Lanes: a fixed set of threads that run one job at a time, job(lane) for
// every lane at once (lane 0 on the caller's thread). The full-batch
// objective splits each chunk into one part per lane; on 2 cores two parts
// on single-threaded BLAS beat one part on two-threaded BLAS, because the
// work between the matrix products (im2col, pooling, elementwise ops) runs
// on both cores too instead of leaving BLAS's second thread spinning.
//
// A run allocates nothing, so a training loop stays allocation-free. BLAS
// runs single-threaded inside a run of several lanes (its own thread count
// is restored after). An exception in any lane is rethrown by run() after
// every lane has finished.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace eos {

class Lanes {
 public:
  explicit Lanes(std::size_t count);  // count ≥ 1; 1 runs every job inline
  ~Lanes();
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;

  std::size_t count() const { return count_; }
  // job(lane) for lane = 0 … count() − 1, concurrently; returns when all are done.
  template <class Job>
  void run(Job&& job) {
    run_erased(&job, [](void* j, std::size_t lane) { (*static_cast<std::remove_reference_t<Job>*>(j))(lane); });
  }

 private:
  using Call = void (*)(void*, std::size_t);
  void run_erased(void* job, Call call);
  void work(std::size_t lane);

  std::size_t count_;
  std::vector<std::thread> workers_;
  std::vector<std::exception_ptr> errors_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  void* job_ = nullptr;
  Call call_ = nullptr;
  std::size_t generation_ = 0, pending_ = 0;
  bool stopping_ = false;
};

// The number of threads OpenBLAS uses (0 when the BLAS is not OpenBLAS), and
// setting it (0 leaves it as it is); looked up at run time so that another
// BLAS still links.
std::size_t blas_threads();
void set_blas_threads(std::size_t threads);

// BLAS single-threaded while alive (when it was not already), for code that
// runs BLAS on several threads of its own.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  std::size_t previous_;
};

}  // namespace eos
