// Models whose loss is not a sum over examples (BatchNorm: every example's
// output depends on the statistics of the whole batch), evaluated on a batch
// split into parts: the chunks of a full-batch objective, and MPI ranks.
//
// Each part runs on its own tape in its own thread. A BatchNorm layer sums
// its per-channel (Σx, Σx²) over every part with the op all_reduce_sum; its
// adjoint and tangent sums meet the same way in the sweeps, so the value, the
// gradient and the HVP are those of the unsplit batch, exactly (up to the
// order of summation). Memory: every part's tape is alive at once.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

#include "../autodiff/op.hpp"

namespace eos::nn {

// What a BatchNorm layer being built reads: the reducer of a split batch,
// this tape's part, and the rows of the whole batch. Null: the batch is the
// tape's own rows.
struct BatchContext {
  ad::BatchReducer* reducer = nullptr;
  std::size_t part = 0;
  std::size_t total_rows = 0;
};
const BatchContext* current_batch();
class BatchScope {  // sets current_batch() for this thread while alive
 public:
  explicit BatchScope(const BatchContext& context);
  ~BatchScope();
  BatchScope(const BatchScope&) = delete;
  BatchScope& operator=(const BatchScope&) = delete;

 private:
  const BatchContext* previous_;
  BatchContext context_;
};

// Sums over `parts` threads, one call each per reduction, in a fixed order
// (part 0 + part 1 + …, whatever order they arrive in), then across ranks by
// `across_ranks` (null: one process). If a part fails, abort() releases the
// others with an exception instead of leaving them waiting.
class PartsReducer : public ad::BatchReducer {
 public:
  using RankSum = std::function<void(double* values, std::size_t count)>;
  PartsReducer(std::size_t parts, RankSum across_ranks);
  void sum(std::size_t part, double* values, std::size_t count) override;
  void abort();
  void reset();  // before a new evaluation (clears an abort)

 private:
  std::size_t parts_;
  RankSum across_ranks_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<double*> slots_;
  std::size_t arrived_ = 0, generation_ = 0, count_ = 0;
  bool aborted_ = false;
};

// Runs work(part) for parts 0…k−1 on k threads (part 0 on the caller's) and
// rethrows the first failure after all have finished.
void run_parts(std::size_t parts, PartsReducer& reducer, const std::function<void(std::size_t)>& work);

}  // namespace eos::nn
