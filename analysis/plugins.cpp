// The built-in plugins. Each block: the quantity (the paper's definition),
// its columns, its options. Registered by register_builtin_plugins().
#include <cmath>
#include <filesystem>
#include <numbers>
#include <numeric>

#include <fmt/format.h>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xview.hpp>

#include "../autodiff/npy.hpp"
#include "../autodiff/random.hpp"
#include "eigen.hpp"
#include "plugin.hpp"
#include "quadrature.hpp"

namespace eos::analysis {
namespace {

struct MeanSe {
  double mean = 0.0, se = 0.0;
};
MeanSe mean_se(const std::vector<double>& x) {
  MeanSe r;
  const double n = double(x.size());
  for (double v : x) r.mean += v / n;
  if (x.size() > 1) {
    double ss = 0.0;
    for (double v : x) ss += (v - r.mean) * (v - r.mean);
    r.se = std::sqrt(ss / (n - 1.0) / n);
  }
  return r;
}
// L(θ; ητ∇f) = ⟨∇f, ∇f − ∇f(θ − ητ∇f)⟩ / (ητ‖∇f‖²)
double smoothness_at(StepContext& ctx, double tau, Tensor& point) {
  const Tensor& g = ctx.grad();
  if (tau == 1.0) return ctx.directional_smoothness();  // the probe: free under GD
  point = ctx.theta();
  xt::noalias(point) -= (ctx.lr() * tau) * g;
  // v = ητ∇f, so L = ⟨∇f, ∇f − ∇f(θ − v)⟩/(ητ‖∇f‖²)
  return directional_smoothness(g, g, ctx.objective().value_and_grad(point).grad) / (ctx.lr() * tau);
}

// ---------------------------------------------------------------------------
class LossPlugin : public Plugin {
 public:
  std::string name() const override { return "loss"; }
  std::vector<std::string> columns() const override { return {"loss"}; }
  void observe(StepContext& ctx, Row& row) override { row.set("loss", ctx.loss()); }
};

class AccuracyPlugin : public Plugin {
 public:
  std::string name() const override { return "accuracy"; }
  std::vector<std::string> columns() const override { return {"accuracy"}; }
  void observe(StepContext& ctx, Row& row) override {
    if (auto a = ctx.objective().accuracy(ctx.theta())) row.set("accuracy", *a);
  }
};

class GradNormPlugin : public Plugin {
 public:
  std::string name() const override { return "grad_norm"; }
  std::vector<std::string> columns() const override { return {"grad_norm"}; }
  void observe(StepContext& ctx, Row& row) override { row.set("grad_norm", std::sqrt(ctx.grad_norm_sq())); }
};

// The first n coordinates of θ_t (for the two-parameter toys: the iterate in the plane).
class ThetaPlugin : public Plugin {
 public:
  explicit ThetaPlugin(std::size_t n) : n_(n) {
    if (n_ == 0 || n_ > 64) throw std::invalid_argument(fmt::format("plugin theta: n={} (expected 1 … 64)", n_));
  }
  std::string name() const override { return "theta"; }
  std::vector<std::string> columns() const override {
    std::vector<std::string> c;
    for (std::size_t i = 1; i <= n_; ++i) c.push_back(fmt::format("theta_{}", i));
    return c;
  }
  void observe(StepContext& ctx, Row& row) override {
    if (n_ > ctx.theta().size())
      throw std::invalid_argument(fmt::format("plugin theta: n={} but θ has {} coordinates", n_, ctx.theta().size()));
    for (std::size_t i = 0; i < n_; ++i) row.set(fmt::format("theta_{}", i + 1), ctx.theta()(i));
  }

 private:
  std::size_t n_;
};

// RP(θ) = (f(θ − η∇f) − f(θ))/(η‖∇f‖²); L(θ; η∇f); (4.3): RP ≈ −1 + (η/2)L.
class RelativeProgressPlugin : public Plugin {
 public:
  std::string name() const override { return "rp"; }
  std::vector<std::string> columns() const override { return {"rp", "L_dir", "rp_pred_43", "two_over_eta"}; }
  void observe(StepContext& ctx, Row& row) override {
    const double L = ctx.directional_smoothness();
    row.set("rp", ctx.relative_progress());
    row.set("L_dir", L);
    row.set("rp_pred_43", -1.0 + 0.5 * ctx.lr() * L);
    row.set("two_over_eta", 2.0 / ctx.lr());
  }
};

// Warm-start vectors as plugin state: one [count, dim] tensor.
void save_vectors(StateDict& into, const std::vector<Tensor>& vectors) {
  Tensor all = zeros({vectors.size(), vectors.empty() ? 0 : vectors[0].size()});
  for (std::size_t i = 0; i < vectors.size(); ++i) xt::view(all, i, xt::all()) = vectors[i];
  into.put("vectors", all);
}
std::vector<Tensor> load_vectors(const StateDict& from, std::size_t dim) {
  const Tensor& all = from.tensor("vectors");
  if (all.dimension() != 2 || (all.shape()[0] > 0 && all.shape()[1] != dim))
    throw StateError(fmt::format("state: warm-start vectors have shape {}, expected [count, {}]",
                                 shape_str_of(all.shape()), dim));
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < all.shape()[0]; ++i) out.emplace_back(xt::view(all, i, xt::all()));
  return out;
}

// RP and L along the update the optimizer actually made, v = θ_t − θ_{t+1}
// (= η_t U_t): RP_U = (f(θ_{t+1}) − f(θ_t)) / ⟨∇f(θ_t), v⟩ and
// L(θ_t; v) = ⟨v, ∇f(θ_t) − ∇f(θ_{t+1})⟩/‖v‖² (Definition 2). Under plain GD,
// v = η∇f and both are the rp plugin's RP and L_dir. For momentum or Adam,
// RP_U < 0 means the step went downhill relative to its first-order
// prediction along v, and L(θ; v) is the curvature met along v: an update
// whose L exceeds 2/η overshoots along its own direction.
class UpdateRelativeProgressPlugin : public Plugin {
 public:
  std::string name() const override { return "update_rp"; }
  std::vector<std::string> columns() const override {
    return {"update_rp", "update_L", "update_cos", "update_norm"};
  }
  void observe(StepContext& ctx, Row& row) override {
    if (!ctx.has_next()) return;  // the last step, or offline without θ_{t+1}: empty cells
    const Tensor& g = ctx.grad();
    copy_into(v_, ctx.theta());
    v_ -= ctx.next_theta();
    const double gv = inner(g, v_), vv = inner(v_, v_), gg = inner(g, g);
    if (vv == 0.0) return;  // no move: nothing to measure along
    const double f1 = ctx.next_loss();
    row.set("update_rp", (f1 - ctx.loss()) / gv);
    row.set("update_L", analysis::directional_smoothness(v_, g, ctx.next_grad()));
    if (gg > 0) row.set("update_cos", gv / std::sqrt(gg * vv));
    row.set("update_norm", std::sqrt(vv));
  }

