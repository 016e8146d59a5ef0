// Data-parallel objectives: each rank holds a contiguous shard of the n
// examples and an Objective on it; f, ∇f, H·v, minibatch f and ∇f and the
// accuracy are computed on the shard and summed over ranks, each weighted by
// its share (n_r/n, or m_r/|B| for a minibatch), so that the mean over all
// examples and the regularizer come out exactly as on one process. Every
// rank ends with identical bits (Communicator::sum), so optimizers, the
// Trainer, plugins and Lanczos run unchanged, in lockstep, on every rank.
// Communication: one θ-sized reduction (plus f) per gradient, per HVP, per
// minibatch gradient.
#pragma once

#include <memory>

#include <eoslab.hpp>

#include "communicator.hpp"

namespace eos::mpi {

class DistributedObjective : public Objective {
 public:
  // `local` is the objective on examples [shard.first, shard.first + shard.count)
  // of `total`; every rank's shard is non-empty.
  DistributedObjective(std::unique_ptr<Objective> local, Shard shard, std::size_t total, Communicator comm);
  std::string describe() const override;
  std::size_t dim() const override { return local_->dim(); }
  double value(const Tensor& theta) override;
  using Objective::value_and_grad;
  double value_and_grad(const Tensor& theta, Tensor& grad) override;
  Tensor hvp(const Tensor& theta, const Tensor& v) override;
  std::unique_ptr<HessianOperator> hessian_at(const Tensor& theta) override;
  std::size_t num_examples() const override { return total_; }
  // `batch` holds global indices (the same on every rank: one sampler, one
  // seed); each rank evaluates those in its shard.
  double batch_value(const Tensor& theta, std::span<const std::size_t> batch) override;
  using Objective::batch_value_and_grad;
  double batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch, Tensor& grad) override;
  std::optional<double> accuracy(const Tensor& theta) override;
  std::vector<ParameterSlice> parameter_slices() const override { return local_->parameter_slices(); }
  // The whole data set's (the local objective holds it: its shard's rows
  // were fingerprinted with their global positions and summed over ranks).
  std::string data_fingerprint() const override { return local_->data_fingerprint(); }

  const Communicator& communicator() const { return comm_; }
  const Shard& shard() const { return shard_; }
  Objective& local() { return *local_; }

 private:
  // Σ_r w_r·(f_r, g_r) into (value, grad), through one reduction of dim + 1 numbers.
  double reduce(double weight, double value, Tensor& grad);
  // This rank's part of a global batch, as local indices.
  const std::vector<std::size_t>& local_part(std::span<const std::size_t> batch);
  std::unique_ptr<Objective> local_;
  Shard shard_;
  std::size_t total_;
  Communicator comm_;
  double weight_;  // n_r / n
  std::string description_;
  std::vector<double> packed_;
  std::vector<std::size_t> part_;
};

// nn::build_objective for a distributed run: this rank loads only its rows of
// the spec's dataset (idx and CIFAR-10 files are read past the others), the
// features are standardized with statistics of all shards (two reductions
// of the feature dimension) and the class count is the maximum over shards,
// so each rank holds exactly its rows of the single-process objective. θ₀
// is broadcast from rank 0.
struct DistributedBuild {
  std::unique_ptr<DistributedObjective> objective;
  Tensor theta0;
};
DistributedBuild build_distributed_objective(const nn::ObjectiveSpec& spec, const Communicator& comm);

}  // namespace eos::mpi
