// f(θ) = mean over a dataset of loss(model(θ, xᵢ), yᵢ) (+ γ‖θ‖²) as an
// eos::Objective. Full-batch work runs in chunks of `chunk_size` examples so
// memory stays bounded; chunk results are combined with weights n_c/n, equal
// to the unchunked ones up to summation order. With `threads` = T > 1 each
// chunk is split into T parts that run at once, one per thread (core/lanes.hpp),
// each on its own tape with single-threaded BLAS: memory stays that of a chunk,
// and the results equal T = 1's up to summation order.
#pragma once

#include <array>
#include <functional>
#include <memory>

#include "../autodiff/functional.hpp"
#include "../core/lanes.hpp"
#include "../core/objective.hpp"
#include "../datasets/dataset.hpp"
#include "batch.hpp"
#include "module.hpp"

namespace eos::nn {

enum class Loss {
  CrossEntropy,  // (1/n) Σᵢ −log softmax(f(xᵢ))_{yᵢ}: needs labels
  MSE,           // (1/n) Σᵢ ½‖f(xᵢ) − yᵢ‖² (Cohen et al.): targets, or one-hot labels
};
Loss parse_loss(const std::string& name);  // "ce" / "cross_entropy", "mse"
std::string loss_name(Loss l);

// The term γ‖θ‖² of the objective (the paper's Prop. 1): value γ‖θ‖²,
// gradient 2γθ, Hessian 2γI. The one place every evaluation adds it.
struct WeightDecay {
  double gamma = 0.0;
  void add_to_value(const Tensor& theta, double& f) const;
  void add_to_grad(const Tensor& theta, Tensor& grad) const;
  void add_to_hvp(const Tensor& v, Tensor& hv) const;
};

struct ObjectiveOptions {
  std::size_t chunk_size = 5000;   // examples per chunk of full-batch work
  double weight_decay = 0.0;       // γ in + γ‖θ‖²
  // hessian_at keeps one linearized tape per chunk (memory ∝ n, fastest
  // HVPs). Off: each HVP re-runs every chunk from scratch (memory ∝ chunk).
  bool cache_linearization = true;
  // Parts of each chunk evaluated at once, one per thread, BLAS single-
  // threaded inside (1: one part per chunk, BLAS as its caller set it).
  // Minibatches (SGD) run as one part, BLAS as the caller set it.
  std::size_t threads = 1;
  // For a model that couples the batch (BatchNorm) whose data are one shard
  // of a batch split across MPI ranks: sums over the ranks, and the rows of
  // the whole batch. Unset: this objective's data are the whole batch.
  std::function<void(double* values, std::size_t count)> batch_sum_across_ranks;
  std::size_t batch_rows_across_ranks = 0;
};

// Tapes of released Hessian linearizations, kept for the next hessian_at
// (a few sets at most: the trainer holds two operators at a time).
class TapePool {
 public:
  std::unique_ptr<ad::Tape> take();  // a kept tape, or a new one
  void give_back(std::unique_ptr<ad::Tape> tape);

 private:
  static constexpr std::size_t kMaxFree = 8;
  std::vector<std::unique_ptr<ad::Tape>> free_;
};

class ModelObjective : public Objective {
 public:
  ModelObjective(Model model, Loss loss, const data::Dataset& data, ObjectiveOptions options = {});

  std::string describe() const override;
  std::size_t dim() const override { return model_.num_params; }
  double value(const Tensor& theta) override;
  using Objective::value_and_grad;
  double value_and_grad(const Tensor& theta, Tensor& grad) override;
  Tensor hvp(const Tensor& theta, const Tensor& v) override;
  std::unique_ptr<HessianOperator> hessian_at(const Tensor& theta) override;

  std::size_t num_examples() const override { return n_; }
  double batch_value(const Tensor& theta, std::span<const std::size_t> batch) override;
  using Objective::batch_value_and_grad;
  double batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch, Tensor& grad) override;
  std::optional<double> accuracy(const Tensor& theta) override;

