// Each optimizer's update against a hand computation: scalar formulas written
// out per coordinate over three steps, plus literal values for the first steps.
#include <cmath>

#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;
using namespace eos::optim;
using eos::test::close;

namespace {
const Tensor kTheta0 = {1.0, -2.0, 0.5};
const std::vector<Tensor> kGrads = {{0.5, 1.0, -0.25}, {-1.0, 0.25, 0.0}, {2.0, -0.5, 0.75}};

// Runs the optimizer over kGrads and returns every iterate.
std::vector<Tensor> run(Optimizer& opt) {
  Tensor th = kTheta0;
  std::vector<Tensor> out;
  for (const auto& g : kGrads) {
    opt.step(th, g);
    out.push_back(th);
  }
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(optimizers)

BOOST_AUTO_TEST_CASE(gradient_descent) {
  GradientDescent gd(Schedule::constant(0.1));
  const auto th = run(gd);
  BOOST_TEST(close(th[0], Tensor{0.95, -2.1, 0.525}, 1e-15));
  BOOST_TEST(close(th[2], Tensor{1.0 - 0.1 * 1.5, -2.0 - 0.1 * 0.75, 0.5 - 0.1 * 0.5}, 1e-15));
  BOOST_TEST(gd.steps_taken() == 3u);
  // coupled weight decay: g + wd·θ
  GradientDescent wd(Schedule::constant(0.1), 0.5);
  Tensor t = kTheta0;
  wd.step(t, kGrads[0]);
  BOOST_TEST(close(t, Tensor(kTheta0 - 0.1 * (kGrads[0] + 0.5 * kTheta0)), 1e-15));
}

BOOST_AUTO_TEST_CASE(heavy_ball_and_nesterov) {
  const double lr = 0.1, mu = 0.9;
  for (bool nesterov : {false, true}) {
    Momentum opt(Schedule::constant(lr), mu, nesterov);
    const auto th = run(opt);
    for (std::size_t i = 0; i < 3; ++i) {
      double x = kTheta0(i), b = 0.0;
      for (std::size_t t = 0; t < 3; ++t) {
        const double g = kGrads[t](i);
        b = t == 0 ? g : mu * b + g;
        x -= lr * (nesterov ? g + mu * b : b);
        BOOST_TEST(std::abs(th[t](i) - x) < 1e-15);
      }
    }
  }
  // literal: heavy ball, coordinate 0: 1 − 0.05 = 0.95; b = 0.45 − 1 = −0.55 → 1.005
  Momentum hb(Schedule::constant(0.1), 0.9);
  const auto th = run(hb);
  BOOST_TEST(std::abs(th[0](0) - 0.95) < 1e-15);
  BOOST_TEST(std::abs(th[1](0) - 1.005) < 1e-15);
}

BOOST_AUTO_TEST_CASE(rmsprop) {
  const double lr = 0.01, alpha = 0.99, eps = 1e-8;
  RMSProp opt(Schedule::constant(lr), alpha, eps);
  const auto th = run(opt);
  for (std::size_t i = 0; i < 3; ++i) {
    double x = kTheta0(i), s = 0.0;
    for (std::size_t t = 0; t < 3; ++t) {
      const double g = kGrads[t](i);
      s = alpha * s + (1 - alpha) * g * g;
      x -= lr * g / (std::sqrt(s) + eps);
      BOOST_TEST(std::abs(th[t](i) - x) < 1e-14);
    }
  }
  // first step moves each coordinate with g ≠ 0 by lr/√0.01 = 0.1
  BOOST_TEST(std::abs(th[0](0) - (1.0 - 0.1)) < 1e-6);
  BOOST_TEST(opt.preconditioner().has_value());
}

BOOST_AUTO_TEST_CASE(adam_and_adamw) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  for (int variant = 0; variant < 3; ++variant) {  // Adam, Adam + L2, AdamW
    const bool decoupled = variant == 2;
    const double decay = variant == 0 ? 0.0 : wd;
    Adam opt(Schedule::constant(lr), b1, b2, eps, decay, decoupled);
    const auto th = run(opt);
    for (std::size_t i = 0; i < 3; ++i) {
      double x = kTheta0(i), m = 0, v = 0;
      for (std::size_t t = 0; t < 3; ++t) {
        double g = kGrads[t](i);
        if (decoupled) x *= 1 - lr * decay;
        else g += decay * x;
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        const double mh = m / (1 - std::pow(b1, t + 1)), vh = v / (1 - std::pow(b2, t + 1));
        x -= lr * mh / (std::sqrt(vh) + eps);
        BOOST_TEST(std::abs(th[t](i) - x) < 1e-14, "variant " << variant << " coord " << i << " step " << t);
      }
    }
  }
  // Adam's first step is −lr·sign(g) (up to ε)
  Adam adam(Schedule::constant(0.01));
  Tensor t = kTheta0;
  adam.step(t, kGrads[0]);
  BOOST_TEST(close(t, Tensor{0.99, -2.01, 0.51}, 1e-7));
}

BOOST_AUTO_TEST_CASE(schedules) {
  const auto c = Schedule::constant(0.5);
  BOOST_TEST(c(0) == 0.5);
  BOOST_TEST(c(1000) == 0.5);
  const auto s = Schedule::step(1.0, 10, 0.5);
  BOOST_TEST(s(9) == 1.0);
  BOOST_TEST(s(10) == 0.5);
  BOOST_TEST(s(25) == 0.25);
  const auto cos = Schedule::cosine(1.0, 100, 0.1);
  BOOST_TEST(std::abs(cos(0) - 1.0) < 1e-15);
  BOOST_TEST(std::abs(cos(50) - 0.55) < 1e-15);
  BOOST_TEST(std::abs(cos(100) - 0.1) < 1e-15);
  BOOST_TEST(std::abs(cos(500) - 0.1) < 1e-15);
  const auto w = Schedule::linear_warmup(4, Schedule::constant(1.0));
  BOOST_TEST(std::abs(w(0) - 0.2) < 1e-15);
  BOOST_TEST(std::abs(w(3) - 0.8) < 1e-15);
  BOOST_TEST(w(4) == 1.0);
  // step sizes that cannot be are refused when the schedule is made
  for (const double bad : {std::nan(""), -0.1, 0.0, double(INFINITY)}) {
    BOOST_CHECK_THROW(Schedule::constant(bad), std::invalid_argument);
    BOOST_CHECK_THROW(Schedule::cosine(bad, 10), std::invalid_argument);
  }
  BOOST_CHECK_THROW(Schedule::step(0.1, 5, std::nan("")), std::invalid_argument);
  BOOST_CHECK_THROW(Schedule::cosine(0.1, 10, -1.0), std::invalid_argument);
  try {
    Schedule::constant(-0.5);
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("lr = -0.5 (expected a positive finite number)") != std::string::npos,
               e.what());
  }
  // the optimizer follows its schedule
  GradientDescent gd(Schedule::step(1.0, 1, 0.5));
  Tensor th = {0.0};
  for (int i = 0; i < 3; ++i) gd.step(th, Tensor{1.0});
  BOOST_TEST(std::abs(th(0) + 1.75) < 1e-15);  // −(1 + 0.5 + 0.25)
}

BOOST_AUTO_TEST_CASE(shape_mismatch_is_an_error) {
  GradientDescent gd(Schedule::constant(0.1));
  Tensor th = {1.0, 2.0};
  BOOST_CHECK_THROW(gd.step(th, Tensor{1.0}), ShapeError);
}

BOOST_AUTO_TEST_SUITE_END()
