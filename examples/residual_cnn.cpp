// A small residual CNN composed from the library's modules, without a single
// offset: conv–BatchNorm–ReLU, one residual block whose shortcut halves the
// resolution and widens the channels, global average pooling, a linear head.
// Trained with full-batch GD on 256 Fashion-MNIST images (chunks of 64: the
// BatchNorm statistics are still those of all 256), with the sharpness λmax
// and the relative progress RP measured every 5 steps, and compared with
// 2/η, the edge of stability.
//
//   ./build/examples/example_residual_cnn [FASHION_MNIST_DIR]
#include <cstdio>

#include <fmt/format.h>

#include <eoslab.hpp>

using namespace eos;
using nn::Conv2dOptions;

int main(int argc, char** argv) {
  // OpenBLAS's Prescott fallback on a CPU it does not know costs ~4×: start
  // again on the CPU's kernel (core/blas_kernel.hpp), as eoslab does.
  eos::restart_with_cpu_blas_kernel();
  try {
    data::Dataset ds = data::load_fashion_mnist(data::Split::Train, argc > 1 ? argv[1] : data::kFashionMnistDir, 256);
    data::scale_features(ds, 1.0 / 255.0);
    data::Standardizer::fit(ds.X).apply(ds);

    auto body = std::make_shared<nn::Sequential>();
    body->add(std::make_shared<nn::Conv2d>(8, 16, Conv2dOptions{.kernel = 3, .stride = 2, .padding = 1, .bias = false}))
        .add(std::make_shared<nn::BatchNorm>(16))
        .add(std::make_shared<nn::Activation>(nn::ActivationKind::ReLU))
        .add(std::make_shared<nn::Conv2d>(16, 16, Conv2dOptions{.kernel = 3, .padding = 1, .bias = false}))
        .add(std::make_shared<nn::BatchNorm>(16));
    auto shortcut = std::make_shared<nn::Sequential>();
    shortcut->add(nn::AvgPool2d(1, 2)).add(std::make_shared<nn::ZeroPadChannels>(8));  // [8, 28, 28] → [16, 14, 14]

    auto net = std::make_shared<nn::Sequential>();
    net->add(std::make_shared<nn::Conv2d>(1, 8, Conv2dOptions{.kernel = 3, .padding = 1}))
        .add(std::make_shared<nn::BatchNorm>(8))
        .add(std::make_shared<nn::Activation>(nn::ActivationKind::ReLU))
        .add(std::make_shared<nn::Residual>(body, shortcut))
        .add(std::make_shared<nn::Activation>(nn::ActivationKind::ReLU))
        .add(std::make_shared<nn::GlobalAvgPool2d>())
        .add(std::make_shared<nn::Linear>(16, 10));
    const Shape image{1, 28, 28};
    fmt::print("{}", nn::describe_model(*net, image));

    nn::ModelObjective objective(nn::as_model(net, image), nn::Loss::CrossEntropy, ds, {.chunk_size = 64});
    Tensor theta = nn::init_params(*net, nn::Init::PyTorchDefault, 0);

    const double eta = 0.5;
    optim::GradientDescent gd(optim::Schedule::constant(eta));
    analysis::TrainerOptions options;
    options.max_steps = 40;
    analysis::Trainer trainer(objective, gd, options);
    for (const char* plugin : {"loss", "sharpness", "rp"})
      trainer.attach(analysis::PluginRegistry::global().create_from_spec(plugin), analysis::When::every_k(5));
    const analysis::RunResult run = trainer.run(theta);
    fmt::print("\n{:>5} {:>10} {:>10} {:>10}   (2/η = {:.3g})\n", "step", "loss", "λmax", "RP", 2 / eta);
    for (std::size_t step = 0; step <= run.steps; step += 5)
      fmt::print("{:>5} {:>10.5f} {:>10.4f} {:>10.4f}\n", step, run.metrics.at(step, "loss").value_or(NAN),
                 run.metrics.at(step, "lambda_max").value_or(NAN), run.metrics.at(step, "rp").value_or(NAN));
    fmt::print("{}\n", run.describe());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "residual_cnn: %s\n", e.what());
    return 1;
  }
}
