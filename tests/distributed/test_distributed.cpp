// Data-parallel objectives under mpirun (-np 2 and -np 3 with 101 examples:
// shards of 51/50 and 34/34/33). Every rank checks its DistributedObjective
// against the single-process objective on all examples: f, ∇f, H·v, λmax,
// accuracy, minibatch f and ∇f, 50 GD steps and 30 SGD-with-momentum steps
// through the Trainer, to 1e-12 relative; and that every rank holds the same
// bits (no drift).
#include <cstring>

#include <boost/test/unit_test.hpp>

#include <eoslab.hpp>

#include "distributed/objective.hpp"

using namespace eos;

namespace {

struct MpiFixture {
  MpiFixture() : session(&boost::unit_test::framework::master_test_suite().argc,
                         &boost::unit_test::framework::master_test_suite().argv) {}
  mpi::Session session;
};

nn::ObjectiveSpec spec() {
  nn::ObjectiveSpec s;
  s.data = {.source = "gaussian_clusters", .n = 101, .standardize = true, .dim = 6, .classes = 3, .separation = 1.0, .seed = 2};
  s.hidden = {8};
  s.chunk_size = 16;
  s.weight_decay = 1e-3;  // the regularizer must be counted once, not once per rank
  s.init_seed = 4;
  return s;
}

double rel(const Tensor& a, const Tensor& b) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::abs(a.data()[i] - b.data()[i]));
    den = std::max(den, std::abs(b.data()[i]));
  }
  return num / den;
}
double rel(double a, double b) { return std::abs(a - b) / std::abs(b); }

// Whether every rank holds exactly these bytes.
bool same_on_every_rank(const mpi::Communicator& comm, const Tensor& t) {
  std::vector<double> mine(t.begin(), t.end()), root = mine;
  comm.broadcast(root.data(), root.size(), 0);
  const std::size_t differs = comm.max(std::memcmp(mine.data(), root.data(), mine.size() * 8) != 0 ? 1 : 0);
  return differs == 0;
}

analysis::RunResult train(Objective& f, const Tensor& theta0, std::size_t batch) {
  std::unique_ptr<optim::Optimizer> opt;
  if (batch) opt = std::make_unique<optim::Momentum>(optim::Schedule::constant(0.05), 0.9);
  else opt = std::make_unique<optim::GradientDescent>(optim::Schedule::constant(0.5));
  analysis::TrainerOptions o;
  o.max_steps = batch ? 30 : 50;
  o.batch_size = batch;
  o.seed = 7;
  analysis::Trainer t(f, *opt, o);
  for (const char* s : {"loss", "rp", "accuracy"})
    t.attach(analysis::PluginRegistry::global().create_from_spec(s), analysis::When::every_k(batch ? 5 : 1));
  t.attach(analysis::PluginRegistry::global().create_from_spec("sharpness:tol=1e-10"), analysis::When::every_k(10));
  return t.run(theta0);
}

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(MpiFixture);

BOOST_AUTO_TEST_CASE(shards_cover_the_examples_once) {
  for (int p = 1; p <= 7; ++p)
    for (std::size_t n : {7u, 100u, 101u}) {
      std::size_t next = 0;
      for (int r = 0; r < p; ++r) {
        const mpi::Shard s = mpi::shard_of(n, r, p);
        BOOST_TEST(s.first == next);
        BOOST_TEST((s.count == n / p || s.count == n / p + 1));
        next += s.count;
      }
      BOOST_TEST(next == n);
    }
}

BOOST_AUTO_TEST_CASE(distributed_equals_single_process) {
  const mpi::Communicator comm;
  BOOST_TEST_MESSAGE("rank " << comm.rank() << " of " << comm.size());
  auto single = nn::build_objective(spec());
  auto dist = mpi::build_distributed_objective(spec(), comm);
  BOOST_TEST(dist.objective->shard().count == mpi::shard_of(101, comm.rank(), comm.size()).count);
  BOOST_TEST(dist.objective->local().num_examples() < 101u + (comm.size() == 1 ? 1u : 0u));
  BOOST_TEST(rel(dist.theta0, single.theta0) == 0.0);

  Rng rng(3);
  Tensor theta = single.theta0, v = Tensor::from_shape({theta.size()});
  for (auto& x : theta) x += 0.3 * rng.normal();
  for (auto& x : v) x = rng.normal();

  Tensor g1, g2;
  const double f1 = single.objective->value_and_grad(theta, g1), f2 = dist.objective->value_and_grad(theta, g2);
  BOOST_TEST(rel(f2, f1) < 1e-12);
  BOOST_TEST(rel(g2, g1) < 1e-12);
  BOOST_TEST(rel(dist.objective->value(theta), f1) < 1e-12);
  BOOST_TEST(rel(dist.objective->hvp(theta, v), single.objective->hvp(theta, v)) < 1e-12);
  auto H1 = single.objective->hessian_at(theta);
  auto H2 = dist.objective->hessian_at(theta);
  BOOST_TEST(rel(H2->value(), f1) < 1e-12);
  BOOST_TEST(rel(H2->grad(), g1) < 1e-12);
  BOOST_TEST(rel(H2->apply(v), H1->apply(v)) < 1e-12);
  const auto e1 = analysis::dense_top(*H1, 2), e2 = analysis::dense_top(*H2, 2);
  BOOST_TEST(rel(e2.values[0], e1.values[0]) < 1e-12);
  BOOST_TEST(rel(*dist.objective->accuracy(theta), *single.objective->accuracy(theta)) < 1e-12);
  BOOST_TEST(same_on_every_rank(comm, g2));
  BOOST_TEST(same_on_every_rank(comm, H2->apply(v)));

  // Minibatches: global indices, each rank takes its own; some batches miss a shard entirely.
  data::MinibatchSampler sampler(101, 13, data::MinibatchSampler::Replacement::Without, 5);
  for (int b = 0; b < 8; ++b) {
    const auto& idx = sampler.next();
    Tensor bg1, bg2;
    const double b1 = single.objective->batch_value_and_grad(theta, idx, bg1);
    const double b2 = dist.objective->batch_value_and_grad(theta, idx, bg2);
    BOOST_TEST(rel(b2, b1) < 1e-12, "batch " << b);
    BOOST_TEST(rel(bg2, bg1) < 1e-12, "batch " << b);
    BOOST_TEST(rel(dist.objective->batch_value(theta, idx), b1) < 1e-12);
  }
  const std::vector<std::size_t> first_rows = {0, 1, 2};  // all in rank 0's shard
  Tensor bg1, bg2;
  BOOST_TEST(rel(dist.objective->batch_value_and_grad(theta, first_rows, bg2),
                 single.objective->batch_value_and_grad(theta, first_rows, bg1)) < 1e-12);
  BOOST_TEST(rel(bg2, bg1) < 1e-12);
}

