// Training end to end: full-batch GD on real data decreases the loss at every
// step for a small η; SGD and Adam fit a synthetic classification set.
#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;

BOOST_AUTO_TEST_SUITE(training)

BOOST_AUTO_TEST_CASE(gd_on_fashion_mnist_decreases_the_loss_monotonically) {
  data::Dataset ds = data::load_fashion_mnist(data::Split::Train, data::kFashionMnistDir, 1000);
  data::scale_features(ds, 1.0 / 255.0);
  data::Standardizer::fit(ds.X).apply(ds);
  auto net = nn::mlp({784, {32}, nn::ActivationKind::Tanh, 10, true});
  nn::ModelObjective obj(nn::as_model(net), nn::Loss::CrossEntropy, ds, {.chunk_size = 500});
  Tensor theta = nn::init_params(*net, nn::Init::PyTorchDefault, 0);
  // η = 0.05 is far below 2/λmax at this init (λmax ≈ 5 for such nets).
  optim::GradientDescent gd(optim::Schedule::constant(0.05));
  std::vector<double> losses;
  for (int t = 0; t < 40; ++t) {
    const auto vg = obj.value_and_grad(theta);
    losses.push_back(vg.value);
    gd.step(theta, vg.grad);
  }
  for (std::size_t t = 1; t < losses.size(); ++t)
    BOOST_TEST(losses[t] < losses[t - 1], "step " << t << ": " << losses[t] << " !< " << losses[t - 1]);
  BOOST_TEST(losses.back() < 0.8 * losses.front());
  BOOST_TEST(obj.accuracy(theta).value() > 0.6);
}

BOOST_AUTO_TEST_CASE(sgd_and_adam_fit_gaussian_clusters) {
  const data::Dataset ds = data::gaussian_clusters(300, 10, 4, 2.0, 17);
  auto net = nn::mlp({10, {16}, nn::ActivationKind::ReLU, 4, true});
  nn::ModelObjective obj(nn::as_model(net), nn::Loss::CrossEntropy, ds);
  const Tensor theta0 = nn::init_params(*net, nn::Init::He, 3);
  BOOST_TEST(obj.accuracy(theta0).value() < 0.7);
  std::vector<std::unique_ptr<optim::Optimizer>> opts;
  opts.push_back(std::make_unique<optim::GradientDescent>(optim::Schedule::constant(0.1)));
  opts.push_back(std::make_unique<optim::Adam>(optim::Schedule::constant(0.01)));
  opts.push_back(std::make_unique<optim::Momentum>(optim::Schedule::constant(0.05), 0.9, true));
  for (auto& opt : opts) {
    Tensor theta = theta0;
    data::MinibatchSampler sampler(ds.size(), 32, data::MinibatchSampler::Replacement::Without, 11);
    while (sampler.epoch() < 30) opt->step(theta, obj.batch_value_and_grad(theta, sampler.next()).grad);
    const double acc = obj.accuracy(theta).value();
    BOOST_TEST(acc > 0.97, opt->describe() << " reached training accuracy " << acc);
  }
}

BOOST_AUTO_TEST_SUITE_END()