 private:
  Tensor v_;
};

// The most negative curvature: the smallest eigenvalues of ∇²f(θ_t), by
// Lanczos on −∇²f, warm-started along the trajectory like sharpness.
class NegatedHessian : public HessianOperator {
 public:
  explicit NegatedHessian(HessianOperator& H) : H_(H) {}
  std::size_t dim() const override { return H_.dim(); }
  double value() const override { return H_.value(); }
  const Tensor& grad() const override { return H_.grad(); }
  void apply(const Tensor& v, Tensor& out) override {
    H_.apply(v, out);
    out *= -1.0;
    ++applications_;
  }
  using HessianOperator::apply;

 private:
  HessianOperator& H_;
};

class LambdaMinPlugin : public Plugin {
 public:
  explicit LambdaMinPlugin(LanczosOptions o) : opt_(std::move(o)) {
    for (std::size_t i = 2; i <= opt_.k; ++i) columns_.push_back(fmt::format("lambda_min_{}", i));
  }
  std::string name() const override { return "lambda_min"; }
  std::vector<std::string> columns() const override {
    std::vector<std::string> c = {"lambda_min"};
    c.insert(c.end(), columns_.begin(), columns_.end());
    c.insert(c.end(), {"lambda_min_residual", "lambda_min_hvps"});
    return c;
  }
  void reset() override { previous_.clear(); }
  void save_state(StateDict& into) const override { save_vectors(into, previous_); }
  void load_state(const StateDict& from, std::size_t dim) override { previous_ = load_vectors(from, dim); }
  bool needs_hessian() const override { return true; }
  void observe(StepContext& ctx, Row& row) override {
    NegatedHessian N(ctx.hessian());
    LanczosOptions o = opt_;
    o.seed = ctx.seed_for("lambda_min");
    o.warm_start = previous_;
    const EigenResult r = lanczos_top(N, o);  // the top of −H: −λmin, −λmin₂, …
    row.set("lambda_min", -r.values[0]);
    for (std::size_t i = 1; i < opt_.k; ++i) row.set(columns_[i - 1], -r.values[i]);
    row.set("lambda_min_residual", r.residuals[0] / std::max(std::abs(r.values[0]), 1e-300));
    row.set("lambda_min_hvps", double(r.hvps));
    previous_ = r.vectors;
  }

 private:
  LanczosOptions opt_;
  std::vector<std::string> columns_;
  std::vector<Tensor> previous_;
};

// L(θ; ητ∇f) over a τ grid; Theorem 2: RP = −1 + (η/2)·2∫₀¹ τ L dτ.
class TauProfilePlugin : public Plugin {
 public:
  TauProfilePlugin(std::string grid, std::size_t m) : grid_(std::move(grid)) {
    if (grid_ == "uniform") q_ = uniform_trapezoid(m);
    else if (grid_ == "gauss") q_ = gauss_legendre(m);
    else throw std::invalid_argument(fmt::format("plugin tau_profile: grid={} (expected uniform or gauss)", grid_));
  }
  std::string name() const override { return "tau_profile"; }
  std::vector<std::string> columns() const override {
    return {"tau_L_mean", "tau_L_std", "thm2_integral", "thm2_rp", "thm2_residual"};
  }
  void observe(StepContext& ctx, Row& row) override {
    std::vector<double> L;
    double integral = 0.0;
    for (std::size_t j = 0; j < q_.nodes.size(); ++j) {
      L.push_back(smoothness_at(ctx, q_.nodes[j], point_));
      integral += 2.0 * q_.weights[j] * q_.nodes[j] * L.back();
    }
    double mean = std::accumulate(L.begin(), L.end(), 0.0) / double(L.size()), var = 0.0;
    for (double v : L) var += (v - mean) * (v - mean) / double(L.size());
    const double pred = -1.0 + 0.5 * ctx.lr() * integral;
    row.set("tau_L_mean", mean);
    row.set("tau_L_std", std::sqrt(var));
    row.set("thm2_integral", integral);
    row.set("thm2_rp", pred);
    row.set("thm2_residual", std::abs(ctx.relative_progress() - pred));
  }

 private:
  std::string grid_;
  Quadrature q_;
  Tensor point_;
};

// λmax and the top k by warm-started Lanczos; |cos(∇f, v₁)|.
class SharpnessPlugin : public Plugin {
 public:
  SharpnessPlugin(LanczosOptions o, bool warm) : opt_(std::move(o)), warm_(warm) {
    for (std::size_t i = 0; i < opt_.k; ++i) lambda_columns_.push_back(fmt::format("lambda_{}", i + 1));
  }
  std::string name() const override { return "sharpness"; }
  std::vector<std::string> columns() const override {
    std::vector<std::string> c = {"lambda_max"};
    for (std::size_t i = 2; i <= opt_.k; ++i) c.push_back(fmt::format("lambda_{}", i));
    c.insert(c.end(), {"sharpness_residual", "sharpness_hvps", "cos_grad_top"});
    return c;
  }
  void reset() override { previous_.clear(); }
  void save_state(StateDict& into) const override { save_vectors(into, previous_); }
  void load_state(const StateDict& from, std::size_t dim) override { previous_ = load_vectors(from, dim); }
  bool needs_hessian() const override { return true; }
  void observe(StepContext& ctx, Row& row) override {
    HessianOperator& H = ctx.hessian();
    LanczosOptions o = opt_;
    o.seed = ctx.seed_for("sharpness");
    if (warm_) o.warm_start = previous_;
    const EigenResult r = lanczos_top(H, o);
    row.set("lambda_max", r.values[0]);
    for (std::size_t i = 1; i < opt_.k; ++i) row.set(lambda_columns_[i], r.values[i]);
    row.set("sharpness_residual", r.residuals[0] / std::abs(r.values[0]));
    row.set("sharpness_hvps", double(r.hvps));
    const Tensor& g = H.grad();
    const double gn = std::sqrt(inner(g, g));
    if (gn > 0) row.set("cos_grad_top", std::abs(inner(g, r.vectors[0])) / gn);
    previous_ = r.vectors;
  }

