// Crash safety in the library: a run stopped at any step (here by an
// exception from the step observer, right after the step's row is written,
// before the next checkpoint) and resumed from its checkpoint by fresh
// objects produces the uninterrupted run's metrics.csv, trajectory and θ byte
// for byte — for GD with every warm-started and stochastic plugin, SGD with
// momentum and Adam minibatches. A checkpoint of another run is refused.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;
using namespace eos::analysis;
using eos::test::bytes_of;
namespace fs = std::filesystem;

namespace {

struct Crash {};

struct Setup {
  std::string name;
  std::size_t batch = 0;
  std::string optimizer = "gd";
  std::vector<std::pair<std::string, std::size_t>> plugins;  // spec, every
  std::size_t steps = 12;
  std::vector<std::size_t> crashes = {0, 1, 5, 11};  // after these steps
};

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name) {
  if (name == "momentum") return std::make_unique<optim::Momentum>(optim::Schedule::cosine(0.05, 12), 0.9);
  if (name == "adam") return std::make_unique<optim::Adam>(optim::Schedule::constant(0.01));
  if (name == "gd_eos") return std::make_unique<optim::GradientDescent>(optim::Schedule::constant(2.0));
  return std::make_unique<optim::GradientDescent>(optim::Schedule::constant(0.4));
}

nn::ObjectiveSpec spec(const std::string& setup) {
  nn::ObjectiveSpec s;
  s.data = {.source = "gaussian_clusters", .n = 50, .standardize = true, .dim = 5, .classes = 3, .separation = 1.0, .seed = 4};
  s.hidden = {8};
  s.chunk_size = 16;
  s.init_seed = 7;
  if (setup == "gd_sharpness") {  // test_trainer's net, at the edge of stability by step 40
    s.data = {.source = "gaussian_clusters", .n = 200, .standardize = true, .dim = 8, .classes = 3, .separation = 1.0, .seed = 1};
    s.hidden = {16, 16};
    s.init_seed = 2;
  }
  return s;
}

// Runs `setup` into `dir` from the start (resume = false) or from its
// checkpoint, with fresh objects as a new process would have; crash_at
// throws after that step's row.
RunResult run(const Setup& setup, const fs::path& dir, bool resume, std::size_t checkpoint_every,
              std::optional<std::size_t> crash_at = {}) {
  auto built = nn::build_objective(spec(setup.name));
  auto opt = make_optimizer(setup.optimizer);
  TrainerOptions o;
  o.max_steps = setup.steps;
  o.batch_size = setup.batch;
  o.seed = 11;
  MetricsCsvSink csv((dir / "metrics.csv").string());
  TrajectorySink trajectory((dir / "trajectory").string(), 3);
  StepObserver crash([crash_at](const StepRecord& r) {
    if (crash_at && r.step == *crash_at) throw Crash{};
  });
  SummarySink summary((dir / "summary.json").string());
  CheckpointSink checkpoint((dir / "checkpoint.eos").string(), checkpoint_every, 0.0);
  Trainer t(*built.objective, *opt, o);
  t.record_to(csv).record_to(trajectory).record_to(crash).record_to(summary).record_to(checkpoint);
  for (const auto& [s, every] : setup.plugins) t.attach(PluginRegistry::global().create_from_spec(s), When::every_k(every));
  return resume ? t.resume(checkpoint.path()) : t.run(built.theta0);
}