  // The network's outputs on every example, [n, k].
  Tensor outputs(const Tensor& theta);
  const Model& model() const { return model_; }
  std::vector<ParameterSlice> parameter_slices() const override;  // the model's
  // The data set's own (Dataset::fingerprint, of the rows as loaded), or else
  // X, labels and targets as the objective holds them, computed once.
  std::string data_fingerprint() const override;
  Loss loss() const { return loss_; }
  const ObjectiveOptions& options() const { return options_; }
  std::size_t num_chunks() const { return chunks_.size(); }  // the parts: chunks × threads (fewer when rows are few)
  std::size_t threads() const { return lanes_->count(); }

 private:
  struct Chunk {
    Tensor X;
    std::vector<std::int64_t> labels;
    Tensor targets;
    double weight = 0.0;  // n_c / n
  };
  // mean loss on one chunk as a function of θ
  ad::ScalarFunction chunk_loss(const Chunk& c) const;
  ad::Var loss_on(ad::Var out, const std::vector<std::int64_t>& labels, const Tensor& targets) const;
  void check_theta(const Tensor& theta, const char* what) const;
  const Chunk& gather(std::span<const std::size_t> batch);
  void split_into_chunks();

  Model model_;
  Loss loss_;
  ObjectiveOptions options_;
  WeightDecay weight_decay_;
  std::size_t n_ = 0;
  std::vector<Chunk> chunks_;
  Tensor all_X_, all_targets_;          // for minibatches
  std::vector<std::int64_t> all_labels_;
  Chunk batch_;                         // reused minibatch buffers
  // A tape per row count (full chunks, the last chunk, minibatches, the short
  // last minibatch of an epoch), so that alternating between them reuses
  // memory instead of reshaping it: steady-state steps allocate nothing.
  class TapeSlots {
   public:
    ad::Tape& for_rows(std::size_t rows);

   private:
    struct Slot {
      std::size_t rows = 0, last_use = 0;
      ad::Tape tape;
    };
    std::array<Slot, 4> slots_;
    std::size_t uses_ = 0;
  };
  // Per lane (thread): its tapes, its running sums and a part's gradient.
  // Lane ℓ takes the parts ℓ, ℓ + T, ℓ + 2T, …; lane 0's tapes also serve
  // minibatches. The lanes' sums are added in lane order: deterministic.
  struct Lane {
    TapeSlots tapes;
    double value = 0.0;
    Tensor sum, part;
  };
  std::vector<std::unique_ptr<Lane>> lanes_state_;
  template <class Work>
  void for_each_part(Work&& work);
  Tensor& lane_sum(Lane& lane, Tensor& total);
  void start_lane_sums(Tensor& total);         // total := 0, every lane's value and sum := 0
  double finish_lane_sums(Tensor* total);      // Σ lane values; total += the other lanes' sums
  std::shared_ptr<Lanes> lanes_;
  std::shared_ptr<TapePool> tape_pool_ = std::make_shared<TapePool>();  // for Hessian linearizations
  ad::Tape& tape_for(const Chunk& c) { return lanes_state_[0]->tapes.for_rows(c.X.shape()[0]); }
  // A model that couples the batch, on more than one chunk or rank: every
  // chunk on its own tape and thread, statistics summed by reducer_.
  bool coupled() const { return reducer_ != nullptr; }
  ad::ScalarFunction coupled_loss(std::size_t part) const;  // chunk_loss inside the part's BatchScope
  BatchContext part_context(std::size_t part) const;
  void run_coupled(const std::function<void(std::size_t part, const Chunk& c, ad::Tape& tape)>& work);
  std::unique_ptr<PartsReducer> reducer_;
  std::vector<std::unique_ptr<ad::Tape>> part_tapes_;
  std::vector<Tensor> part_grads_;
  std::size_t batch_rows_ = 0;           // of the whole batch (all ranks)
  // N/n_local, applied to each part's seed rather than to the results, so
  // that the statistics' adjoints summed over ranks are the whole batch's.
  double rank_rescale() const { return static_cast<double>(batch_rows_) / static_cast<double>(n_); }
  void refuse_split_minibatch(const char* what) const;
  std::string data_source_;
  mutable std::string fingerprint_;
};

}  // namespace eos::nn
