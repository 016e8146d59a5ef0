// The eoslab half of bench/compare_torch.py: the workload of issue 8 (fc-tanh
// 784-200-200-10, mean cross-entropy, the first 5000 Fashion-MNIST images
// standardized, float64), each operation timed in this process, results as
// one JSON object on stdout.
//   bench_ops export DIR         X.npy, y.npy (labels as float64), theta0.npy, v.npy
//   bench_ops time [--quick] [--gd-steps G]   the timings and the values the script checks
// Operations: loss; loss + gradient; HVP from scratch; linearized HVP (float64
// and on float32 products); the linearization itself; cold
// λmax (Lanczos, residual rule, tol 1e-3 — ARPACK's criterion —, the
// eigenvalue rule, and the eigenvalue rule on float32 products with the
// float64 check); G GD steps plain; G GD steps with λmax every step (the
// sharpness plugin's defaults — float32 products checked in float64 —, the
// same in float64, and the residual rule in float64); S SGD steps
// at batch 32. G = 100, S = 1000 (--quick: 10, 100). The λmax runs are also
// timed in the steady state, from step 15 (G/2 if less) to G, past the cold
// solve and the transient of the first steps.
// GD and SGD run through analysis::Trainer, as `eoslab train` does.
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <eoslab.hpp>

using namespace eos;
using namespace eos::analysis;
using Clock = std::chrono::steady_clock;

