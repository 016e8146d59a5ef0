#include "objective.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <xtensor/xnoalias.hpp>

#include "../core/hash.hpp"
#include "../datasets/transforms.hpp"

namespace eos::nn {

Loss parse_loss(const std::string& name) {
  if (name == "ce" || name == "cross_entropy") return Loss::CrossEntropy;
  if (name == "mse") return Loss::MSE;
  throw std::invalid_argument(fmt::format("unknown loss '{}' (expected ce or mse)", name));
}
std::string loss_name(Loss l) { return l == Loss::CrossEntropy ? "cross_entropy" : "mse"; }

ModelObjective::ModelObjective(Model model, Loss loss, const data::Dataset& data, ObjectiveOptions options)
    : model_(std::move(model)), loss_(loss), options_(options), weight_decay_{options.weight_decay},
      data_source_(data.source), fingerprint_(data.fingerprint) {
  data.validate();
  n_ = data.size();
  if (n_ == 0) throw data::DataError(fmt::format("{}: no examples", data.source));
  if (options_.chunk_size == 0) throw std::invalid_argument("ModelObjective: chunk_size must be positive");
  if (!model_.forward || model_.num_params == 0)
    throw std::invalid_argument(fmt::format("ModelObjective: model '{}' has no forward function or no parameters", model_.name));
  all_X_ = data.X;
  if (loss == Loss::CrossEntropy) {
    if (!data.has_labels())
      throw data::DataError(fmt::format("{}: cross-entropy needs integer labels", data.source));
    all_labels_ = data.labels;
  } else {
    if (data.has_targets()) all_targets_ = data.targets;
    else if (data.has_labels()) all_targets_ = data::one_hot(data.labels, data.num_classes);
    else throw data::DataError(fmt::format("{}: MSE needs targets or labels", data.source));
    all_labels_ = data.labels;  // for accuracy, if any
  }
  if (options_.threads == 0) throw std::invalid_argument("ModelObjective: threads must be positive");
  lanes_ = std::make_shared<Lanes>(options_.threads);
  for (std::size_t l = 0; l < options_.threads; ++l) lanes_state_.push_back(std::make_unique<Lane>());
  split_into_chunks();
  // Fail now, not mid-training, if the model does not fit the data.
  ad::Tape probe;
  Tensor theta0 = xt::zeros<double>({model_.num_params});
  const Chunk& first = chunks_.front();
  const std::size_t probe_rows = std::min<std::size_t>(2, first.X.shape()[0]);  // BatchNorm1d needs 2
  Tensor x1 = Tensor::from_shape({probe_rows, first.X.shape()[1]});
  std::copy_n(first.X.data(), x1.size(), x1.data());
  ad::Var out = model_.forward(probe.variable(theta0), probe.constant(x1));
  const Shape os = out.shape();
  if (os.size() != 2 || os[0] != probe_rows)
    throw ShapeError(fmt::format("{}: the model maps a [{}, {}] input to shape {}, expected [{}, k]", model_.name,
                                 probe_rows, x1.shape()[1], shape_str(os), probe_rows));
  if (loss == Loss::MSE && os[1] != all_targets_.shape()[1])
    throw ShapeError(fmt::format("{}: the model has {} outputs but the targets have {} columns", model_.name, os[1],
                                 all_targets_.shape()[1]));
  if (loss == Loss::CrossEntropy && os[1] < data.num_classes)
    throw ShapeError(fmt::format("{}: the model has {} outputs for {} classes", model_.name, os[1], data.num_classes));
  batch_rows_ = options_.batch_sum_across_ranks ? options_.batch_rows_across_ranks : n_;
  if (model_.couples_batch && (chunks_.size() > 1 || options_.batch_sum_across_ranks)) {
    reducer_ = std::make_unique<PartsReducer>(chunks_.size(), options_.batch_sum_across_ranks);
    for (std::size_t p = 0; p < chunks_.size(); ++p) part_tapes_.push_back(std::make_unique<ad::Tape>());
    part_grads_.resize(chunks_.size());
  }
}

// Chunks of chunk_size rows, each split into min(T, rows) parts of near-equal
// rows (T = 1: the chunks themselves), each weighted by its rows / n.
void ModelObjective::split_into_chunks() {
  const std::size_t T = options_.threads;
  for (std::size_t start = 0; start < n_; start += options_.chunk_size) {
    const std::size_t rows = std::min(n_, start + options_.chunk_size) - start, parts = std::min(T, rows);
    for (std::size_t q = 0; q < parts; ++q) {
      const std::size_t begin = start + rows * q / parts, end = start + rows * (q + 1) / parts;
      std::vector<std::size_t> idx;
      for (std::size_t i = begin; i < end; ++i) idx.push_back(i);
      Chunk c;
      data::gather_rows(all_X_, idx, c.X);
      if (!all_labels_.empty()) c.labels.assign(all_labels_.begin() + begin, all_labels_.begin() + end);
      if (all_targets_.dimension() == 2) data::gather_rows(all_targets_, idx, c.targets);
      c.weight = static_cast<double>(end - begin) / static_cast<double>(n_);
      chunks_.push_back(std::move(c));
    }
  }
}

// work(lane, part) for every part: lane ℓ takes parts ℓ, ℓ + T, …, all lanes at once.
template <class Work>
void ModelObjective::for_each_part(Work&& work) {
  const std::size_t T = lanes_->count(), k = chunks_.size();
  lanes_->run([&](std::size_t l) {
    for (std::size_t p = l; p < k; p += T) work(*lanes_state_[l], p);
  });
}

// Lane sums: lane 0 accumulates into `total` itself, the others into their
// own zeroed buffers, added to `total` in lane order afterwards.
Tensor& ModelObjective::lane_sum(Lane& lane, Tensor& total) { return &lane == lanes_state_[0].get() ? total : lane.sum; }
void ModelObjective::start_lane_sums(Tensor& total) {
  total.resize({model_.num_params});
  total.fill(0.0);
  for (std::size_t l = 0; l < lanes_state_.size(); ++l) {
    lanes_state_[l]->value = 0.0;
    if (l > 0) {
      lanes_state_[l]->sum.resize({model_.num_params});
      lanes_state_[l]->sum.fill(0.0);
    }
  }
}
double ModelObjective::finish_lane_sums(Tensor* total) {
  double f = 0.0;
  for (std::size_t l = 0; l < lanes_state_.size(); ++l) {
    f += lanes_state_[l]->value;
    if (total && l > 0) xt::noalias(*total) += lanes_state_[l]->sum;
  }
  return f;
}

ad::Tape& ModelObjective::TapeSlots::for_rows(std::size_t rows) {
  Slot* oldest = &slots_[0];
  for (auto& slot : slots_) {
    if (slot.rows == rows) {
      slot.last_use = ++uses_;
      return slot.tape;
    }
    if (slot.last_use < oldest->last_use) oldest = &slot;
  }
  oldest->rows = rows;  // least recently used: its buffers get reshaped
  oldest->last_use = ++uses_;
  return oldest->tape;
}

BatchContext ModelObjective::part_context(std::size_t part) const { return {reducer_.get(), part, batch_rows_}; }

// w_p·(the part's mean loss): weighted before the sweeps, so that the sum of
// the parts' adjoints of the batch statistics is the total derivative's
// (all_reduce_sum's vjp adds unweighted adjoints). The parts then add up
// with weight 1.
// Each part's seed is its share of the whole batch, n_c/N (N: all ranks'
// rows), so that the statistics' adjoints summed over parts and ranks are
// the whole batch's; results are then rescaled by N/n_local to this shard's
// mean (which a distributed objective weights by n_local/N again).
ad::ScalarFunction ModelObjective::coupled_loss(std::size_t part) const {
  return [this, part](ad::Var theta) {
    BatchScope scope(part_context(part));
    const double share = static_cast<double>(chunks_[part].X.shape()[0]) / static_cast<double>(batch_rows_);
    return ad::scale(chunk_loss(chunks_[part])(theta), share);
  };
}

void ModelObjective::run_coupled(const std::function<void(std::size_t, const Chunk&, ad::Tape&)>& work) {
  run_parts(chunks_.size(), *reducer_, [&](std::size_t p) { work(p, chunks_[p], *part_tapes_[p]); });
}

std::string ModelObjective::describe() const {
  return fmt::format("{} loss of {} on {} ({} examples){}", loss_name(loss_), model_.name, data_source_, n_,
                     options_.weight_decay ? fmt::format(" + {}‖θ‖²", options_.weight_decay) : "");
}

void ModelObjective::check_theta(const Tensor& theta, const char* what) const {
  if (theta.dimension() != 1 || theta.size() != model_.num_params)
    throw ShapeError(fmt::format("{}: θ has shape {}, the model has {} parameters", what,
                                 shape_str_of(theta.shape()), model_.num_params));
}

ad::Var ModelObjective::loss_on(ad::Var out, const std::vector<std::int64_t>& labels, const Tensor& targets) const {
  return loss_ == Loss::CrossEntropy ? ad::cross_entropy(out, labels) : ad::mse(out, targets);
}

ad::ScalarFunction ModelObjective::chunk_loss(const Chunk& c) const {
  return [this, &c](ad::Var theta) {
    return loss_on(model_.forward(theta, theta.tape()->constant_view(c.X)), c.labels, c.targets);
  };
}

double ModelObjective::value(const Tensor& theta) {
  check_theta(theta, "value");
  double f = 0.0;
  if (coupled()) {
    std::vector<double> parts(chunks_.size());
    run_coupled([&](std::size_t p, const Chunk&, ad::Tape& tape) {
      tape.clear();
      parts[p] = coupled_loss(p)(tape.variable(theta)).item();
    });
    for (double part : parts) f += rank_rescale() * part;  // (weighted in coupled_loss)
    weight_decay_.add_to_value(theta, f);
    return f;
  }
  for (auto& lane : lanes_state_) lane->value = 0.0;
  for_each_part([&](Lane& lane, std::size_t p) {
    const Chunk& c = chunks_[p];
    ad::Tape& tape = lane.tapes.for_rows(c.X.shape()[0]);
    tape.clear();
    lane.value += c.weight * chunk_loss(c)(tape.variable(theta)).item();
  });
  f = finish_lane_sums(nullptr);
  weight_decay_.add_to_value(theta, f);
  return f;
}

double ModelObjective::value_and_grad(const Tensor& theta, Tensor& grad) {
  check_theta(theta, "value_and_grad");
  double f = 0.0;
  if (coupled()) {
    std::vector<double> parts(chunks_.size());
    run_coupled([&](std::size_t p, const Chunk&, ad::Tape& tape) {
      parts[p] = ad::value_and_grad(tape, coupled_loss(p), theta, part_grads_[p]);
    });
    grad.resize({model_.num_params});
    grad.fill(0.0);
    for (std::size_t p = 0; p < parts.size(); ++p) {  // (weighted in coupled_loss)
      f += rank_rescale() * parts[p];
      xt::noalias(grad) += rank_rescale() * part_grads_[p];
    }
  } else if (chunks_.size() == 1) {  // the common case: no accumulation buffer
    f = ad::value_and_grad(tape_for(chunks_[0]), chunk_loss(chunks_[0]), theta, grad);
  } else {
    start_lane_sums(grad);
    for_each_part([&](Lane& lane, std::size_t p) {
      const Chunk& c = chunks_[p];
      lane.value += c.weight * ad::value_and_grad(lane.tapes.for_rows(c.X.shape()[0]), chunk_loss(c), theta, lane.part);
      xt::noalias(lane_sum(lane, grad)) += c.weight * lane.part;
    });
    f = finish_lane_sums(&grad);
  }
  weight_decay_.add_to_value(theta, f);
  weight_decay_.add_to_grad(theta, grad);
  return f;
}

void WeightDecay::add_to_value(const Tensor& theta, double& f) const {
  if (gamma != 0.0) f += gamma * inner(theta, theta);
}
void WeightDecay::add_to_grad(const Tensor& theta, Tensor& grad) const {
  if (gamma != 0.0) xt::noalias(grad) += (2.0 * gamma) * theta;
}
void WeightDecay::add_to_hvp(const Tensor& v, Tensor& hv) const {
  if (gamma != 0.0) xt::noalias(hv) += (2.0 * gamma) * v;
}

Tensor ModelObjective::hvp(const Tensor& theta, const Tensor& v) {
  check_theta(theta, "hvp");
  Tensor hv = xt::zeros<double>({model_.num_params});
  if (coupled()) {
    run_coupled([&](std::size_t p, const Chunk&, ad::Tape& tape) {
      part_grads_[p] = ad::hvp(tape, coupled_loss(p), theta, v).hvp;
    });
    for (const Tensor& part : part_grads_) xt::noalias(hv) += rank_rescale() * part;  // (weighted in coupled_loss)
  } else {
    start_lane_sums(hv);
    for_each_part([&](Lane& lane, std::size_t p) {
      const Chunk& c = chunks_[p];
      xt::noalias(lane_sum(lane, hv)) += c.weight * ad::hvp(lane.tapes.for_rows(c.X.shape()[0]), chunk_loss(c), theta, v).hvp;
    });
    finish_lane_sums(&hv);
  }
  weight_decay_.add_to_hvp(v, hv);
  return hv;
}

namespace {
// Σ_c w_c H_c v (+ 2γ v), with one linearized tape per chunk, or (cache off)
// one HVP from scratch per chunk and application. Tapes come from the
// objective's pool and go back to it when the operator is destroyed, so a
// trainer that linearizes every step reuses two sets of tape memory.
class ChunkedHessian : public HessianOperator {
 public:
  // `coupled`: the parts share batch statistics (nn/batch.hpp) and run
  // together, one thread each; null: one after another.
  ChunkedHessian(std::vector<std::pair<ad::ScalarFunction, double>> parts, const Tensor& theta, WeightDecay decay,
                 bool cache, std::shared_ptr<TapePool> pool, PartsReducer* coupled, std::shared_ptr<Lanes> lanes)
      : parts_(std::move(parts)), theta_(theta), decay_(decay), cache_(cache), pool_(std::move(pool)),
        coupled_(coupled), lanes_(std::move(lanes)) {
    grad_ = xt::zeros<double>(theta.shape());
    if (coupled_) build_coupled();
    else build_in_lanes();
    decay_.add_to_value(theta, value_);
    decay_.add_to_grad(theta, grad_);
  }
  ~ChunkedHessian() override {
    for (auto& lin : lins_)
      if (lin) pool_->give_back(lin->release_tape());
    for (auto& t : part_tapes_) pool_->give_back(std::move(t));
  }
  std::size_t dim() const override { return theta_.size(); }
  double value() const override { return value_; }
  const Tensor& grad() const override { return grad_; }
  void apply(const Tensor& v, Tensor& out) override {
    if (coupled_) {
      apply_coupled(v, out);
    } else if (parts_.size() == 1 && cache_) {  // one chunk: straight into out
      lins_[0]->apply(v, out);
      if (parts_[0].second != 1.0) out *= parts_[0].second;
    } else {
      out.resize(theta_.shape());
      out.fill(0.0);
      for (std::size_t l = 1; l < lane_.size(); ++l) {
        lane_[l]->sum.resize(theta_.shape());
        lane_[l]->sum.fill(0.0);
      }
      for_each_part([&](LaneState& lane, std::size_t p) {
        if (cache_) lins_[p]->apply(v, lane.part);
        else lane.part = ad::hvp(lane.tape, parts_[p].first, theta_, v).hvp;
        xt::noalias(&lane == lane_[0].get() ? out : lane.sum) += parts_[p].second * lane.part;
      });
      for (std::size_t l = 1; l < lane_.size(); ++l) xt::noalias(out) += lane_[l]->sum;  // in lane order
    }
    decay_.add_to_hvp(v, out);
    ++applications_;
  }
  using HessianOperator::apply;
  // Float32 products where each part has its linearized tape (not with
  // coupled parts, which share batch statistics, nor without the cache).
  bool float32_products(bool on) override {
    if (coupled_ || !cache_) return false;
    for (auto& lin : lins_) lin->float32_products(on);
    return on;
  }