 private:
  LanczosOptions opt_;
  bool warm_;
  std::vector<Tensor> previous_;  // the k + extra Ritz vectors of the last analysed step
  std::vector<std::string> lambda_columns_;
};

// Corollary 1: L_t = sup over θ_t → θ_t − η∇f of λmax ≥ (2/η)(RP + 1).
class Corollary1Plugin : public Plugin {
 public:
  Corollary1Plugin(std::size_t points, LanczosOptions o) : points_(points), opt_(std::move(o)) {
    if (points_ < 2) throw std::invalid_argument("plugin corollary1: points must be at least 2");
  }
  std::string name() const override { return "corollary1"; }
  bool needs_hessian() const override { return true; }
  std::vector<std::string> columns() const override { return {"seg_lambda_max", "cor1_bound", "cor1_slack"}; }
  void observe(StepContext& ctx, Row& row) override {
    const Tensor& g = ctx.grad();
    double best = -INFINITY;
    std::vector<Tensor> warm;
    for (std::size_t j = 0; j < points_; ++j) {
      const double tau = double(j) / double(points_ - 1);
      std::unique_ptr<HessianOperator> at_point;
      if (j > 0) {
        Tensor p = ctx.theta();
        xt::noalias(p) -= (ctx.lr() * tau) * g;
        at_point = ctx.objective().hessian_at(p);
      }
      HessianOperator& H = j == 0 ? ctx.hessian() : *at_point;  // τ = 0 is θ_t: the step's own linearization
      LanczosOptions o = opt_;
      o.seed = ctx.seed_for("corollary1") + j;
      o.warm_start = warm;
      const EigenResult r = lanczos_top(H, o);
      best = std::max(best, r.values[0]);
      warm = r.vectors;
    }
    const double bound = 2.0 / ctx.lr() * (ctx.relative_progress() + 1.0);
    row.set("seg_lambda_max", best);
    row.set("cor1_bound", bound);
    row.set("cor1_slack", best - bound);
  }

 private:
  std::size_t points_;
  LanczosOptions opt_;
};

// b of n indices, uniformly without replacement (partial Fisher–Yates).
// The pool starts from 0..n−1 every time: draws depend on the seed alone, not
// on earlier steps, so online, offline and resumed runs draw alike.
std::vector<std::size_t> draw_batch(Rng& rng, std::size_t n, std::size_t b, std::vector<std::size_t>& pool) {
  pool.resize(n);
  std::iota(pool.begin(), pool.end(), 0);
  for (std::size_t i = 0; i < b; ++i) std::swap(pool[i], pool[i + rng.below(n - i)]);
  return std::vector<std::size_t>(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(b));
}

// Definition 3: E[RP] = (E f(θ − η g_B) − f(θ)) / (η‖∇f(θ)‖²);
// (5.1): E[RP] ≈ −1 + (η/2)·E[‖g_B‖²/‖∇f‖² · L(θ; η g_B)], from M draws.
class SgdRelativeProgressPlugin : public Plugin {
 public:
  SgdRelativeProgressPlugin(std::size_t draws, std::size_t batch) : draws_(draws), batch_(batch) {
    if (draws_ < 2) throw std::invalid_argument("plugin sgd_rp: draws must be at least 2 (for a standard error)");
  }
  std::string name() const override { return "sgd_rp"; }
  std::vector<std::string> columns() const override {
    return {"sgd_erp", "sgd_erp_se", "sgd_rhs51", "sgd_rhs51_se"};
  }
  void observe(StepContext& ctx, Row& row) override {
    Objective& obj = ctx.objective();
    const std::size_t n = obj.num_examples(), b = batch_ ? batch_ : ctx.batch_size();
    if (n == 0) throw std::invalid_argument("plugin sgd_rp: the objective is not a sum over examples");
    if (b == 0 || b > n)
      throw std::invalid_argument(fmt::format("plugin sgd_rp: batch size {} for {} examples (set batch=…)", b, n));
    Rng rng(ctx.seed_for("sgd_rp"));
    const double f = ctx.loss(), g2 = ctx.grad_norm_sq(), eta = ctx.lr();
    const Tensor& g = ctx.grad();
    std::vector<double> rp, rhs;
    Tensor p;
    for (std::size_t m = 0; m < draws_; ++m) {
      const auto idx = draw_batch(rng, n, b, pool_);
      const Tensor gb = obj.batch_value_and_grad(ctx.theta(), idx).grad;
      p = ctx.theta();
      xt::noalias(p) -= eta * gb;
      const auto fp = obj.value_and_grad(p);
      rp.push_back((fp.value - f) / (eta * g2));
      // ‖g_B‖²/‖∇f‖² · L(θ; ηg_B), with L(θ; ηg_B) = directional_smoothness(g_B, …)/η
      rhs.push_back(inner(gb, gb) / g2 * directional_smoothness(gb, g, fp.grad) / eta);
    }
    const MeanSe a = mean_se(rp), c = mean_se(rhs);
    row.set("sgd_erp", a.mean);
    row.set("sgd_erp_se", a.se);
    row.set("sgd_rhs51", -1.0 + 0.5 * eta * c.mean);
    row.set("sgd_rhs51_se", 0.5 * eta * c.se);
  }

