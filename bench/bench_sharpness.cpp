// λmax along a GD trajectory: HVPs and time to 1e-3 relative residual, cold
// (random start) vs warm (previous step's eigenvector), for the 784-200-200-10
// tanh MLP with mean cross-entropy on the first 5000 Fashion-MNIST images
// (standardized). Power iteration at the first point for comparison.
//   usage: bench_sharpness [steps=20] [every=2] [eta=0.05]
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include <eoslab.hpp>

using namespace eos;
using namespace eos::analysis;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::size_t steps = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20;
  const std::size_t every = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2;
  const double eta = argc > 3 ? std::strtod(argv[3], nullptr) : 0.05;
  nn::ObjectiveSpec spec;
  spec.data.n = 5000;
  spec.hidden = {200, 200};
  auto built = nn::build_objective(spec);
  auto& obj = *built.objective;
  Tensor theta = built.theta0;
  fmt::print("{}\nGD η = {}, λmax to 1e-3 relative residual every {} steps\n\n", obj.describe(), eta, every);
  fmt::print("{:>5} {:>10} {:>10} {:>9} {:>10} {:>9} {:>10}\n", "step", "λmax", "cold HVPs", "cold s", "warm HVPs",
             "warm s", "|Δλ|/λ");
  std::vector<Tensor> previous;
  double cold_hvps = 0, warm_hvps = 0, cold_s = 0, warm_s = 0;
  std::size_t points = 0;
  optim::GradientDescent gd(optim::Schedule::constant(eta));
  for (std::size_t t = 0; t <= steps; ++t) {
    if (t % every == 0) {
      auto H = obj.hessian_at(theta);
      LanczosOptions o;
      o.tol = 1e-3;
      o.seed = t;
      auto c0 = Clock::now();
      const auto cold = lanczos_top(*H, o);
      const double tc = std::chrono::duration<double>(Clock::now() - c0).count();
      double tw = 0;
      EigenResult warm = cold;
      if (!previous.empty()) {
        o.warm_start = previous;
        auto w0 = Clock::now();
        warm = lanczos_top(*H, o);
        tw = std::chrono::duration<double>(Clock::now() - w0).count();
        warm_hvps += double(warm.hvps);
        warm_s += tw;
        cold_hvps += double(cold.hvps);
        cold_s += tc;
        ++points;
      }
      fmt::print("{:>5} {:>10.4f} {:>10} {:>9.2f} {:>10} {:>9.2f} {:>10.1e}\n", t, cold.values[0], cold.hvps, tc,
                 previous.empty() ? std::string("-") : std::to_string(warm.hvps), tw,
                 std::abs(warm.values[0] - cold.values[0]) / cold.values[0]);
      if (t == 0) {
        PowerOptions po;
        po.tol = 1e-3;
        po.max_iter = 300;
        auto p0 = Clock::now();
        const auto pw = power_iteration(*H, po);
        fmt::print("      power iteration at step 0: λ = {:.4f} after {} HVPs ({:.2f} s, converged: {})\n",
                   pw.values[0], pw.hvps, std::chrono::duration<double>(Clock::now() - p0).count(), pw.converged);
      }
      previous = cold.vectors;
    }
    gd.step(theta, obj.value_and_grad(theta).grad);
  }
  if (points)
    fmt::print("\nmean over the {} warm-startable points: cold {:.1f} HVPs ({:.2f} s), warm {:.1f} HVPs ({:.2f} s)\n",
               points, cold_hvps / points, cold_s / points, warm_hvps / points, warm_s / points);
  return 0;
}
