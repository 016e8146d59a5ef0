// λmax at every step of a GD run, warm-started from the previous step's Ritz
// vector, on the step's own linearization (the HVPs the sharpness plugin
// pays): HVPs per step under the residual rule and the eigenvalue rule at one
// tolerance, and at sampled steps the error of both against a tight cold
// solve (1e-10 relative residual).
// fc-tanh 784-200-200-10, mean CE, first 5000 Fashion-MNIST images.
//   usage: bench_sharpness [warmup=300] [steps=60] [eta=0.1333] [tol=1e-3] [check_every=10]
// The first `warmup` GD steps run without λmax (η = 2/15 reaches the edge of
// stability after ~220 steps), then `steps` steps measure.
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include <eoslab.hpp>

using namespace eos;
using namespace eos::analysis;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
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
  // Warm-start strategies: the stopping rule, how many extra Ritz vectors to
  // keep, and whether the top vector of two steps back joins the start (at
  // the edge of stability θ_t oscillates with period two, and so does H).
  struct Strategy {
    const char* name;
    LanczosStop stop;
    std::size_t extra;
    bool two_back;
    std::vector<Tensor> prev, prev2;
    double hvps = 0, seconds = 0, max_err = 0;
  };
  std::vector<Strategy> strategies = {{"residual", LanczosStop::Residual, 0, false, {}, {}},
                                      {"value", LanczosStop::Value, 0, false, {}, {}},
                                      {"value+2nd", LanczosStop::Value, 1, false, {}, {}},
                                      {"value+2nd+t-2", LanczosStop::Value, 1, true, {}, {}}};
  fmt::print("{:>5} {:>10}", "step", "λmax");
  for (const auto& st : strategies) fmt::print(" {:>14}", st.name);
  fmt::print("   (HVPs; relative error against a 1e-10 solve every {} steps)\n", check_every);
  for (std::size_t t = 0; t < steps; ++t) {
    auto H = obj.hessian_at(theta);
    double truth = NAN;
    if (t % check_every == 0) {
      LanczosOptions tight;
      tight.tol = 1e-10;
      tight.max_iter = 300;
      tight.seed = 1000 + t;
      truth = lanczos_top(*H, tight).values[0];
    }
    double lambda = 0;
    std::string cells;
    for (auto& st : strategies) {
      LanczosOptions o;
      o.tol = tol;
      o.seed = t;
      o.stop = st.stop;
      o.extra = st.extra;
      o.warm_start = st.prev;
      if (st.two_back && !st.prev2.empty()) o.warm_start.push_back(st.prev2[0]);
      const auto c0 = Clock::now();
      const auto r = lanczos_top(*H, o);
      st.seconds += std::chrono::duration<double>(Clock::now() - c0).count();
      st.hvps += double(r.hvps);
      st.prev2 = std::move(st.prev);
      st.prev = r.vectors;
      lambda = r.values[0];
      if (std::isfinite(truth)) {
        const double e = std::abs(r.values[0] - truth) / truth;
        st.max_err = std::max(st.max_err, e);
        cells += fmt::format(" {:>5} {:>8.1e}", r.hvps, e);
      } else {
        cells += fmt::format(" {:>5} {:>8}", r.hvps, "");
      }
    }
    fmt::print("{:>5} {:>10.5f}{}\n", warmup + t, lambda, cells);
    gd.step(theta, H->grad());
  }
  fmt::print("\n{:<15} {:>10} {:>10} {:>14}\n", "strategy", "HVPs/step", "ms/step", "largest error");
  for (const auto& st : strategies)
    fmt::print("{:<15} {:>10.2f} {:>10.1f} {:>14.1e}\n", st.name, st.hvps / double(steps), st.seconds / double(steps) * 1e3,
               st.max_err);
  return 0;
}