 private:
  std::size_t draws_, batch_;
  std::vector<std::size_t> pool_;
};

// The diagonal block H_SS of ∇²f for the coordinates S = [offset, offset + size):
// v_S ↦ (H·[0, v_S, 0])_S.
class BlockHessian : public HessianOperator {
 public:
  BlockHessian(HessianOperator& H, std::size_t offset, std::size_t size)
      : H_(H), offset_(offset), size_(size), embedded_(zeros({H.dim()})),
        grad_(xt::view(H.grad(), xt::range(offset, offset + size))) {}
  std::size_t dim() const override { return size_; }
  double value() const override { return H_.value(); }
  const Tensor& grad() const override { return grad_; }
  void apply(const Tensor& v, Tensor& out) override {
    std::copy(v.begin(), v.end(), embedded_.begin() + std::ptrdiff_t(offset_));
    H_.apply(embedded_, hv_);
    std::fill(embedded_.begin() + std::ptrdiff_t(offset_), embedded_.begin() + std::ptrdiff_t(offset_ + size_), 0.0);
    if (out.size() != size_) out = Tensor::from_shape({size_});
    std::copy(hv_.begin() + std::ptrdiff_t(offset_), hv_.begin() + std::ptrdiff_t(offset_ + size_), out.begin());
    ++applications_;
  }
  using HessianOperator::apply;

 private:
  HessianOperator& H_;
  std::size_t offset_, size_;
  Tensor embedded_, hv_, grad_;
};

// Per-block curvature: λmax and the Hutchinson trace (with its standard
// error) of each diagonal block H_SS, for the model's named parameter blocks
// ("0.weight", "0.bias", …) or grouped per layer ("0" = its weight and bias).
// Probes are Rademacher vectors supported on the block: exact for a diagonal
// block, and without the cross-block variance of one probe for all blocks.
class BlockSharpnessPlugin : public Plugin {
 public:
  BlockSharpnessPlugin(bool per_layer, std::size_t probes, LanczosOptions o)
      : per_layer_(per_layer), probes_(probes), opt_(std::move(o)) {}
  std::string name() const override { return "block_sharpness"; }
  void bind(const Objective& objective) override {
    const auto blocks = objective.parameter_blocks();
    if (blocks.empty())
      throw std::invalid_argument(fmt::format("plugin block_sharpness: the objective '{}' has no named parameter "
                                              "blocks (a model objective has one per layer parameter)",
                                              objective.describe()));
    groups_.clear();
    for (const auto& b : blocks) {
      const std::string layer = b.name.substr(0, b.name.rfind('.'));
      const std::string key = per_layer_ ? layer : b.name;
      if (!groups_.empty() && groups_.back().name == key && groups_.back().offset + groups_.back().size == b.offset)
        groups_.back().size += b.size;  // the next parameter of the same layer, right after it in θ
      else
        groups_.push_back({key, b.offset, b.size});
    }
    previous_.assign(groups_.size(), {});
  }
  std::vector<std::string> columns() const override {
    std::vector<std::string> c;
    for (const auto& g : groups_)
      for (const char* what : {"block_lambda_max", "block_trace", "block_trace_se"})
        c.push_back(fmt::format("{}[{}]", what, g.name));
    return c;
  }
  bool needs_hessian() const override { return true; }
  void reset() override { previous_.assign(groups_.size(), {}); }
  void save_state(StateDict& into) const override {
    for (std::size_t i = 0; i < previous_.size(); ++i) {
      StateDict part;
      save_vectors(part, previous_[i]);
      into.merge(fmt::format("block{}", i), part);
    }
  }
  void load_state(const StateDict& from, std::size_t) override {
    for (std::size_t i = 0; i < groups_.size(); ++i)
      previous_[i] = load_vectors(from.extract(fmt::format("block{}", i)), groups_[i].size);
  }
  void observe(StepContext& ctx, Row& row) override {
    HessianOperator& H = ctx.hessian();
    Rng rng(ctx.seed_for("block_sharpness"));
    for (std::size_t i = 0; i < groups_.size(); ++i) {
      const ParameterBlock& g = groups_[i];
      BlockHessian B(H, g.offset, g.size);
      LanczosOptions o = opt_;
      o.k = std::min(o.k, g.size);
      o.extra = std::min(o.extra, g.size - o.k);
      o.seed = rng.next_u64();
      o.warm_start = previous_[i];
      const EigenResult r = lanczos_top(B, o);
      previous_[i] = r.vectors;
      row.set(fmt::format("block_lambda_max[{}]", g.name), r.values[0]);
      Tensor z = Tensor::from_shape({g.size}), Bz;
      std::vector<double> q;
      for (std::size_t p = 0; p < probes_; ++p) {
        for (auto& v : z) v = (rng.next_u64() >> 63) ? 1.0 : -1.0;
        B.apply(z, Bz);
        q.push_back(inner(z, Bz));
      }
      const MeanSe m = mean_se(q);
      row.set(fmt::format("block_trace[{}]", g.name), m.mean);
      row.set(fmt::format("block_trace_se[{}]", g.name), m.se);
    }
  }

