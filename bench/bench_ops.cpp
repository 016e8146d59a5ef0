// The eoslab half of bench/compare_torch.py: the workload of issue 8 (fc-tanh
// 784-200-200-10, mean cross-entropy, the first 5000 Fashion-MNIST images
// standardized, float64), each operation timed in this process, results as
// one JSON object on stdout.
//   bench_ops export DIR         X.npy, y.npy (labels as float64), theta0.npy, v.npy
//   bench_ops time [--quick]     the timings and the values the script checks
// Operations: loss; loss + gradient; HVP from scratch; linearized HVP; cold
// λmax (Lanczos, residual rule, tol 1e-3 — ARPACK's criterion —, the
// eigenvalue rule, and the eigenvalue rule on float32 products with the
// float64 check); G GD steps plain; G GD steps with λmax every step (the
// sharpness plugin's defaults, the residual rule, and hvp=mixed); S SGD steps
// at batch 32. G = 100, S = 1000 (--quick: 10, 100).
// GD and SGD run through analysis::Trainer, as `eoslab train` does.
#include <sys/resource.h>

#include <chrono>
#include <cstring>
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

double run_seconds(Objective& obj, const Tensor& theta0, std::size_t steps, std::size_t batch,
                   const std::string& plugin, RunResult* out = nullptr) {
  optim::GradientDescent gd(optim::Schedule::constant(batch ? 0.05 : kEta));
  TrainerOptions o;
  o.max_steps = steps;
  o.batch_size = batch;
  o.divergence_factor = INFINITY;
  Trainer t(obj, gd, o);
  if (!plugin.empty()) t.attach(PluginRegistry::global().create_from_spec(plugin));
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

int time_all(bool quick) {
  const std::size_t gd_steps = quick ? 10 : 100, sgd_steps = quick ? 100 : 1000;
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
  RunResult gd;
  t["gd"] = run_seconds(obj, theta, gd_steps, 0, "loss", &gd);
  j["gd_final_loss"] = gd.metrics.at(gd_steps, "loss").value();
  RunResult tracked;
  t["gd_lambda"] = run_seconds(obj, theta, gd_steps, 0, "sharpness", &tracked);
  double hvps = 0;
  for (std::size_t s = 0; s <= gd_steps; ++s) hvps += tracked.metrics.at(s, "sharpness_hvps").value();
  j["gd_lambda_hvps_per_step"] = hvps / double(gd_steps + 1);
  j["gd_lambda_final"] = tracked.metrics.at(gd_steps, "lambda_max").value();
  for (const auto& [key, spec] : {std::pair<std::string, std::string>{"gd_lambda_residual_rule", "sharpness:stop=residual"},
                                  {"gd_lambda_mixed", "sharpness:hvp=mixed"}}) {
    t[key] = run_seconds(obj, theta, gd_steps, 0, spec, &tracked);
    hvps = 0;
    for (std::size_t s = 0; s <= gd_steps; ++s) hvps += tracked.metrics.at(s, "sharpness_hvps").value();
    j[key + "_hvps_per_step"] = hvps / double(gd_steps + 1);
  }
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
  try {
    if (argc == 3 && std::strcmp(argv[1], "export") == 0) return export_data(argv[2]);
    if (argc >= 2 && std::strcmp(argv[1], "time") == 0)
      return time_all(argc == 3 && std::strcmp(argv[2], "--quick") == 0);
    fmt::print(stderr, "usage: bench_ops export DIR | bench_ops time [--quick]\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_ops: {}\n", e.what());
    return 1;
  }
}