namespace {

// Computed as `eoslab train` computes by default: each chunk in one part per core.
nn::ObjectiveSpec workload() {
  nn::ObjectiveSpec spec;
  spec.data.n = 5000;
  spec.hidden = {200, 200};
  spec.threads = std::max(1u, std::thread::hardware_concurrency());
  return spec;
}
constexpr double kEta = 2.0 / 15.0;  // the eos preset's step size

Tensor direction(std::size_t n) {  // the HVP direction both sides use
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal;
  Tensor v = Tensor::from_shape({n});
  for (auto& x : v) x = normal(rng);
  return v;
}

// Seconds per call of f: repeated until `budget` seconds have passed (at least `min_reps` calls).
template <class F>
double per_call(F&& f, double budget, int min_reps = 3) {
  f();  // warm-up: buffers, BLAS threads
  int reps = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  while (reps < min_reps || elapsed < budget) {
    f();
    ++reps;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  return elapsed / reps;
}

// When each step's plugins ran (attached last, it sees the step's other
// plugins done): the time between two steps' observations is what the steps
// between them cost, the update included.
using StepTimes = std::vector<Clock::time_point>;
class StepClock : public Plugin {
 public:
  explicit StepClock(StepTimes& at) : at_(at) {}
  std::string name() const override { return "step_clock"; }
  std::vector<std::string> columns() const override { return {}; }
  void observe(StepContext&, Row&) override { at_.push_back(Clock::now()); }

 private:
  StepTimes& at_;
};

// The first steps of tracking from θ₀ are a cold solve and a transient
// (5–14 HVPs a step before the top eigenvector separates); the steady state
// is timed from this step on.
constexpr std::size_t kSteadyFrom = 15;

double run_seconds(Objective& obj, const Tensor& theta0, std::size_t steps, std::size_t batch,
                   const std::string& plugin, RunResult* out = nullptr, StepTimes* clock = nullptr) {
  optim::GradientDescent gd(optim::Schedule::constant(batch ? 0.05 : kEta));
  TrainerOptions o;
  o.max_steps = steps;
  o.batch_size = batch;
  o.divergence_factor = INFINITY;
  Trainer t(obj, gd, o);
  if (!plugin.empty()) t.attach(PluginRegistry::global().create_from_spec(plugin));
  if (clock) t.attach(std::make_unique<StepClock>(*clock));
  const auto t0 = Clock::now();
  RunResult r = t.run(theta0);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (out) *out = std::move(r);
  return s;
}

int export_data(const std::string& dir) {
  const auto spec = workload();
  const data::Dataset ds = data::build_dataset(spec.data);
  const auto built = nn::build_objective(spec);
  write_npy(dir + "/X.npy", ds.X);
  Tensor y = Tensor::from_shape({ds.labels.size()});
  for (std::size_t i = 0; i < ds.labels.size(); ++i) y(i) = double(ds.labels[i]);
  write_npy(dir + "/y.npy", y);
  write_npy(dir + "/theta0.npy", built.theta0);
  write_npy(dir + "/v.npy", direction(built.theta0.size()));
  return 0;
}

int time_all(bool quick, std::size_t gd_steps_given) {
  const std::size_t gd_steps = gd_steps_given ? gd_steps_given : quick ? 10 : 100, sgd_steps = quick ? 100 : 1000;
  const double budget = quick ? 0.5 : 2.0;
  auto built = nn::build_objective(workload());
  auto& obj = *built.objective;
  const Tensor& theta = built.theta0;
  const Tensor v = direction(theta.size());
  nlohmann::json j, t;
  Tensor g, out;

  j["loss"] = obj.value(theta);
  obj.value_and_grad(theta, g);
  j["grad_norm"] = std::sqrt(inner(g, g));
  t["loss"] = per_call([&] { obj.value(theta); }, budget);
  t["loss_grad"] = per_call([&] { obj.value_and_grad(theta, g); }, budget);
  t["hvp_scratch"] = per_call([&] { out = obj.hvp(theta, v); }, budget);
  j["hvp_norm"] = std::sqrt(inner(out, out));
  {
    auto H = obj.hessian_at(theta);
    t["hvp_linearized"] = per_call([&] { H->apply(v, out); }, budget);
    // what one step of λmax tracking pays besides its HVPs: the linearization
    // (the primal and adjoint sweeps kept for HVPs) in place of the gradient
    t["linearize"] = per_call([&] { H = obj.hessian_at(theta); }, budget);
    if (H->float32_products(true)) {
      t["hvp_linearized_float32"] = per_call([&] { H->apply(v, out); }, budget);
      H->float32_products(false);
    }
    LanczosOptions lo;
    lo.tol = 1e-3;
    EigenResult r;
    auto cold = [&] {  // the linearization is part of the cost
      return per_call(
          [&] {
            auto Hc = obj.hessian_at(theta);
            r = lanczos_top(*Hc, lo);
          },
          budget, 1);
    };
    t["lambda_cold"] = cold();
    j["lambda_max"] = r.values[0];
    j["lambda_hvps"] = r.hvps;
    lo.stop = LanczosStop::Value;  // the same, stopped on the eigenvalue's accuracy
    t["lambda_cold_value_rule"] = cold();
    j["lambda_max_value_rule"] = r.values[0];
    j["lambda_value_rule_hvps"] = r.hvps;
    lo.float32_products = true;  // the same on float32 products, checked in float64
    t["lambda_cold_mixed"] = cold();
    j["lambda_max_mixed"] = r.values[0];
    j["lambda_mixed_hvps"] = r.hvps;
    j["lambda_mixed_float32_hvps"] = r.float32_hvps;
  }
  // λmax every step, three ways (eigsh's side is float64 throughout); each also timed in the steady state (steps
  // kSteadyFrom + 1 … G: from the clock at step kSteadyFrom to the one at G)
  // with its HVPs per step there. The plain run's clock gives its own steady part.
  const std::size_t steady_from = std::min(kSteadyFrom, gd_steps / 2);
  auto steady_seconds = [&](const StepTimes& at) {
    return std::chrono::duration<double>(at.at(gd_steps) - at.at(steady_from)).count();
  };
  {
    RunResult gd;
    StepTimes at;
    t["gd"] = run_seconds(obj, theta, gd_steps, 0, "loss", &gd, &at);
    t["gd_steady"] = steady_seconds(at);
    j["gd_final_loss"] = gd.metrics.at(gd_steps, "loss").value();
  }
  RunResult tracked;
  for (const auto& [key, spec] : {std::pair<std::string, std::string>{"gd_lambda", "sharpness"},
                                  {"gd_lambda_residual_rule", "sharpness:stop=residual,hvp=float64"},
                                  {"gd_lambda_float64", "sharpness:hvp=float64"}}) {
    StepTimes at;
    t[key] = run_seconds(obj, theta, gd_steps, 0, spec, &tracked, &at);
    t[key + "_steady"] = steady_seconds(at);
    double hvps = 0, steady_hvps = 0;
    for (std::size_t s = 0; s <= gd_steps; ++s) {
      const double h = tracked.metrics.at(s, "sharpness_hvps").value();
      hvps += h;
      if (s > steady_from) steady_hvps += h;
    }
    j[key + "_hvps_per_step"] = hvps / double(gd_steps + 1);
    j[key + "_steady_hvps_per_step"] = steady_hvps / double(gd_steps - steady_from);
    if (key == "gd_lambda") j["gd_lambda_final"] = tracked.metrics.at(gd_steps, "lambda_max").value();
  }
  j["steady_from"] = steady_from;
  t["sgd32"] = run_seconds(obj, theta, sgd_steps, 32, "");
  j["seconds"] = t;
  j["threads"] = workload().threads;
  j["gd_steps"] = gd_steps;
  j["sgd_steps"] = sgd_steps;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  j["peak_rss_mib"] = double(ru.ru_maxrss) / 1024.0;
  fmt::print("{}\n", j.dump(2));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  eos::restart_with_cpu_blas_kernel();  // as eoslab does: the CPU's kernel, not OpenBLAS's Prescott fallback
  try {
    if (argc == 3 && std::strcmp(argv[1], "export") == 0) return export_data(argv[2]);
    if (argc == 2 && std::strcmp(argv[1], "blas") == 0) {  // the kernel it runs (compare_torch runs PyTorch on it)
      const eos::BlasKernel b = eos::blas_kernel();
      fmt::print("{}\n", nlohmann::json{{"kernel", b.kernel}, {"chosen_by", b.chosen_by}}.dump());
      return 0;
    }
    if (argc >= 2 && std::strcmp(argv[1], "time") == 0) {
      bool quick = false;
      std::size_t gd_steps = 0;
      for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
          quick = true;
        } else if (std::strcmp(argv[i], "--gd-steps") == 0 && i + 1 < argc) {
          char* end = nullptr;
          const unsigned long g = std::strtoul(argv[++i], &end, 10);
          if (*end != '\0' || g < 2 || argv[i][0] == '-') {
            fmt::print(stderr, "bench_ops: --gd-steps {}: expected a count ≥ 2\n", argv[i]);
            return 2;
          }
          gd_steps = g;
        } else {
          fmt::print(stderr, "bench_ops: unknown argument '{}'\n", argv[i]);
          return 2;
        }
      }
      return time_all(quick, gd_steps);
    }
    fmt::print(stderr, "usage: bench_ops export DIR | bench_ops blas | bench_ops time [--quick] [--gd-steps G]\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_ops: {}\n", e.what());
    return 1;
  }
}