 private:
  bool per_layer_;
  std::size_t probes_;
  LanczosOptions opt_;
  std::vector<ParameterBlock> groups_;
  std::vector<std::vector<Tensor>> previous_;
};

// Eigenvector tracking: the top-k eigenvectors at each analysed step (warm-
// started Lanczos), their overlap with the previous analysed step's, signs
// aligned to it, and, every `save_every` analysed steps, saved as
// DIR/eigvecs_step_<t>.npy ([k, dim], row i = v_{i+1}) for further analysis.
class EigvecOverlapPlugin : public Plugin {
 public:
  EigvecOverlapPlugin(LanczosOptions o, std::size_t save_every, std::string dir)
      : opt_(std::move(o)), save_every_(save_every), dir_(std::move(dir)) {}
  std::string name() const override { return "eigvec_overlap"; }
  std::vector<std::string> columns() const override { return {"eigvec_overlap", "eigvec_subspace_overlap"}; }
  bool needs_hessian() const override { return true; }
  void reset() override {
    previous_.clear();
    analysed_ = 0;
  }
  void save_state(StateDict& into) const override {
    save_vectors(into, previous_);
    into.put_integer("analysed", analysed_);
  }
  void load_state(const StateDict& from, std::size_t dim) override {
    previous_ = load_vectors(from, dim);
    analysed_ = from.integer("analysed");
  }
  void observe(StepContext& ctx, Row& row) override {
    LanczosOptions o = opt_;
    o.seed = ctx.seed_for("eigvec_overlap");
    o.warm_start = previous_;
    EigenResult r = lanczos_top(ctx.hessian(), o);
    const std::size_t k = opt_.k;
    if (previous_.size() >= k) {
      // |⟨v₁(t), v₁(t')⟩| and ‖V(t)ᵀV(t')‖²_F / k (1: the same k-dimensional subspace)
      double fro = 0.0;
      for (std::size_t i = 0; i < k; ++i)
        for (std::size_t j = 0; j < k; ++j) fro += std::pow(inner(r.vectors[i], previous_[j]), 2);
      row.set("eigvec_overlap", std::abs(inner(r.vectors[0], previous_[0])));
      row.set("eigvec_subspace_overlap", fro / double(k));
      for (std::size_t i = 0; i < k; ++i)  // sign alignment: the saved sequence varies continuously
        if (inner(r.vectors[i], previous_[i]) < 0) r.vectors[i] *= -1.0;
    }
    if (!dir_.empty() && analysed_ % save_every_ == 0) {
      Tensor all = zeros({k, r.vectors[0].size()});
      for (std::size_t i = 0; i < k; ++i) xt::view(all, i, xt::all()) = r.vectors[i];
      std::error_code ec;
      std::filesystem::create_directories(dir_, ec);
      write_npy(fmt::format("{}/eigvecs_step_{:08d}.npy", dir_, ctx.step()), all);
    }
    ++analysed_;
    previous_ = std::move(r.vectors);
  }

 private:
  LanczosOptions opt_;
  std::size_t save_every_;
  std::string dir_;
  std::vector<Tensor> previous_;
  std::uint64_t analysed_ = 0;
};

// Spectral density by stochastic Lanczos quadrature (Lin, Saad & Yang 2016;
// Ghorbani et al. 2019): m Lanczos steps from each of n_v random unit probes
// give Gauss nodes θ_jk and weights w_jk of the spectral measure seen from
// probe j; the density is (1/n_v) Σ_j Σ_k w_jk N(λ; θ_jk, σ²). The trace is
// estimated per probe as ‖z‖²·Σ_k w_jk θ_jk (= zᵀHz exactly), with its
// standard error across probes. Per evaluated step, when the run has a
// folder: density/step_<t>.csv (lambda, density on the grid) and
// density/step_<t>_nodes.csv (probe, node, weight).
class DensityPlugin : public Plugin {
 public:
  DensityPlugin(std::size_t probes, std::size_t steps, bool gaussian, std::size_t points, double sigma)
      : probes_(probes), steps_(steps), gaussian_(gaussian), points_(points), sigma_(sigma) {}
  std::string name() const override { return "density"; }
  std::vector<std::string> columns() const override {
    return {"density_lambda_min", "density_lambda_max", "density_trace", "density_trace_se"};
  }
  bool needs_hessian() const override { return true; }
  void observe(StepContext& ctx, Row& row) override {
    HessianOperator& H = ctx.hessian();
    Rng rng(ctx.seed_for("density"));
    Tensor z = Tensor::from_shape({H.dim()});
    std::vector<Quadrature1D> q;
    std::vector<double> traces;
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t j = 0; j < probes_; ++j) {
      for (auto& v : z) v = gaussian_ ? rng.normal() : ((rng.next_u64() >> 63) ? 1.0 : -1.0);
      q.push_back(lanczos_quadrature(H, z, steps_));
      double mean = 0.0;
      for (std::size_t k = 0; k < q.back().nodes.size(); ++k) mean += q.back().weights[k] * q.back().nodes[k];
      traces.push_back(inner(z, z) * mean);
      lo = std::min(lo, q.back().nodes.front());
      hi = std::max(hi, q.back().nodes.back());
    }
    const MeanSe t = mean_se(traces);
    row.set("density_lambda_min", lo);
    row.set("density_lambda_max", hi);
    row.set("density_trace", t.mean);
    row.set("density_trace_se", t.se);
    if (ctx.output_dir().empty()) return;
    // The broadened density on a grid padded by 5σ beyond the extreme nodes.
    const double sigma = sigma_ * std::max(hi - lo, 1e-12 * std::max(1.0, std::abs(hi)));
    const double a = lo - 5 * sigma, b = hi + 5 * sigma;
    const std::string dir = ctx.output_dir() + "/density";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::string grid = "lambda,density\n", nodes = "probe,node,weight\n";
    for (std::size_t i = 0; i < points_; ++i) {
      const double lam = a + (b - a) * double(i) / double(points_ - 1);
      double phi = 0.0;
      for (const auto& p : q)
        for (std::size_t k = 0; k < p.nodes.size(); ++k)
          phi += p.weights[k] * std::exp(-0.5 * std::pow((lam - p.nodes[k]) / sigma, 2));
      phi /= double(probes_) * sigma * std::sqrt(2 * std::numbers::pi);
      grid += fmt::format("{:.17g},{:.17g}\n", lam, phi);
    }
    for (std::size_t j = 0; j < q.size(); ++j)
      for (std::size_t k = 0; k < q[j].nodes.size(); ++k)
        nodes += fmt::format("{},{:.17g},{:.17g}\n", j, q[j].nodes[k], q[j].weights[k]);
    write_file_atomically(fmt::format("{}/step_{:08d}.csv", dir, ctx.step()), grid);
    write_file_atomically(fmt::format("{}/step_{:08d}_nodes.csv", dir, ctx.step()), nodes);
  }

 private:
  std::size_t probes_, steps_;
  bool gaussian_;
  std::size_t points_;
  double sigma_;
};

