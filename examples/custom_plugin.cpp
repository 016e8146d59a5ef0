// A user's own analysis plugin, registered by name and run by the Trainer
// next to built-in ones, on the paper's Example 3 (tanh neuron, η = 2/150).
//
// "gradient_flip" measures cos(∇f(θ_t), ∇f(θ_t − η∇f(θ_t))): near −1 when GD
// bounces across a valley (the unstable regime), near +1 when it descends
// smoothly. The second gradient is the probe the context already holds, so
// under GD the plugin costs nothing.
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include <eoslab.hpp>

using namespace eos;
using namespace eos::analysis;

class GradientFlip : public Plugin {
 public:
  std::string name() const override { return "gradient_flip"; }
  std::vector<std::string> columns() const override { return {"grad_cos_next"}; }
  void observe(StepContext& ctx, Row& row) override {
    const Tensor& g = ctx.grad();
    const Tensor& gn = ctx.probe_grad();
    const double c = xt::sum(g * gn)() / std::sqrt(xt::sum(g * g)() * xt::sum(gn * gn)());
    row.set("grad_cos_next", c);
  }
};

int main() {
  // OpenBLAS's Prescott fallback on a CPU it does not know costs ~4×: start
  // again on the CPU's kernel (core/blas_kernel.hpp), as eoslab does.
  eos::restart_with_cpu_blas_kernel();
  try {
    PluginRegistry::global().add({"gradient_flip",
                                  "cosine between the gradient and the gradient after a GD step",
                                  {{"grad_cos_next", "cos(∇f(θ), ∇f(θ − η∇f(θ)))"}},
                                  {},  // no options (each would be an OptionDecl: name, default, range, doc)
                                  [](const OptionValues&) { return std::make_unique<GradientFlip>(); }});

    auto objective = toys::tanh_neuron();
    const double eta = 2.0 / 150;
    optim::GradientDescent gd(optim::Schedule::constant(eta));
    TrainerOptions options;
    options.max_steps = 400;
    Trainer trainer(*objective, gd, options);
    for (const char* spec : {"loss", "rp", "gradient_flip"})
      trainer.attach(PluginRegistry::global().create_from_spec(spec), When::every_k(20));
    trainer.attach(PluginRegistry::global().create_from_spec("sharpness:tol=1e-8"), When::every_k(20));
    const RunResult run = trainer.run(Tensor{13.0, 0.01});

    fmt::print("{} with GD, η = 2/150 (2/η = 150): {}\n", objective->describe(), run.describe());
    fmt::print("{:>5} {:>12} {:>9} {:>10} {:>10} {:>9}\n", "step", "loss", "RP", "L(θ;ηg)", "λmax", "cos");
    for (std::size_t r = 0; r < run.metrics.rows.size(); r += 20)
      fmt::print("{:>5} {:>12.4e} {:>9.4f} {:>10.3f} {:>10.3f} {:>9.4f}\n", r, run.metrics.at(r, "loss").value(),
                 run.metrics.at(r, "rp").value(), run.metrics.at(r, "L_dir").value(),
                 run.metrics.at(r, "lambda_max").value(), run.metrics.at(r, "grad_cos_next").value());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_plugin: %s\n", e.what());
    return 1;
  }
}
