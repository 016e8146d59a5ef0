// λmax at every step of a GD run, on the step's own linearization (the HVPs
// the sharpness plugin pays), by warm-start strategy: the stopping rule, how
// the earlier steps' Ritz vectors start the solve (one Lanczos start, or a
// first subspace), float32 products; HVPs per step before and after the
// onset of the edge of stability, and at sampled steps the error against a
// tight cold solve (1e-10 relative residual).
// fc-tanh 784-200-200-10, mean CE, first 5000 Fashion-MNIST images.
//   usage: bench_sharpness [warmup=300] [steps=60] [eta=0.1333] [tol=1e-3] [check_every=10]
//   EOS_BENCH_STRATEGIES=default,float64  runs only the strategies named
//   EOS_BENCH_DIAGNOSE=1  also prints how good each start is (see below)
// The first `warmup` GD steps run without λmax (η = 2/15 reaches the edge of
// stability after ~220 steps), then `steps` steps measure.
#include <array>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <functional>

#include <fmt/format.h>

#include <eoslab.hpp>

using namespace eos;
using namespace eos::analysis;
using Clock = std::chrono::steady_clock;

namespace {

// Warm-start strategies: the stopping rule, how the warm-start vectors are
// used (summed into one Lanczos start, or spanning a first subspace), and
// which: built from the Ritz vectors of earlier steps (h[1] = step t − 1,
// h[2] = t − 2, …; each top vector's sign aligned with the one before it)
// and the gradient ∇f(θ_t). At the edge of stability θ_t oscillates with
// period two, and so do H and its top eigenvector.
using History = std::deque<std::vector<Tensor>>;  // h[0]: the step being solved (empty)
using Starts = std::function<std::vector<Tensor>(const History&, const Tensor&)>;
struct Strategy {
  const char* name;
  LanczosStop stop;
  WarmStart start;
  std::size_t keep;  // Ritz vectors returned (k + extra)
  Starts starts;
  // Float64; Mixed (float32 products, checked in float64); Lead (hvp=float64-lead); LeadOrMixed (hvp=auto:
  // mixed where one of the last two solves took ≥ 3 HVPs and for the cold one, else float64-lead);
  // Float64OrMixed (hvp=auto before 2026-12-05's fourth session: float64 instead of float64-lead)
  enum class Precision { Float64, Mixed, Lead, LeadOrMixed, Float64OrMixed } precision = Precision::Float64;
  bool power = false;  // keep Hv/‖Hv‖ instead of the Ritz vector v (a free power step)
  GuardSchedule guard;  // guard.every: the plugin's guard_every (solves between guarded ones may stop on the lead)
  // a solve on the lead alone carries the guard over from step t − guard_from (0: t − guard_back)
  std::size_t guard_from = 1;
  std::array<std::size_t, 2> lengths{};  // of the last two solves, their float64 check not counted
  History history = History(5);
  double hvps = 0, float32_hvps = 0, seconds = 0, max_err = 0, guarded = 0;
  double hvps_before = 0, hvps_after = 0;  // the onset: the first step with λmax ≥ 2/η
};

// The step (1 or 2 back) whose top Ritz vector is closer to the predicted top 2v(t−2) − v(t−4) (v(t−2)
// before there are four steps): the sharpness plugin's guard source (t − 1 until there are two steps).
std::size_t guard_back(const History& h) {
  if (h[1].empty() || h[2].empty()) return 1;
  Tensor x = h[2][0];
  if (!h[4].empty()) x = 2.0 * h[2][0] - (inner(h[2][0], h[4][0]) < 0 ? -1.0 : 1.0) * h[4][0];
  return std::abs(inner(x, h[2][0])) > std::abs(inner(x, h[1][0])) ? 2 : 1;
}

std::vector<Strategy> all_strategies() {
  using enum LanczosStop;
  using enum WarmStart;
  auto top = [](const History& h, std::size_t back) { return h[back].empty() ? Tensor() : h[back][0]; };
  auto second = [](const History& h, std::size_t back) { return h[back].size() < 2 ? Tensor() : h[back][1]; };
  auto all = [](const History& h, std::size_t back) { return h[back]; };
  auto nonempty = [](std::vector<Tensor> v) {
    std::erase_if(v, [](const Tensor& x) { return x.dimension() == 0; });
    return v;
  };
  // x + Σ cᵢ yᵢ when every y exists, else x.
  auto extrapolate = [](Tensor x, std::initializer_list<std::pair<double, Tensor>> terms) {
    for (const auto& [c, y] : terms)
      if (y.dimension() == 0) return x;
    for (const auto& [c, y] : terms) x += c * y;
    return x;
  };
  // v(t−2) + v(t−1) − v(t−3): the step's change repeats the one two steps back
  auto x1 = [=](const History& h) { return extrapolate(top(h, 2), {{1.0, top(h, 1)}, {-1.0, top(h, 3)}}); };
  // 2v(t−2) − v(t−4): the drift of the phase two steps back continues
  auto x2 = [=](const History& h) { return extrapolate(top(h, 2), {{1.0, top(h, 2)}, {-1.0, top(h, 4)}}); };
  auto or_last = [=](const History& h, std::vector<Tensor> v) { return h[2].empty() ? all(h, 1) : nonempty(v); };
  auto last_two = [=](const History& h, const Tensor&) { return nonempty({top(h, 1), top(h, 2)}); };
  // the sharpness plugin's default start: 2v(t−2) − v(t−4) (v(t−2), v(t−1) before there are four
  // steps) and the second Ritz vector of step t − 1 or t − 2, whichever top vector is closer to the
  // predicted one (guard_back): where the top two swap, the new top is the old second
  auto extrapolated = [=](const History& h, const Tensor&) { return or_last(h, {x2(h), second(h, guard_back(h))}); };
  // the same with the second Ritz vector of step t − 2 always (this session's first try)
  auto extrapolated_t2 = [=](const History& h, const Tensor&) { return or_last(h, {x2(h), second(h, 2)}); };
  // the same with the second Ritz vector of step t − 1 (the plugin before 2026-12-06)
  auto extrapolated_t1 = [=](const History& h, const Tensor&) { return or_last(h, {x2(h), second(h, 1)}); };
  using enum Strategy::Precision;
  return {
      // the plugin's defaults: kept vectors Hv/‖Hv‖, float64-lead or mixed by the last two solves' lengths
      // and the guard paid at half the solves where the run is calm and the gaps wide
      {"default", Value, Subspace, 2, extrapolated, LeadOrMixed, true, {2}, 0},
      {"float64", Value, Subspace, 2, extrapolated, Float64, true, {2}, 0},              // hvp=float64
      {"mixed", Value, Subspace, 2, extrapolated, Mixed, true, {2}, 0},                  // hvp=mixed
      {"float64-lead", Value, Subspace, 2, extrapolated, Lead, true, {2}, 0},            // hvp=float64-lead
      {"float64/guard-t2", Value, Subspace, 2, extrapolated_t2, Float64, true, {2}, 2},  // the guard from t − 2 always
      // the guard from step t − 1: the defaults before 2026-12-06
      {"guard-t1", Value, Subspace, 2, extrapolated_t1, LeadOrMixed, true, {2}},
      {"float64/guard-t1", Value, Subspace, 2, extrapolated_t1, Float64, true, {2}},
      {"guard1", Value, Subspace, 2, extrapolated_t1, LeadOrMixed, true},  // guard_every=1: the default before that
      {"float64/guard1", Value, Subspace, 2, extrapolated_t1, Float64, true},  // hvp=float64,guard_every=1
      {"float64/mixed", Value, Subspace, 2, extrapolated_t1, Float64OrMixed, true},  // the default before guard1
      {"float64-Ritz", Value, Subspace, 2, extrapolated_t1},  // kept Ritz vectors (before 2026-12-05, 3rd session)
      {"mixed-Ritz", Value, Subspace, 2, extrapolated_t1, Mixed},
      {"S:x2", Value, Subspace, 1, [=](const History& h, const Tensor&) { return or_last(h, {x2(h)}); }},
      {"S:v,v'", Value, Subspace, 1, last_two},
      {"old-default", Residual, Sum, 2, [=](const History& h, const Tensor&) { return all(h, 1); }},
      {"residual", Residual, Sum, 1, [=](const History& h, const Tensor&) { return all(h, 1); }},
      {"value+2nd", Value, Sum, 2, [=](const History& h, const Tensor&) { return all(h, 1); }},
      {"S:v,v2", Value, Subspace, 2, [=](const History& h, const Tensor&) { return all(h, 1); }},
      {"S:v,v2,v',v2'", Value, Subspace, 2,
       [=](const History& h, const Tensor&) { return nonempty({top(h, 1), second(h, 1), top(h, 2), second(h, 2)}); }},
      {"S:v'", Value, Subspace, 1, [=](const History& h, const Tensor&) { return or_last(h, {top(h, 2)}); }},
      {"S:x1", Value, Subspace, 1, [=](const History& h, const Tensor&) { return or_last(h, {x1(h)}); }},
      {"S:x1,v", Value, Subspace, 1, [=](const History& h, const Tensor&) { return or_last(h, {x1(h), top(h, 1)}); }},
      {"S:x1,v2", Value, Subspace, 2, [=](const History& h, const Tensor&) { return or_last(h, {x1(h), second(h, 1)}); }},
  };
}

// sin∠(x, u₁) where u₁ is known (else NaN).
double sin_to(const Tensor& u1, const Tensor& x) {
  if (u1.dimension() == 0 || x.dimension() == 0) return NAN;
  const double c = inner(x, u1) / std::sqrt(inner(x, x));
  return std::sqrt(std::max(0.0, 1.0 - c * c));
}

// EOS_BENCH_DIAGNOSE with check_every = 1: how well the exact top
// eigenvectors of earlier steps predict this one (exact_tops[0] = u₁(t)).
std::string exact_prediction(std::deque<Tensor>& exact_tops, const Tensor& u1) {
  exact_tops.push_front(u1);
  if (exact_tops.size() > 5) exact_tops.pop_back();
  if (exact_tops.size() < 5) return "";
  auto aligned = [&](std::size_t back) {
    Tensor x = exact_tops[back];
    if (inner(x, u1) < 0) x *= -1.0;
    return x;
  };
  const Tensor two = aligned(2), four = aligned(4);
  return fmt::format("  [exact: sin u(t-1) {:.1e}, u(t-2) {:.1e}, 2u(t-2)-u(t-4) {:.1e}]", sin_to(u1, aligned(1)),
                     sin_to(u1, two), sin_to(u1, Tensor(2.0 * two - four)));
}

// One strategy's solve at step t; adds to its totals, returns λmax. diag
// (non-null: EOS_BENCH_DIAGNOSE) gets what the start alone gives and how far
// the start and the result are from u₁ (where known).
double solve_step(Strategy& st, HessianOperator& H, std::size_t t, double tol, bool after_onset, const Tensor& u1,
                  std::string* diag) {
  using enum Strategy::Precision;
  LanczosOptions o;
  o.tol = tol;
  o.seed = t;
  o.stop = st.stop;
  o.start = st.start;
  o.extra = st.keep - 1;
  o.warm_start = st.starts(st.history, H.grad());
  const bool calm = std::max(st.lengths[0], st.lengths[1]) < 3;  // the last two solves short
  const bool short_solve = !o.warm_start.empty() && calm;
  o.float32_products = st.precision != Float64 && !(st.precision == Float64OrMixed && short_solve);
  o.float64_lead = st.precision == Lead || (st.precision == LeadOrMixed && short_solve);
  if (!o.warm_start.empty()) o.assumed_gap = st.guard.next(calm);
  if (diag && !o.warm_start.empty()) {  // what the start alone gives (HVPs not counted)
    LanczosOptions first = o;
    first.max_iter = o.warm_start.size();
    const auto r0 = lanczos_top(H, first);
    *diag += fmt::format("  [{}: start sin {:.1e}, r/θ {:.1e}, err/θ {:.1e}, δ/θ {:.2f}", st.name,
                         sin_to(u1, o.warm_start[0]), r0.residuals[0] / r0.values[0], r0.errors[0] / r0.values[0],
                         r0.gaps[0] / r0.values[0]);
  }
  const auto c0 = Clock::now();
  const auto r = lanczos_top(H, o);
  st.seconds += std::chrono::duration<double>(Clock::now() - c0).count();
  st.hvps += double(r.hvps);
  st.float32_hvps += double(r.float32_hvps);
  st.lengths = {r.hvps - r.check_hvps, st.lengths[0]};
  st.guard.record(r, 1);
  st.guarded += !r.on_assumed_gap;
  (after_onset ? st.hvps_after : st.hvps_before) += double(r.hvps);
  std::vector<Tensor> vectors = r.vectors;
  if (st.power)
    for (std::size_t i = 0; i < vectors.size() && i < r.products.size(); ++i)
      if (r.values[i] > 0) vectors[i] = r.products[i] / std::sqrt(inner(r.products[i], r.products[i]));
  for (std::size_t i = 0; i < vectors.size() && i < st.history[1].size(); ++i)  // signs follow the last step's
    if (inner(vectors[i], st.history[1][i]) < 0) vectors[i] *= -1.0;
  const std::size_t from = st.guard_from ? st.guard_from : guard_back(st.history);
  const std::vector<Tensor>& guards = st.history[st.history[from].empty() ? 1 : from];
  for (std::size_t i = vectors.size(); i < guards.size(); ++i)  // the lead alone: the guard carries over
    vectors.push_back(guards[i]);
  if (diag) *diag += fmt::format(", end sin {:.1e}]", sin_to(u1, r.vectors[0]));
  st.history.pop_back();
  st.history[0] = std::move(vectors);
  st.history.push_front({});
  return r.values[0];
}

void print_summary(const std::vector<Strategy>& strategies, const Tensor& theta, std::size_t warmup, std::size_t steps,
                   std::size_t onset) {
  // θ's fingerprint: the strategies only read each step's operator, so every subset of them gives the same
  double theta_sum = 0.0;
  for (const double x : theta) theta_sum += x;
  fmt::print("\nΣθ after the last step: {:a}\n", theta_sum);
  const double before = onset ? double(onset - warmup) : double(steps), after = double(steps) - before;
  fmt::print("\nonset (first step after λmax ≥ 2/η): {}\n", onset ? std::to_string(onset) : "none");
  fmt::print("{:<15} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>14}\n", "strategy", "HVPs/step", "before", "after",
             "float32", "guarded", "ms/step", "largest error");
  for (const auto& st : strategies)
    fmt::print("{:<15} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.1f} {:>14.1e}\n", st.name,
               st.hvps / double(steps), before > 0 ? st.hvps_before / before : NAN,
               after > 0 ? st.hvps_after / after : NAN, st.float32_hvps / double(steps), st.guarded / double(steps),
               st.seconds / double(steps) * 1e3, st.max_err);
}

}  // namespace

