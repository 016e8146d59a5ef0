// Each optimizer's update against a hand computation: scalar formulas written
// out per coordinate over three steps, plus literal values for the first steps.
#include <cmath>
#include <cstring>

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

// Checkpoints: an optimizer restored from its saved state (step counter and
// buffers) continues bit for bit, for every method; a state saved by other
// settings or for another θ is refused by name.
BOOST_AUTO_TEST_CASE(saved_state_continues_bit_for_bit) {
  using namespace eos::optim;
  auto make = [](const std::string& name) -> std::unique_ptr<Optimizer> {
    const Schedule s = Schedule::cosine(0.05, 20);
    if (name == "gd") return std::make_unique<GradientDescent>(s, 0.01);
    if (name == "momentum") return std::make_unique<Momentum>(s, 0.9);
    if (name == "nesterov") return std::make_unique<Momentum>(s, 0.9, true, 0.01);
    if (name == "rmsprop") return std::make_unique<RMSProp>(s);
    if (name == "adam") return std::make_unique<Adam>(s);
    return make_adamw(s);
  };
  std::mt19937_64 rng(3);
  const Tensor theta0 = test::random_normal({7}, rng);
  std::vector<Tensor> grads;
  for (int i = 0; i < 10; ++i) grads.push_back(test::random_normal({7}, rng));
  for (const std::string name : {"gd", "momentum", "nesterov", "rmsprop", "adam", "adamw"}) {
    auto straight = make(name);
    Tensor a = theta0;
    for (const auto& g : grads) straight->step(a, g);

    for (std::size_t cut : {0, 1, 4}) {
      auto first = make(name);
      Tensor b = theta0;
      for (std::size_t i = 0; i < cut; ++i) first->step(b, grads[i]);
      StateDict saved;
      first->save_state(saved);
      auto second = make(name);
      second->load_state(StateDict::parse(saved.serialize()), {7});
      BOOST_TEST(second->steps_taken() == cut);
      BOOST_TEST(second->current_lr() == first->current_lr());
      for (std::size_t i = cut; i < grads.size(); ++i) second->step(b, grads[i]);
      BOOST_TEST(std::memcmp(a.data(), b.data(), 7 * sizeof(double)) == 0, name << " cut at " << cut);
    }
  }
  // Refusals: other settings, other θ size.
  auto adam = make("adam");
  Tensor t = theta0;
  adam->step(t, grads[0]);
  StateDict saved;
  adam->save_state(saved);
  auto other = std::make_unique<Adam>(Schedule::cosine(0.05, 20), 0.8);
  try {
    other->load_state(saved, {7});
    BOOST_ERROR("another optimizer's state was accepted");
  } catch (const StateError& e) {
    BOOST_TEST(std::string(e.what()).find("state: saved by optimizer Adam(lr=") == 0u, e.what());
  }
  try {
    make("adam")->load_state(saved, {8});
    BOOST_ERROR("a state for another θ size was accepted");
  } catch (const StateError& e) {
    BOOST_TEST(std::string(e.what()) == "state: entry 'm' has shape [7], expected [8]");
  }
}

// Before the first step there are no buffers: an empty xarray is 0-d with one
// element, which once passed for "a buffer of the right size" when θ has one
// entry (momentum started from garbage) and made preconditioner() return a
// 0-d tensor before the first step.
BOOST_AUTO_TEST_CASE(no_buffers_before_the_first_step) {
  using namespace eos::optim;
  Momentum m(Schedule::constant(0.1), 0.9);
  Tensor theta{1.0};
  m.step(theta, Tensor{2.0});  // b = g: θ = 1 − 0.1·2
  BOOST_TEST(theta(0) == 1.0 - 0.1 * 2.0);
  m.step(theta, Tensor{1.0});  // b = 0.9·2 + 1
  BOOST_TEST(theta(0) == 0.8 - 0.1 * 2.8);
  Adam adam(Schedule::constant(0.1));
  RMSProp rms(Schedule::constant(0.1));
  BOOST_TEST(!adam.preconditioner().has_value());
  BOOST_TEST(!rms.preconditioner().has_value());
  Tensor th{1.0, 2.0};
  adam.step(th, Tensor{0.5, -0.5});
  BOOST_TEST(adam.preconditioner()->size() == 2u);
}