 private:
  // Per lane (thread): a tape for HVPs from scratch, a part's result, a sum.
  struct LaneState {
    ad::Tape tape;
    Tensor part, sum;
  };
  template <class Work>
  void for_each_part(Work&& work) {  // lane ℓ takes parts ℓ, ℓ + T, …, all lanes at once
    const std::size_t T = lanes_->count(), k = parts_.size();
    lanes_->run([&](std::size_t l) {
      for (std::size_t p = l; p < k; p += T) work(*lane_[l], p);
    });
  }
  // Each part linearized (or its value and gradient taken) in the lanes,
  // then summed in part order.
  void build_in_lanes() {
    const std::size_t k = parts_.size();
    for (std::size_t l = 0; l < lanes_->count(); ++l) lane_.push_back(std::make_unique<LaneState>());
    lins_.resize(k);
    part_out_.resize(k);
    std::vector<double> values(k);
    std::vector<std::unique_ptr<ad::Tape>> tapes;
    if (cache_)
      for (std::size_t p = 0; p < k; ++p) tapes.push_back(pool_->take());  // the pool is not thread-safe
    for_each_part([&](LaneState& lane, std::size_t p) {
      if (cache_) {
        lins_[p] = std::make_unique<ad::Linearized>(parts_[p].first, theta_, std::move(tapes[p]));
        values[p] = lins_[p]->value();
      } else {
        auto vg = ad::value_and_grad(lane.tape, parts_[p].first, theta_);
        values[p] = vg.value;
        part_out_[p] = std::move(vg.grad);
      }
    });
    for (std::size_t p = 0; p < k; ++p) {
      value_ += parts_[p].second * values[p];
      xt::noalias(grad_) += parts_[p].second * (cache_ ? lins_[p]->grad() : part_out_[p]);
    }
    part_out_.clear();
  }
  // Every part at once: linearized (or evaluated) on its own tape and thread.
  void build_coupled() {
    const std::size_t k = parts_.size();
    lins_.resize(k);
    part_out_.resize(k);
    std::vector<double> values(k);
    for (std::size_t p = 0; p < k; ++p) part_tapes_.push_back(pool_->take());  // the pool is not thread-safe
    run_parts(k, *coupled_, [&](std::size_t p) {
      if (cache_) {
        lins_[p] = std::make_unique<ad::Linearized>(parts_[p].first, theta_, std::move(part_tapes_[p]));
        values[p] = lins_[p]->value();
        part_out_[p] = lins_[p]->grad();
      } else {
        values[p] = ad::value_and_grad(*part_tapes_[p], parts_[p].first, theta_, part_out_[p]);
      }
    });
    if (cache_) part_tapes_.clear();  // now owned by the linearizations
    for (std::size_t p = 0; p < k; ++p) {
      value_ += parts_[p].second * values[p];
      xt::noalias(grad_) += parts_[p].second * part_out_[p];
    }
  }
  void apply_coupled(const Tensor& v, Tensor& out) {
    run_parts(parts_.size(), *coupled_, [&](std::size_t p) {
      if (cache_) lins_[p]->apply(v, part_out_[p]);
      else part_out_[p] = ad::hvp(*part_tapes_[p], parts_[p].first, theta_, v).hvp;
    });
    out.resize(theta_.shape());
    out.fill(0.0);
    for (std::size_t p = 0; p < parts_.size(); ++p) xt::noalias(out) += parts_[p].second * part_out_[p];
  }