std::vector<Setup> setups() {
  return {{"gd", 0, "gd",
           {{"loss", 1}, {"rp", 1}, {"sharpness:k=2,tol=1e-8", 1}, {"precond_sharpness:tol=1e-6", 2},
            {"hessian_trace:probes=3", 2}, {"tau_profile:grid=gauss,m=4", 3}, {"accuracy", 4},
            {"lambda_min:tol=1e-8", 2}, {"update_rp", 1}, {"block_sharpness:probes=3,tol=1e-6", 3},
            {"regime:window=4,hold=2", 1}, {"central_flow:margin=0.9", 1},
            {"eigvec_overlap", 1}}},  // hvp=auto: float32 products by the last two solves' lengths (state)
          {"sgd_momentum", 16, "momentum", {{"loss", 2}, {"sgd_rp:draws=3", 2}, {"sharpness:tol=1e-8", 3}}},
          {"adam", 7, "adam", {{"loss", 1}, {"precond_sharpness:tol=1e-8", 2}, {"grad_norm", 5}, {"update_rp", 3}, {"eigvec_overlap:tol=1e-6", 4}}},
          // solves of one HVP between guarded ones (guard_every = 2: the gaps and counts are state; a
          // resume that does not load them differs)
          {"gd_sharpness", 0, "gd_eos", {{"loss", 1}, {"sharpness", 1}}, 60, {0, 16, 21, 26, 59}}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(resume)

BOOST_AUTO_TEST_CASE(a_resumed_run_equals_the_uninterrupted_one_byte_for_byte) {
  for (const Setup& setup : setups()) {
    const fs::path root = eos::test::scratch_dir("resume/" + setup.name);
    fs::create_directories(root / "straight");
    const RunResult straight = run(setup, root / "straight", false, 1);
    BOOST_TEST(straight.steps == setup.steps);
    BOOST_TEST(!fs::exists(root / "straight" / "checkpoint.eos"));  // removed when the run ends
    if (setup.name == "gd_sharpness") {  // some solves stop on the lead alone, so the carried state matters
      std::size_t unguarded = 0;
      for (std::size_t s = 1; s <= setup.steps; ++s) unguarded += straight.metrics.at(s, "sharpness_hvps").value() == 1.0;
      // 20, from step 19 on (24 from step 17 while the guard came from step t − 1 always: a guard of the
      // same phase measures smaller, truer gaps); not loading any one of the schedule's fields fails
      // 10 / 4 / 6 checks
      BOOST_TEST(unguarded >= 16u, unguarded << " solves of one HVP");
    }

    for (std::size_t every : {1, 4})
      for (std::size_t crash : setup.crashes) {
        const fs::path dir = root / fmt::format("every{}_crash{}", every, crash);
        fs::create_directories(dir);
        BOOST_CHECK_THROW(run(setup, dir, false, every, crash), Crash);
        if (!fs::exists(dir / "checkpoint.eos")) {
          BOOST_TEST(crash < every, "no checkpoint after step " << crash);
          continue;  // killed before its first checkpoint: a resume starts over (the CLI's job)
        }
        // A crash in the middle of writing a row leaves a partial last line.
        std::ofstream(dir / "metrics.csv", std::ios::app) << "13,0.4,0.2";
        const RunResult resumed = run(setup, dir, true, every);
        const std::string what = setup.name + fmt::format(", checkpoint every {}, crash after step {}", every, crash);
        BOOST_TEST(resumed.steps == straight.steps, what);
        BOOST_TEST(bytes_of(dir / "metrics.csv") == bytes_of(root / "straight" / "metrics.csv"), what);
        BOOST_TEST(std::memcmp(resumed.theta.data(), straight.theta.data(), straight.theta.size() * 8) == 0, what);
        BOOST_TEST(resumed.metrics.rows.size() == straight.metrics.rows.size(), what);
        bool same_rows = true;
        for (std::size_t r = 0; r < straight.metrics.rows.size(); ++r)
          for (std::size_t c = 0; c < straight.metrics.columns.size(); ++c) {
            const auto &x = straight.metrics.rows[r][c], &y = resumed.metrics.rows[r][c];
            if (x.has_value() != y.has_value() || (x && std::memcmp(&*x, &*y, 8) != 0)) same_rows = false;
          }
        BOOST_TEST(same_rows, what << ": the in-memory rows differ");
        for (const auto& f : fs::directory_iterator(root / "straight" / "trajectory"))
          BOOST_TEST(bytes_of(f.path()) == bytes_of(dir / "trajectory" / f.path().filename()),
                     what << ": " << f.path().filename());
        BOOST_TEST(!fs::exists(dir / "checkpoint.eos"));
      }
  }
}

BOOST_AUTO_TEST_CASE(a_checkpoint_of_another_run_is_refused_before_anything_is_touched) {
  const Setup gd = setups()[0];
  const fs::path dir = eos::test::scratch_dir("resume/other");
  BOOST_CHECK_THROW(run(gd, dir, false, 1, 4), Crash);
  const std::string csv = bytes_of(dir / "metrics.csv");
  Setup other = gd;
  other.plugins.pop_back();
  try {
    run(other, dir, true, 1);
    BOOST_ERROR("a checkpoint with other plugins was accepted");
  } catch (const StateError& e) {
    BOOST_TEST(std::string(e.what()).find("checkpoint.eos: the checkpoint's run has columns") != std::string::npos,
               e.what());
  }
  Setup adam = gd;
  adam.optimizer = "adam";
  try {
    run(adam, dir, true, 1);
    BOOST_ERROR("a checkpoint of another optimizer was accepted");
  } catch (const StateError& e) {
    BOOST_TEST(std::string(e.what()).find("saved by optimizer GD(lr=constant(0.4)), not Adam(") != std::string::npos, e.what());
  }
  BOOST_TEST(bytes_of(dir / "metrics.csv") == csv);  // untouched by the refused resumes
  // A damaged checkpoint is named.
  {
    std::fstream f(dir / "checkpoint.eos", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  try {
    run(gd, dir, true, 1);
    BOOST_ERROR("a damaged checkpoint was accepted");
  } catch (const StateError& e) {
    BOOST_TEST(std::string(e.what()).find("checkpoint.eos: checksum mismatch") != std::string::npos, e.what());
  }
}

// The BLAS kernel rounds every product, so a run resumed on another one is
// not bit for bit the run it would have been: the checkpoint carries the
// kernel of each stretch, and summary.json lists them with the step each
// began at. (One process runs one kernel, so the other one is written into
// the checkpoint here; tests/apps/test_crash.cpp resumes on a real one.)
BOOST_AUTO_TEST_CASE(a_run_resumed_on_another_blas_kernel_records_from_which_step) {
  const Setup gd{"gd", 0, "gd", {{"loss", 1}}, 12, {}};
  const fs::path dir = eos::test::scratch_dir("resume/kernels");
  const std::string now = blas_kernel().kernel, other = now == "Prescott" ? "Haswell" : "Prescott";
  auto kernels_in = [&](const fs::path& summary) {
    std::ifstream in(summary);
    std::vector<std::pair<std::size_t, std::string>> ks;
    const nlohmann::json summary_json = nlohmann::json::parse(in);
    for (const auto& k : summary_json.at("blas").at("kernels"))
      ks.emplace_back(k.at("from_step").get<std::size_t>(), k.at("kernel").get<std::string>());
    return ks;
  };
  using Stretches = std::vector<std::pair<std::size_t, std::string>>;
  auto text = [](const Stretches& ks) {
    std::string t;
    for (const auto& [step, kernel] : ks) t += fmt::format(" {}@{}", kernel, step);
    return t;
  };
  const fs::path ck = dir / "checkpoint.eos";
  std::size_t at = 0;  // the checkpoint's step
  auto crashed_with = [&](const std::string& record) {  // a checkpoint before step 4, its record replaced
    fs::remove_all(dir);
    fs::create_directories(dir);
    BOOST_CHECK_THROW(run(gd, dir, false, 1, 4), Crash);
    StateDict state = read_state(ck.string());
    at = state.integer("trainer.step");
    BOOST_TEST_REQUIRE(blas_kernels_of(state).size() == 1u);
    BOOST_TEST(blas_kernels_of(state).front().kernel == now);
    BOOST_TEST(blas_kernels_of(state).front().from_step == 0u);
    state.put("trainer.blas_kernels", fmt::format(fmt::runtime(record), at));
    write_state(ck.string(), state);
  };

  crashed_with(other + "@0");
  run(gd, dir, true, 1);
  BOOST_TEST((kernels_in(dir / "summary.json") == Stretches{{0, other}, {at, now}}), text(kernels_in(dir / "summary.json")));
  crashed_with(other + "@0 " + now + "@2");  // back on the kernel it last ran on: no new stretch
  run(gd, dir, true, 1);
  BOOST_TEST((kernels_in(dir / "summary.json") == Stretches{{0, other}, {2, now}}), text(kernels_in(dir / "summary.json")));
  crashed_with(now + "@0 " + other + "@{}");  // resumed on `other`, stopped before its first step
  run(gd, dir, true, 1);
  BOOST_TEST((kernels_in(dir / "summary.json") == Stretches{{0, now}}), text(kernels_in(dir / "summary.json")));

  for (const std::string bad : {"Prescott", "Prescott@x", "Prescott@0 Haswell@0", "Prescott@9", "@"}) {
    crashed_with(bad);
    const std::string csv = bytes_of(dir / "metrics.csv");
    try {
      run(gd, dir, true, 1);
      BOOST_ERROR("a checkpoint with blas_kernels '" << bad << "' was accepted");
    } catch (const StateError& e) {
      BOOST_TEST(std::string(e.what()).find("trainer.blas_kernels '" + bad + "'") != std::string::npos, e.what());
    }
    BOOST_TEST(bytes_of(dir / "metrics.csv") == csv, bad);  // refused before anything was touched
  }
  // A checkpoint written before the kernels were recorded: the run's from its resume on.
  crashed_with("");
  StateDict state = read_state(ck.string());
  StateDict without;
  for (const auto& entry : state.entries())  // (clang 14 cannot capture a structured binding)
    if (entry.first != "trainer.blas_kernels")
      std::visit([&](const auto& v) { without.put(entry.first, v); }, entry.second);
  write_state(ck.string(), without);
  run(gd, dir, true, 1);
  BOOST_TEST((kernels_in(dir / "summary.json") == Stretches{{at, now}}), text(kernels_in(dir / "summary.json")));
}

BOOST_AUTO_TEST_SUITE_END()
