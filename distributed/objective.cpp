#include "objective.hpp"

#include <cmath>

#include <fmt/format.h>

namespace eos::mpi {

namespace {

// ∇²f(θ)·v summed over ranks, with f and ∇f reduced once when built.
class DistributedHessian : public HessianOperator {
 public:
  DistributedHessian(std::unique_ptr<HessianOperator> local, double weight, const Communicator& comm)
      : local_(std::move(local)), weight_(weight), comm_(comm) {
    const std::size_t d = local_->dim();
    std::vector<double> packed(d + 1);
    packed[0] = weight_ * local_->value();
    const Tensor& g = local_->grad();
    for (std::size_t i = 0; i < d; ++i) packed[1 + i] = weight_ * g.data()[i];
    comm_.sum(packed.data(), packed.size());
    value_ = packed[0];
    grad_ = Tensor::from_shape({d});
    std::copy(packed.begin() + 1, packed.end(), grad_.begin());
  }
  std::size_t dim() const override { return local_->dim(); }
  double value() const override { return value_; }
  const Tensor& grad() const override { return grad_; }
  void apply(const Tensor& v, Tensor& out) override {
    local_->apply(v, out);
    out *= weight_;
    comm_.sum(out.data(), out.size());
    ++applications_;
  }
  using HessianOperator::apply;
  bool float32_products(bool on) override { return local_->float32_products(on); }  // every rank asks alike

 private:
  std::unique_ptr<HessianOperator> local_;
  double weight_;
  Communicator comm_;
  double value_ = 0.0;
  Tensor grad_;
};

}  // namespace

DistributedObjective::DistributedObjective(std::unique_ptr<Objective> local, Shard shard, std::size_t total,
                                           Communicator comm)
    : local_(std::move(local)), shard_(shard), total_(total), comm_(comm) {
  if (shard_.count == 0 || total_ == 0)
    throw std::invalid_argument(fmt::format("rank {} of {}: an empty shard ({} examples for {} processes: use at most "
                                            "as many processes as examples)",
                                            comm_.rank(), comm_.size(), total_, comm_.size()));
  if (local_->num_examples() != shard_.count)
    throw std::invalid_argument(fmt::format("rank {}: the local objective has {} examples, the shard {}", comm_.rank(),
                                            local_->num_examples(), shard_.count));
  weight_ = double(shard_.count) / double(total_);
  // One text on every rank (rank 0's shard named): a checkpoint written by
  // rank 0 records it, and every rank of a resume compares against it.
  description_ = fmt::format("{} — data-parallel: {} examples in {} shards", comm_.broadcast(local_->describe()),
                             total_, comm_.size());
}

std::string DistributedObjective::describe() const { return description_; }

double DistributedObjective::reduce(double weight, double value, Tensor& grad) {
  const std::size_t d = grad.size();
  packed_.resize(d + 1);
  packed_[0] = weight * value;
  for (std::size_t i = 0; i < d; ++i) packed_[1 + i] = weight * grad.data()[i];
  comm_.sum(packed_.data(), packed_.size());
  std::copy(packed_.begin() + 1, packed_.end(), grad.data());
  return packed_[0];
}

double DistributedObjective::value(const Tensor& theta) { return comm_.sum(weight_ * local_->value(theta)); }

double DistributedObjective::value_and_grad(const Tensor& theta, Tensor& grad) {
  const double f = local_->value_and_grad(theta, grad);
  return reduce(weight_, f, grad);
}

Tensor DistributedObjective::hvp(const Tensor& theta, const Tensor& v) {
  Tensor out = local_->hvp(theta, v);
  out *= weight_;
  comm_.sum(out.data(), out.size());
  return out;
}

std::unique_ptr<HessianOperator> DistributedObjective::hessian_at(const Tensor& theta) {
  return std::make_unique<DistributedHessian>(local_->hessian_at(theta), weight_, comm_);
}

const std::vector<std::size_t>& DistributedObjective::local_part(std::span<const std::size_t> batch) {
  part_.clear();
  for (std::size_t i : batch) {
    if (i >= total_) throw std::out_of_range(fmt::format("batch index {} of {} examples", i, total_));
    if (i >= shard_.first && i < shard_.first + shard_.count) part_.push_back(i - shard_.first);
  }
  return part_;
}

namespace {
// On every rank alike, before any reduction (a rank without rows of the
// batch would otherwise wait in one that the others never reach).
void refuse_coupled_minibatch(Objective& local) {
  const auto* m = dynamic_cast<const nn::ModelObjective*>(&local);
  if (m && m->model().couples_batch)
    throw std::invalid_argument(fmt::format(
        "{}: a BatchNorm network normalizes each minibatch with its own statistics, which a minibatch split across "
        "MPI ranks does not have (only full-batch GD is sharded exactly); train it with SGD on one process",
        m->model().name));
}
}  // namespace

double DistributedObjective::batch_value(const Tensor& theta, std::span<const std::size_t> batch) {
  refuse_coupled_minibatch(*local_);
  const auto& mine = local_part(batch);
  const double w = double(mine.size()) / double(batch.size());
  return comm_.sum(mine.empty() ? 0.0 : w * local_->batch_value(theta, mine));
}

double DistributedObjective::batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch, Tensor& grad) {
  refuse_coupled_minibatch(*local_);
  const auto& mine = local_part(batch);
  double f = 0.0;
  if (mine.empty()) {  // none of the batch is here: this rank adds zeros
    if (grad.size() != dim()) grad = Tensor::from_shape({dim()});
    grad.fill(0.0);
  } else {
    f = local_->batch_value_and_grad(theta, mine, grad);
  }
  return reduce(double(mine.size()) / double(batch.size()), f, grad);
}