BOOST_AUTO_TEST_CASE(gd_and_sgd_runs_equal_single_process) {
  const mpi::Communicator comm;
  for (std::size_t batch : {0u, 16u}) {
    auto single = nn::build_objective(spec());
    auto dist = mpi::build_distributed_objective(spec(), comm);
    const auto a = train(*single.objective, single.theta0, batch);
    const auto b = train(*dist.objective, dist.theta0, batch);
    BOOST_TEST(a.steps == b.steps);
    BOOST_TEST(rel(b.theta, a.theta) < 1e-12, "batch " << batch << ": θ after the run");
    BOOST_TEST(same_on_every_rank(comm, b.theta), "batch " << batch);
    double worst = 0.0;
    for (const char* col : {"loss", "rp", "accuracy", "lambda_max"}) {
      const auto x = a.metrics.column(col), y = b.metrics.column(col);
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!std::isnan(x[i])) worst = std::max(worst, std::abs(y[i] - x[i]) / std::max(std::abs(x[i]), 1e-3));
    }
    BOOST_TEST(worst < 1e-10, "batch " << batch << ": worst relative difference " << worst);
    BOOST_TEST_MESSAGE("batch " << batch << ": worst metric difference " << worst);
  }
}

// A BatchNorm network: its full-batch objective under mpirun is the
// one-process objective on all 101 examples (statistics, their adjoints and
// tangents summed over ranks), however each shard is chunked; a minibatch
// split across ranks is refused, not normalized per rank.
BOOST_AUTO_TEST_CASE(batchnorm_statistics_span_every_rank) {
  const mpi::Communicator comm;
  nn::ObjectiveSpec s = spec();
  s.model = "linear(8) tanh bn linear(8) relu bn linear(3)";
  auto single = nn::build_objective(s);
  s.chunk_size = 7;  // shards of 51/50 or 34/34/33 in chunks of 7: several parts per rank
  auto dist = mpi::build_distributed_objective(s, comm);
  Rng rng(5);
  Tensor theta = single.theta0, v = Tensor::from_shape({theta.size()});
  for (auto& x : theta) x += 0.3 * rng.normal();
  for (auto& x : v) x = rng.normal();
  Tensor g1, g2;
  const double f1 = single.objective->value_and_grad(theta, g1), f2 = dist.objective->value_and_grad(theta, g2);
  BOOST_TEST(rel(f2, f1) < 1e-12);
  BOOST_TEST(rel(g2, g1) < 1e-12);
  BOOST_TEST(rel(dist.objective->value(theta), f1) < 1e-12);
  BOOST_TEST(rel(dist.objective->hvp(theta, v), single.objective->hvp(theta, v)) < 1e-11);
  auto H1 = single.objective->hessian_at(theta);
  auto H2 = dist.objective->hessian_at(theta);
  BOOST_TEST(rel(H2->apply(v), H1->apply(v)) < 1e-11);
  BOOST_TEST(rel(*dist.objective->accuracy(theta), *single.objective->accuracy(theta)) < 1e-12);
  BOOST_TEST(same_on_every_rank(comm, g2));
  const std::vector<std::size_t> batch = {0, 1, 2, 99, 100};
  Tensor bg;
  BOOST_CHECK_EXCEPTION(dist.objective->batch_value_and_grad(theta, batch, bg), std::invalid_argument,
                          [](const std::invalid_argument& e) {
                            return std::string(e.what()).find("split across MPI ranks") != std::string::npos;  // on every rank, with or without rows of the batch
                          });
}