// tr ∇²f ≈ mean of zᵀHz over Rademacher z.
class HessianTracePlugin : public Plugin {
 public:
  explicit HessianTracePlugin(std::size_t probes) : probes_(probes) {
    if (probes_ < 2) throw std::invalid_argument("plugin hessian_trace: probes must be at least 2");
  }
  std::string name() const override { return "hessian_trace"; }
  std::vector<std::string> columns() const override { return {"trace", "trace_se"}; }
  bool needs_hessian() const override { return true; }
  void observe(StepContext& ctx, Row& row) override {
    HessianOperator& H = ctx.hessian();
    Rng rng(ctx.seed_for("hessian_trace"));
    Tensor z = Tensor::from_shape({H.dim()}), Hz;
    std::vector<double> q;
    for (std::size_t i = 0; i < probes_; ++i) {
      for (auto& v : z) v = (rng.next_u64() >> 63) ? 1.0 : -1.0;
      H.apply(z, Hz);
      q.push_back(inner(z, Hz));
    }
    const MeanSe m = mean_se(q);
    row.set("trace", m.mean);
    row.set("trace_se", m.se);
  }

 private:
  std::size_t probes_;
};

// v ↦ D H D v with D = P^{-1/2} (diagonal).
class ScaledHessian : public HessianOperator {
 public:
  ScaledHessian(HessianOperator& H, Tensor d) : H_(H), d_(std::move(d)) {}
  std::size_t dim() const override { return H_.dim(); }
  double value() const override { return H_.value(); }
  const Tensor& grad() const override { return H_.grad(); }
  void apply(const Tensor& v, Tensor& out) override {
    xt::noalias(dv_) = d_ * v;
    H_.apply(dv_, out);
    out *= d_;
    ++applications_;
  }
  using HessianOperator::apply;

 private:
  HessianOperator& H_;
  Tensor d_, dv_;
};

// λmax(P^{-1/2} H P^{-1/2}) with P the optimizer's preconditioner (identity
// for GD and momentum), against the optimizer's stability threshold.
class PreconditionedSharpnessPlugin : public Plugin {
 public:
  explicit PreconditionedSharpnessPlugin(LanczosOptions o) : opt_(std::move(o)) {}
  std::string name() const override { return "precond_sharpness"; }
  std::vector<std::string> columns() const override { return {"precond_lambda_max", "precond_threshold"}; }
  void reset() override { previous_.clear(); }
  void save_state(StateDict& into) const override { save_vectors(into, previous_); }
  void load_state(const StateDict& from, std::size_t dim) override { previous_ = load_vectors(from, dim); }
  bool needs_hessian() const override { return true; }
  void observe(StepContext& ctx, Row& row) override {
    const optim::Optimizer* opt = ctx.optimizer();
    if (!opt)
      throw std::invalid_argument("plugin precond_sharpness: needs the optimizer (its preconditioner is "
                                  "optimizer state); attach it to a Trainer or pass the optimizer offline");
    HessianOperator& H = ctx.hessian();
    Tensor d;
    if (auto P = opt->preconditioner()) d = 1.0 / xt::sqrt(*P);
    else d = xt::ones<double>({H.dim()});
    ScaledHessian S(H, std::move(d));
    LanczosOptions o = opt_;
    o.seed = ctx.seed_for("precond_sharpness");
    o.warm_start = previous_;
    const EigenResult r = lanczos_top(S, o);
    previous_ = r.vectors;
    row.set("precond_lambda_max", r.values[0]);
    row.set("precond_threshold", opt->stability_threshold(ctx.lr()));
  }

 private:
  LanczosOptions opt_;
  std::vector<Tensor> previous_;
};

LanczosOptions lanczos_options(OptionReader& r, std::size_t k_default) {
  LanczosOptions o;
  o.k = r.count("k", k_default, 1, 1000);
  o.tol = r.number("tol", 1e-3, 1e-15, 0.5);
  o.max_iter = r.count("max_iter", 200, 1, 100000);
  if (o.k == 0) throw std::invalid_argument("sharpness: k must be at least 1");
  const std::string stop = r.text("stop", "residual");
  if (stop == "residual") o.stop = LanczosStop::Residual;
  else if (stop == "value") o.stop = LanczosStop::Value;
  else throw std::invalid_argument(fmt::format("sharpness: stop={} (expected residual or value)", stop));
  o.extra = r.count("extra", 1, 0, 100);
  return o;
}

}  // namespace

