#include "batch.hpp"

#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "../core/lanes.hpp"

namespace eos::nn {

namespace {
thread_local const BatchContext* t_batch = nullptr;
}
const BatchContext* current_batch() { return t_batch; }
BatchScope::BatchScope(const BatchContext& context) : previous_(t_batch), context_(context) { t_batch = &context_; }
BatchScope::~BatchScope() { t_batch = previous_; }

PartsReducer::PartsReducer(std::size_t parts, RankSum across_ranks)
    : parts_(parts), across_ranks_(std::move(across_ranks)), slots_(parts, nullptr) {
  if (parts == 0) throw std::invalid_argument("PartsReducer: no parts");
}

void PartsReducer::sum(std::size_t part, double* values, std::size_t count) {
  std::unique_lock lock(mutex_);
  if (aborted_) throw std::runtime_error("batch reduction: another part of the batch failed");
  if (part >= parts_ || slots_[part] != nullptr || (arrived_ > 0 && count != count_))
    throw std::logic_error(fmt::format("batch reduction: part {} of {} called out of step ({} values, expected {})", part,
                                       parts_, count, count_));
  count_ = count;
  slots_[part] = values;
  const std::size_t generation = generation_;
  if (++arrived_ == parts_) {
    // The last to arrive: total in part order, across ranks, back to every part.
    std::vector<double> total(slots_[0], slots_[0] + count);
    for (std::size_t p = 1; p < parts_; ++p)
      for (std::size_t i = 0; i < count; ++i) total[i] += slots_[p][i];
    if (across_ranks_) across_ranks_(total.data(), count);
    for (double* s : slots_) std::copy(total.begin(), total.end(), s);
    std::fill(slots_.begin(), slots_.end(), nullptr);
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return;
  }
  cv_.wait(lock, [&] { return generation_ != generation || aborted_; });
  if (generation_ == generation) throw std::runtime_error("batch reduction: another part of the batch failed");
}

void PartsReducer::abort() {
  std::lock_guard lock(mutex_);
  aborted_ = true;
  cv_.notify_all();
}
void PartsReducer::reset() {
  std::lock_guard lock(mutex_);
  aborted_ = false;
  arrived_ = 0;
  std::fill(slots_.begin(), slots_.end(), nullptr);
}

void run_parts(std::size_t parts, PartsReducer& reducer, const std::function<void(std::size_t)>& work) {
  reducer.reset();
  std::optional<SingleThreadedBlas> blas;  // each part's thread runs its own BLAS calls
  if (parts > 1) blas.emplace();
  std::vector<std::exception_ptr> errors(parts);
  auto guarded = [&](std::size_t p) {
    try {
      work(p);
    } catch (...) {
      errors[p] = std::current_exception();
      reducer.abort();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(parts > 0 ? parts - 1 : 0);
  for (std::size_t p = 1; p < parts; ++p) threads.emplace_back(guarded, p);
  guarded(0);
  for (auto& t : threads) t.join();
  // The first real failure, not the "another part failed" of those it released.
  for (auto& e : errors)
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::runtime_error& r) {
        if (std::string(r.what()).rfind("batch reduction: another part", 0) == 0) continue;
        throw;
      }
    }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace eos::nn