int main(int argc, char** argv) {
  eos::restart_with_cpu_blas_kernel();  // as eoslab does: the CPU's kernel, not OpenBLAS's Prescott fallback
  const std::size_t warmup = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 300;
  const std::size_t steps = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 60;
  const double eta = argc > 3 ? std::strtod(argv[3], nullptr) : 2.0 / 15.0;
  const double tol = argc > 4 ? std::strtod(argv[4], nullptr) : 1e-3;
  const std::size_t check_every = argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 10;
  nn::ObjectiveSpec spec;
  spec.data.n = 5000;
  spec.hidden = {200, 200};
  auto built = nn::build_objective(spec);
  auto& obj = *built.objective;
  Tensor theta = built.theta0, grad;
  optim::GradientDescent gd(optim::Schedule::constant(eta));
  const auto w0 = Clock::now();
  for (std::size_t t = 0; t < warmup; ++t) {
    obj.value_and_grad(theta, grad);
    gd.step(theta, grad);
  }
  const double gd_step_s = warmup ? std::chrono::duration<double>(Clock::now() - w0).count() / double(warmup) : 0;
  fmt::print("{}\nGD η = {:.4g}: {} plain steps first ({:.1f} ms each), then λmax to {:g} every step\n\n",
             obj.describe(), eta, warmup, gd_step_s * 1e3, tol);
  std::vector<Strategy> strategies = all_strategies();
  // EOS_BENCH_DIAGNOSE=1: per strategy and step, sin∠ of the first start vector and of the result to the
  // top eigenvector (at checked steps), and what Rayleigh–Ritz on the start alone gives (r/θ, the error
  // estimate, the gap): how far the start is from stopping without a further HVP.
  const bool diagnose = std::getenv("EOS_BENCH_DIAGNOSE") != nullptr;
  if (const char* only = std::getenv("EOS_BENCH_STRATEGIES")) {  // a comma-separated subset by name
    const std::string names = std::string(",") + only + ",";
    std::erase_if(strategies, [&](const Strategy& st) { return names.find("," + std::string(st.name) + ",") == std::string::npos; });
  }
  fmt::print("{:>5} {:>10}", "step", "λmax");
  for (const auto& st : strategies) fmt::print(" {:>14}", st.name);
  fmt::print("   (HVPs; relative error against a 1e-10 solve every {} steps)\n", check_every);
  std::size_t onset = 0;
  std::deque<Tensor> exact_tops;  // u₁ of the last five steps (diagnose, check_every = 1)
  for (std::size_t t = 0; t < steps; ++t) {
    auto H = obj.hessian_at(theta);
    double truth = NAN;
    Tensor u1;  // the top eigenvector at the checked steps
    std::string diag;
    if (t % check_every == 0) {
      LanczosOptions tight;
      tight.tol = 1e-10;
      tight.max_iter = 300;
      tight.seed = 1000 + t;
      if (diagnose) tight.k = 2;  // and λ₂: the gap
      auto exact = lanczos_top(*H, tight);
      if (diagnose) diag = fmt::format("  [λ₂/λ₁ {:.4f}]", exact.values[1] / exact.values[0]);
      truth = exact.values[0];
      u1 = exact.vectors[0];
    }
    if (diagnose && check_every == 1) diag += exact_prediction(exact_tops, u1);
    double lambda = 0;
    std::string cells;
    for (auto& st : strategies) {
      const double hvps_before = st.hvps;
      lambda = solve_step(st, *H, t, tol, onset != 0, u1, diagnose ? &diag : nullptr);
      const std::size_t hvps = std::size_t(st.hvps - hvps_before);
      if (std::isfinite(truth)) {
        const double e = std::abs(lambda - truth) / truth;
        st.max_err = std::max(st.max_err, e);
        cells += fmt::format(" {:>5} {:>8.1e}", hvps, e);
      } else {
        cells += fmt::format(" {:>5} {:>8}", hvps, "");
      }
    }
    fmt::print("{:>5} {:>10.5f}{}{}\n", warmup + t, lambda, cells, diag);
    std::fflush(stdout);
    if (!onset && lambda >= 2.0 / eta) onset = warmup + t + 1;  // from the next step on
    gd.step(theta, H->grad());
  }
  print_summary(strategies, theta, warmup, steps, onset);
  return 0;
}