  std::vector<std::pair<ad::ScalarFunction, double>> parts_;
  std::vector<std::unique_ptr<ad::Linearized>> lins_;
  Tensor theta_, grad_;
  double value_ = 0.0;
  WeightDecay decay_;
  bool cache_;
  std::shared_ptr<TapePool> pool_;
  PartsReducer* coupled_;
  std::vector<std::unique_ptr<ad::Tape>> part_tapes_;
  std::vector<Tensor> part_out_;
  std::shared_ptr<Lanes> lanes_;
  std::vector<std::unique_ptr<LaneState>> lane_;
};
}  // namespace

std::unique_ptr<ad::Tape> TapePool::take() {
  if (free_.empty()) return std::make_unique<ad::Tape>();
  auto t = std::move(free_.back());
  free_.pop_back();
  return t;
}
void TapePool::give_back(std::unique_ptr<ad::Tape> tape) {
  if (tape && free_.size() < kMaxFree) free_.push_back(std::move(tape));
}

std::unique_ptr<HessianOperator> ModelObjective::hessian_at(const Tensor& theta) {
  check_theta(theta, "hessian_at");
  std::vector<std::pair<ad::ScalarFunction, double>> parts;
  for (std::size_t p = 0; p < chunks_.size(); ++p)
    parts.emplace_back(coupled() ? coupled_loss(p) : chunk_loss(chunks_[p]), coupled() ? rank_rescale() : chunks_[p].weight);
  return std::make_unique<ChunkedHessian>(std::move(parts), theta, weight_decay_, options_.cache_linearization,
                                          tape_pool_, reducer_.get(), lanes_);
}

const ModelObjective::Chunk& ModelObjective::gather(std::span<const std::size_t> batch) {
  if (batch.empty()) throw std::invalid_argument("minibatch: the batch is empty");
  data::gather_rows(all_X_, batch, batch_.X);
  batch_.labels.clear();
  if (!all_labels_.empty())
    for (std::size_t i : batch) batch_.labels.push_back(all_labels_[i]);
  if (all_targets_.dimension() == 2) data::gather_rows(all_targets_, batch, batch_.targets);
  batch_.weight = 1.0;
  return batch_;
}

// A minibatch of a BatchNorm model split across ranks would be normalized
// with each rank's statistics, not the minibatch's: refused, not approximated.
void ModelObjective::refuse_split_minibatch(const char* what) const {
  if (model_.couples_batch && options_.batch_sum_across_ranks)
    throw std::invalid_argument(fmt::format(
        "{}: {} normalizes each minibatch with its own statistics, which a minibatch split across MPI ranks does not "
        "have (only full-batch GD is sharded exactly); train it with SGD on one process",
        what, model_.name));
}

double ModelObjective::batch_value(const Tensor& theta, std::span<const std::size_t> batch) {
  check_theta(theta, "batch_value");
  refuse_split_minibatch("batch_value");
  const Chunk& b = gather(batch);
  ad::Tape& tape = tape_for(b);
  tape.clear();
  double f = chunk_loss(b)(tape.variable(theta)).item();
  weight_decay_.add_to_value(theta, f);
  return f;
}

double ModelObjective::batch_value_and_grad(const Tensor& theta, std::span<const std::size_t> batch, Tensor& grad) {
  check_theta(theta, "batch_value_and_grad");
  refuse_split_minibatch("batch_value_and_grad");
  const Chunk& b = gather(batch);
  double f = ad::value_and_grad(tape_for(b), chunk_loss(b), theta, grad);
  weight_decay_.add_to_value(theta, f);
  weight_decay_.add_to_grad(theta, grad);
  return f;
}

Tensor ModelObjective::outputs(const Tensor& theta) {
  check_theta(theta, "outputs");
  Tensor all;
  std::size_t row = 0;
  if (coupled()) {
    std::vector<Tensor> parts(chunks_.size());
    run_coupled([&](std::size_t p, const Chunk& c, ad::Tape& tape) {
      tape.clear();
      BatchScope scope(part_context(p));
      parts[p] = model_.forward(tape.variable(theta), tape.constant_view(c.X)).value();
    });
    for (const Tensor& out : parts) {
      if (row == 0) all = Tensor::from_shape({n_, out.shape()[1]});
      std::copy_n(out.data(), out.size(), all.data() + row * out.shape()[1]);
      row += out.shape()[0];
    }
    return all;
  }
  for (const auto& c : chunks_) {
    ad::Tape& tape = tape_for(c);
    tape.clear();
    const Tensor& out = model_.forward(tape.variable(theta), tape.constant_view(c.X)).value();
    if (row == 0) all = Tensor::from_shape({n_, out.shape()[1]});
    std::copy_n(out.data(), out.size(), all.data() + row * out.shape()[1]);
    row += out.shape()[0];
  }
  return all;
}

std::optional<double> ModelObjective::accuracy(const Tensor& theta) {
  if (all_labels_.empty()) return std::nullopt;
  const Tensor out = outputs(theta);
  const std::size_t k = out.shape()[1];
  std::size_t correct = 0;
  for (std::size_t i = 0; i < n_; ++i) {
    std::size_t best = 0;
    for (std::size_t j = 1; j < k; ++j)
      if (out(i, j) > out(i, best)) best = j;
    correct += static_cast<std::int64_t>(best) == all_labels_[i];
  }
  return static_cast<double>(correct) / static_cast<double>(n_);
}

std::vector<ParameterSlice> ModelObjective::parameter_slices() const { return model_.slices; }

std::string ModelObjective::data_fingerprint() const {
  if (fingerprint_.empty()) {
    Fingerprint f;
    f.add(all_X_);
    f.add(std::uint64_t(all_labels_.size()));
    f.add(all_labels_.data(), all_labels_.size() * sizeof(std::int64_t));
    if (all_targets_.dimension() == 2) f.add(all_targets_);  // (a default Tensor holds one unset value)
    fingerprint_ = f.hex();
  }
  return fingerprint_;
}

}  // namespace eos::nn