void register_builtin_plugins(PluginRegistry& reg) {
  auto simple = [](auto make) {
    return [make](const PluginOptions& o) {
      OptionReader(make()->name(), o).finish();
      return make();
    };
  };
  reg.add({"loss", "full-batch training loss f(θ_t)", {{"loss", "f(θ_t)"}}, {},
           simple([] { return std::make_unique<LossPlugin>(); })});
  reg.add({"accuracy", "training accuracy (argmax of the outputs vs labels)", {{"accuracy", "fraction correct"}}, {},
           simple([] { return std::make_unique<AccuracyPlugin>(); })});
  reg.add({"grad_norm", "norm of the full-batch gradient", {{"grad_norm", "‖∇f(θ_t)‖"}}, {},
           simple([] { return std::make_unique<GradNormPlugin>(); })});
  reg.add({"theta", "the first n coordinates of θ_t (the paper's toys: the iterate in the plane)",
           {{"theta_i", "θ_t[i], i = 1…n"}},
           {{"n=2", "coordinates recorded (1 … 64)"}},
           [](const PluginOptions& o) {
             OptionReader r("theta", o);
             const std::size_t n = r.count("n", 2, 1, 1000000);
             r.finish();
             return std::make_unique<ThetaPlugin>(n);
           }});
  reg.add({"rp", "relative progress and directional smoothness along the GD step (free under GD)",
           {{"rp", "RP(θ_t) = (f(θ_t − η∇f) − f(θ_t))/(η‖∇f‖²)"},
            {"L_dir", "L(θ_t; η∇f) = ⟨η∇f, ∇f(θ_t) − ∇f(θ_t − η∇f)⟩/‖η∇f‖²"},
            {"rp_pred_43", "−1 + (η/2)·L_dir, the (4.3) prediction of RP"},
            {"two_over_eta", "2/η"}},
           {},
           simple([] { return std::make_unique<RelativeProgressPlugin>(); })});
  reg.add({"update_rp", "relative progress and directional smoothness along the update the optimizer made (any "
                        "optimizer; equal to rp under GD; free when θ_{t+1}'s loss and gradient are known)",
           {{"update_rp", "RP_U = (f(θ_{t+1}) − f(θ_t))/⟨∇f(θ_t), θ_t − θ_{t+1}⟩ (= η⟨∇f, U⟩ with U the update)"},
            {"update_L", "L(θ_t; θ_t − θ_{t+1}), Definition 2 along the actual step"},
            {"update_cos", "cos(∇f(θ_t), θ_t − θ_{t+1}): 1 for GD, less for momentum and Adam"},
            {"update_norm", "‖θ_t − θ_{t+1}‖"}},
           {},
           simple([] { return std::make_unique<UpdateRelativeProgressPlugin>(); })});
  reg.add({"block_sharpness", "λmax and Hutchinson trace of each diagonal block of the Hessian, per parameter or per layer",
           {{"block_lambda_max[NAME]", "λmax of the block H_SS of parameter (or layer) NAME, e.g. 0.weight or 0"},
            {"block_trace[NAME]", "tr H_SS by Hutchinson with Rademacher probes on the block"},
            {"block_trace_se[NAME]", "its standard error across probes"}},
           {{"group=parameter", "parameter: one block per named parameter (0.weight, 0.bias, …); layer: per layer"},
            {"probes=10", "Hutchinson probes per block (one HVP each)"},
            {"tol=1e-3", "Lanczos tolerance of each block's λmax"},
            {"max_iter=200", "HVP cap per block"}},
           [](const PluginOptions& o) {
             OptionReader r("block_sharpness", o);
             const std::string group = r.text("group", "parameter");
             if (group != "parameter" && group != "layer")
               throw std::invalid_argument(fmt::format("plugin block_sharpness: group={} (expected parameter or layer)", group));
             const std::size_t probes = r.count("probes", 10, 2, 100000);
             LanczosOptions lo;
             lo.tol = r.number("tol", 1e-3, 1e-15, 0.5);
             lo.max_iter = r.count("max_iter", 200, 1, 100000);
             lo.extra = 1;
             r.finish();
             return std::make_unique<BlockSharpnessPlugin>(group == "layer", probes, lo);
           }});
  reg.add({"eigvec_overlap", "top Hessian eigenvectors tracked along the trajectory: overlap with the previous analysed "
                             "step, and saved as .npy",
           {{"eigvec_overlap", "|⟨v₁(t), v₁(t')⟩|, t' the previous analysed step"},
            {"eigvec_subspace_overlap", "‖V(t)ᵀV(t')‖²_F / k for the top-k eigenvectors (1: the same subspace)"}},
           {{"k=1", "eigenvectors tracked"},
            {"tol=1e-3", "Lanczos tolerance"},
            {"stop=residual", "as sharpness"},
            {"max_iter=200", "HVP cap"},
            {"extra=1", "Ritz vectors kept for the next warm start"},
            {"dir=", "save the top-k eigenvectors (signs aligned step to step) as DIR/eigvecs_step_<t>.npy, [k, dim]; "
                     "empty: none"},
            {"save_every=1", "save at every n-th analysed step"}},
           [](const PluginOptions& o) {
             OptionReader r("eigvec_overlap", o);
             LanczosOptions lo = lanczos_options(r, 1);
             const std::size_t every = r.count("save_every", 1, 1, 1000000000);
             const std::string dir = r.text("dir", "");
             r.finish();
             return std::make_unique<EigvecOverlapPlugin>(lo, every, dir);
           }});
  reg.add({"density", "Hessian spectral density by stochastic Lanczos quadrature; per step density/step_<t>.csv "
                      "(lambda, density) and density/step_<t>_nodes.csv (probe, node, weight) in the run's folder",
           {{"density_lambda_min", "smallest Ritz node over probes (estimate of λmin)"},
            {"density_lambda_max", "largest Ritz node over probes (estimate of λmax)"},
            {"density_trace", "tr ∇²f estimated from the quadratures (zᵀHz per probe)"},
            {"density_trace_se", "its standard error across probes"}},
           {{"probes=5", "random probe vectors n_v"},
            {"steps=80", "Lanczos steps m per probe (one HVP each; exact for polynomials of degree < 2m)"},
            {"dist=rademacher", "probe distribution: rademacher or gaussian"},
            {"points=400", "grid points of the density file"},
            {"sigma=0.01", "Gaussian broadening, as a fraction of the spectrum's estimated width"}},
           [](const PluginOptions& o) {
             OptionReader r("density", o);
             const std::size_t probes = r.count("probes", 5, 2, 10000);
             const std::size_t steps = r.count("steps", 80, 1, 10000);
             const std::string dist = r.text("dist", "rademacher");
             if (dist != "rademacher" && dist != "gaussian")
               throw std::invalid_argument(fmt::format("plugin density: dist={} (expected rademacher or gaussian)", dist));
             const std::size_t points = r.count("points", 400, 2, 1000000);
             const double sigma = r.number("sigma", 0.01, 1e-6, 1.0);
             r.finish();
             return std::make_unique<DensityPlugin>(probes, steps, dist == "gaussian", points, sigma);
           }});
  reg.add({"lambda_min", "the smallest (most negative) Hessian eigenvalues by Lanczos on −H, warm-started",
           {{"lambda_min", "λmin(∇²f(θ_t))"},
            {"lambda_min_i", "the i-th smallest eigenvalue, i = 2…k"},
            {"lambda_min_residual", "‖Hv − λv‖/|λ| of the smallest pair"},
            {"lambda_min_hvps", "HVPs used"}},
           {{"k=1", "eigenvalues wanted"},
            {"tol=1e-3", "relative tolerance"},
            {"stop=residual", "as sharpness"},
            {"max_iter=200", "HVP cap"},
            {"extra=1", "Ritz vectors kept for the next warm start"}},
           [](const PluginOptions& o) {
             OptionReader r("lambda_min", o);
             LanczosOptions lo = lanczos_options(r, 1);
             r.finish();
             return std::make_unique<LambdaMinPlugin>(lo);
           }});
  reg.add({"tau_profile", "L(θ; ητ∇f) over a τ grid and Theorem 2's integral",
           {{"tau_L_mean", "mean of L(θ; ητ∇f) over the grid"},
            {"tau_L_std", "its standard deviation"},
            {"thm2_integral", "I = 2∫₀¹ τ L(θ; ητ∇f) dτ by the grid's quadrature"},
            {"thm2_rp", "−1 + (η/2)·I"},
            {"thm2_residual", "|RP − thm2_rp| (quadrature error only)"}},
           {{"grid=uniform", "uniform: τ = 1/m … 1 (the paper's 0.01 … 1 for m = 100), trapezoid; gauss: Gauss–Legendre"},
            {"m=100 (uniform) / 16 (gauss)", "number of τ nodes (one gradient each)"}},
           [](const PluginOptions& o) {
             OptionReader r("tau_profile", o);
             const std::string grid = r.text("grid", "uniform");
             const std::size_t m = r.count("m", grid == "gauss" ? 16 : 100, grid == "gauss" ? 1 : 2, grid == "gauss" ? 1000 : 100000);
             r.finish();
             return std::make_unique<TauProfilePlugin>(grid, m);
           }});
  reg.add({"sharpness", "top Hessian eigenvalues by Lanczos, warm-started along the trajectory",
           {{"lambda_max", "λmax(∇²f(θ_t))"},
            {"lambda_i", "the i-th largest eigenvalue, i = 2…k"},
            {"sharpness_residual", "‖Hv − λv‖/|λ| of the top pair"},
            {"sharpness_hvps", "HVPs used"},
            {"cos_grad_top", "|cos(∇f, v₁)|"}},
           {{"k=1", "eigenvalues wanted"},
            {"tol=1e-3", "relative tolerance of the stopping rule"},
            {"stop=residual", "residual: stop when ‖Hv − θv‖ ≤ tol·|θ|; value: when the eigenvalue itself is good to "
                              "tol, min(r, r²/δ) ≤ tol·|θ| with δ the gap to the next Ritz value (and r ≤ 10·tol·|θ|; "
                              "in a cluster narrower than that the error can reach the cluster's width). value takes "
                              "~30 % fewer HVPs at every-step tracking"},
            {"max_iter=200", "HVP cap"},
            {"warm=1", "warm start from the previous analysed step (0: cold)"},
            {"extra=1", "Ritz vectors kept beyond k for the next warm start: at the edge of stability the top two "
                        "swap, and a start with the old second vector finds the new top one"}},
           [](const PluginOptions& o) {
             OptionReader r("sharpness", o);
             LanczosOptions lo = lanczos_options(r, 1);
             const bool warm = r.count("warm", 1, 0, 1) != 0;
             r.finish();
             return std::make_unique<SharpnessPlugin>(lo, warm);
           }});
  reg.add({"corollary1", "Corollary 1: max λmax on the segment θ_t → θ_t − η∇f vs (2/η)(RP + 1)",
           {{"seg_lambda_max", "max of λmax over the segment's sample points"},
            {"cor1_bound", "(2/η)(RP + 1)"},
            {"cor1_slack", "seg_lambda_max − cor1_bound (≥ 0 up to sampling of the segment)"}},
           {{"points=5", "points on the segment, ends included"}, {"tol=1e-3", "Lanczos tolerance"}},
           [](const PluginOptions& o) {
             OptionReader r("corollary1", o);
             const std::size_t points = r.count("points", 5, 2, 1000);
             LanczosOptions lo;
             lo.tol = r.number("tol", 1e-3, 1e-15, 0.5);
             lo.max_iter = r.count("max_iter", 200, 1, 100000);
             r.finish();
             return std::make_unique<Corollary1Plugin>(points, lo);
           }});
  reg.add({"sgd_rp", "SGD: expected relative progress (Definition 3) and the (5.1) right-hand side",
           {{"sgd_erp", "mean over draws of (f(θ − ηg_B) − f(θ))/(η‖∇f‖²)"},
            {"sgd_erp_se", "its standard error"},
            {"sgd_rhs51", "−1 + (η/2)·mean of ‖g_B‖²/‖∇f‖² · L(θ; ηg_B)"},
            {"sgd_rhs51_se", "its standard error"}},
           {{"draws=64", "minibatch draws M"}, {"batch=<run's>", "minibatch size (uniform without replacement)"}},
           [](const PluginOptions& o) {
             OptionReader r("sgd_rp", o);
             const std::size_t draws = r.count("draws", 64, 1, 1000000), batch = r.count("batch", 0, 0, 1000000000);
             r.finish();
             return std::make_unique<SgdRelativeProgressPlugin>(draws, batch);
           }});
  reg.add({"hessian_trace", "Hutchinson estimate of tr ∇²f with Rademacher probes",
           {{"trace", "mean of zᵀHz"}, {"trace_se", "its standard error"}},
           {{"probes=20", "number of probes (one HVP each)"}},
           [](const PluginOptions& o) {
             OptionReader r("hessian_trace", o);
             const std::size_t probes = r.count("probes", 20, 1, 1000000);
             r.finish();
             return std::make_unique<HessianTracePlugin>(probes);
           }});
  reg.add({"precond_sharpness", "λmax(P^{-1/2} H P^{-1/2}) with P the optimizer's preconditioner",
           {{"precond_lambda_max", "λmax of the preconditioned Hessian"},
            {"precond_threshold", "the optimizer's stability threshold (2/η for GD, RMSProp; (2+2β₁)/((1−β₁)η) for Adam)"}},
           {{"tol=1e-3", "Lanczos tolerance"}},
           [](const PluginOptions& o) {
             OptionReader r("precond_sharpness", o);
             LanczosOptions lo;
             lo.tol = r.number("tol", 1e-3, 1e-15, 0.5);
             lo.max_iter = r.count("max_iter", 200, 1, 100000);
             r.finish();
             return std::make_unique<PreconditionedSharpnessPlugin>(lo);
           }});
}

}  // namespace eos::analysis