std::optional<double> DistributedObjective::accuracy(const Tensor& theta) {
  const std::optional<double> a = local_->accuracy(theta);  // the same kind of model on every rank
  if (!a) return std::nullopt;
  return comm_.sum(weight_ * *a);
}

DistributedBuild build_distributed_objective(const nn::ObjectiveSpec& spec, const Communicator& comm) {
  const std::size_t total = data::dataset_size(spec.data);
  if (total < std::size_t(comm.size()))
    throw std::invalid_argument(fmt::format("{} examples for {} processes: each process needs at least one", total,
                                            comm.size()));
  const Shard shard = shard_of(total, comm.rank(), comm.size());
  data::Dataset ds = data::load_dataset_rows(spec.data, shard.first, shard.count);
  if (ds.size() != shard.count)
    throw std::runtime_error(fmt::format("rank {}: {} rows loaded for a shard of {}", comm.rank(), ds.size(), shard.count));
  // The data's fingerprint is a sum over rows (data::rows_fingerprint): each
  // rank's part, as two exact 32-bit halves in its slots, summed over ranks,
  // then added up: the single-process objective's fingerprint, on every rank.
  {
    const std::uint64_t part = data::rows_fingerprint(ds, shard.first);
    std::vector<double> all(2 * std::size_t(comm.size()), 0.0);
    all[2 * std::size_t(comm.rank())] = double(part >> 32);
    all[2 * std::size_t(comm.rank()) + 1] = double(part & 0xffffffffULL);
    comm.sum(all.data(), all.size());
    std::uint64_t sum = 0;
    for (std::size_t r = 0; r < std::size_t(comm.size()); ++r)
      sum += (std::uint64_t(all[2 * r]) << 32) | std::uint64_t(all[2 * r + 1]);
    ds.fingerprint = data::fingerprint_text(sum, total, ds.dim());
  }
  if (spec.data.standardize) {
    // The single-process statistics, from every shard: mean = Σx/n, then
    // std = √(Σ(x − mean)²/n) (two passes, as Standardizer::fit).
    const std::size_t d = ds.dim();
    data::Standardizer st;
    st.mean = xt::zeros<double>({d});
    st.std = xt::zeros<double>({d});
    for (std::size_t i = 0; i < ds.size(); ++i)
      for (std::size_t j = 0; j < d; ++j) st.mean(j) += ds.X(i, j);
    comm.sum(st.mean.data(), d);
    st.mean /= double(total);
    for (std::size_t i = 0; i < ds.size(); ++i)
      for (std::size_t j = 0; j < d; ++j) st.std(j) += (ds.X(i, j) - st.mean(j)) * (ds.X(i, j) - st.mean(j));
    comm.sum(st.std.data(), d);
    for (std::size_t j = 0; j < d; ++j) {
      st.std(j) = std::sqrt(st.std(j) / double(total));
      if (st.std(j) == 0.0) st.std(j) = 1.0;
    }
    st.apply(ds);
  }
  if (ds.has_labels()) ds.num_classes = comm.max(ds.num_classes);
  // A BatchNorm network sums its batch statistics over the ranks (and their
  // adjoints and tangents), so GD's objective is the one-process objective.
  nn::BuiltObjective b = nn::build_objective_on(
      spec, std::move(ds), [comm](double* values, std::size_t count) { comm.sum(values, count); }, total);
  DistributedBuild out;
  out.theta0 = std::move(b.theta0);
  comm.broadcast(out.theta0.data(), out.theta0.size(), 0);
  out.objective = std::make_unique<DistributedObjective>(std::move(b.objective), shard, total, comm);
  return out;
}

}  // namespace eos::mpi
