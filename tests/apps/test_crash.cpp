// Crash safety of `eoslab train`, end to end: runs are killed with SIGKILL at
// random moments (GD with warm-started sharpness and a trajectory, SGD with
// momentum and sgd_rp, Adam minibatches with precond_sharpness, each with a
// different checkpoint rule), resumed with `--resume` — which is itself
// killed at random — until one finishes, and compared byte for byte with the
// run that was never interrupted: metrics.csv, every trajectory file (the
// last one is the final θ), the outcome. A resume runs the BLAS kernel the
// run was checkpointed on, and says so where it cannot.
#include <chrono>
#include <random>

#include <fmt/format.h>

#include <eoslab.hpp>

#include "cli_support.hpp"
#include "support/check.hpp"

using eos::test::bytes_of;

namespace {

// Waits for pid; kills it first if it is still running after `delay`.
// Returns whether it was killed (false: it exited, with code 0 required).
bool kill_after(pid_t pid, std::chrono::microseconds delay) {
  const auto until = std::chrono::steady_clock::now() + delay;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0), "eoslab exited with status " << status);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status);
}

struct Case {
  std::string name;
  std::vector<std::string> args;  // without --out
};

std::vector<Case> cases() {
  const std::vector<std::string> data = {"--data", "gaussian:8,3", "--n", "400", "--widths", "32,32", "--quiet"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.begin(), data.begin(), data.end());
    a.insert(a.begin(), "train");
    return a;
  };
  return {
      {"gd", with({"--lr", "0.5", "--steps", "300", "--plugin", "loss", "--plugin", "rp", "--plugin",
                   "sharpness:k=2@3", "--save-every", "40", "--checkpoint-every", "1"})},
      {"sgd", with({"--optimizer", "momentum", "--lr", "0.05", "--batch-size", "32", "--epochs", "25", "--plugin",
                    "loss@13", "--plugin", "sgd_rp:draws=3@13", "--save-every", "50", "--checkpoint-every", "7"})},
      {"adam", with({"--optimizer", "adam", "--lr", "0.003", "--batch-size", "50", "--steps", "500", "--plugin",
                     "loss@5", "--plugin", "precond_sharpness:tol=1e-6@10", "--save-every", "100",
                     "--checkpoint-every", "0.02s"})},
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(killed_runs_resume_to_the_uninterrupted_result) {
  std::mt19937_64 rng(2026);
  for (const Case& c : cases()) {
    const fs::path ref = scratch("crash-" + c.name + "-ref");
    auto args = c.args;
    args.insert(args.end(), {"--out", ref.string()});
    const auto t0 = std::chrono::steady_clock::now();
    const Ran r = eoslab(args);
    BOOST_TEST_REQUIRE(r.code == 0, r.output);
    const auto duration = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);

    std::size_t kills = 0;
    for (int attempt = 0; attempt < 3; ++attempt) {
      const fs::path dir = scratch(fmt::format("crash-{}-{}", c.name, attempt));
      auto first = c.args;
      first.insert(first.end(), {"--out", dir.string()});
      std::uniform_int_distribution<long> when(0, duration.count());
      bool killed = kill_after(spawn(first), std::chrono::microseconds(when(rng)));
      // Resume, killing the resumed runs too, until one finishes.
      // (Killed before it wrote command.json, the run has nothing to resume
      // from: a user starts it again, and so does the test.)
      for (int round = 0; killed && round < 4; ++round) {
        ++kills;
        const bool started = fs::exists(dir / "command.json");
        killed = kill_after(spawn(started ? std::vector<std::string>{"train", "--resume", dir.string(), "--quiet"} : first),
                            std::chrono::microseconds(round < 3 ? when(rng) : duration.count() * 100));
      }
      BOOST_TEST_REQUIRE(!killed);
      const std::string what = c.name + " attempt " + std::to_string(attempt);
      BOOST_TEST(bytes_of(dir / "metrics.csv") == bytes_of(ref / "metrics.csv"), what);
      for (const auto& f : fs::directory_iterator(ref / "trajectory"))
        BOOST_TEST(bytes_of(f.path()) == bytes_of(dir / "trajectory" / f.path().filename()),
                   what << ": " << f.path().filename());
      BOOST_TEST(read_json(dir / "summary.json").at("outcome_text") == read_json(ref / "summary.json").at("outcome_text"));
      BOOST_TEST(!fs::exists(dir / "checkpoint.eos"));
      BOOST_TEST(!fs::exists(dir / "checkpoint.eos.tmp"));
    }
    BOOST_TEST_MESSAGE(c.name << ": " << kills << " kills in 3 runs of " << duration.count() / 1000 << " ms each");
  }
}

BOOST_AUTO_TEST_CASE(resume_says_what_it_does) {
  const fs::path dir = scratch("resume-cli");
  const std::vector<std::string> run = {"train", "--toy", "quadratic", "--lr", "0.01", "--steps", "20",
                                        "--plugin", "loss", "--out", dir.string(), "--quiet"};
  BOOST_TEST_REQUIRE(eoslab(run).code == 0);
  const Ran done = eoslab({"train", "--resume", dir.string()});
  BOOST_TEST(done.code == 0);
  BOOST_TEST(done.output.find("the run had already ended (ran 20 steps); nothing to resume") != std::string::npos,
             done.output);
  // Killed before its first checkpoint: no checkpoint.eos, no summary → starts over.
  fs::remove(dir / "summary.json");
  const std::string csv = read_text(dir / "metrics.csv");
  const Ran over = eoslab({"train", "--resume", dir.string()});
  BOOST_TEST(over.code == 0);
  BOOST_TEST(over.output.find("no checkpoint yet (stopped before its first): starting over from step 0") !=
             std::string::npos, over.output);
  BOOST_TEST(read_text(dir / "metrics.csv") == csv);

  const Ran mixed = eoslab({"train", "--resume", dir.string(), "--lr", "0.2"});
  BOOST_TEST(mixed.code == 2);
  BOOST_TEST(mixed.output.find("--lr cannot be combined with it") != std::string::npos, mixed.output);
  const Ran missing = eoslab({"train", "--resume", (dir / "nothing").string()});
  BOOST_TEST(missing.code == 2);
  BOOST_TEST(missing.output.find("command.json (a directory written by `eoslab train`") != std::string::npos,
             missing.output);
  std::ofstream(dir / "command.json") << R"({"argv": ["eoslab", "train", "--lr", "-1"]})";
  const Ran bad = eoslab({"train", "--resume", dir.string()});
  BOOST_TEST(bad.code == 2);
  BOOST_TEST(bad.output.find("the recorded command no longer parses: --lr '-1'") != std::string::npos, bad.output);
  for (const std::string spec : {"0", "0s", "-1s", "fast", "1.5"}) {
    const Ran r = eoslab({"train", "--toy", "quadratic", "--checkpoint-every", spec, "--out", (dir / "x").string()});
    BOOST_TEST(r.code == 2, spec);
    BOOST_TEST(r.output.find("--checkpoint-every '" + spec + "': expected N (steps), Ts (seconds, T > 0) or off") !=
               std::string::npos, r.output);
  }
}

// Killed between claiming its folder and writing command.json, a run leaves
// its list and lock only: --resume says to start it again, and the same
// command (or another) then takes the folder. A folder whose results exist
// stays refused even without command.json.
BOOST_AUTO_TEST_CASE(a_run_killed_before_it_began_is_started_again_in_its_folder) {
  const fs::path dir = scratch("unbegun");
  const std::vector<std::string> run = {"train", "--toy", "quadratic", "--lr", "0.01", "--steps", "20",
                                        "--plugin", "loss", "--out", dir.string()};
  BOOST_TEST_REQUIRE(eoslab(run).code == 0);
  const std::string csv = read_text(dir / "metrics.csv");
  for (const char* f : {"command.json", "metrics.csv", "summary.json"}) fs::remove(dir / f);
  std::ofstream(dir / "command.txt.tmp") << "eoslab train";  // killed inside the atomic write
  const Ran resume = eoslab({"train", "--resume", dir.string()});
  BOOST_TEST(resume.code == 2);
  BOOST_TEST(resume.output.find("the run there was stopped before it began") != std::string::npos, resume.output);
  BOOST_TEST(resume.output.find("start it again with `eoslab train --toy quadratic") != std::string::npos,
             resume.output);
  const Ran again = eoslab(run);
  BOOST_TEST_REQUIRE(again.code == 0, again.output);
  BOOST_TEST(again.output.find("stopped before it began (no command.json, no results): this one takes its place") !=
             std::string::npos, again.output);
  BOOST_TEST(read_text(dir / "metrics.csv") == csv);
  BOOST_TEST(!fs::exists(dir / "command.txt.tmp"));  // listed by the killed run, removed with its list

  fs::remove(dir / "command.json");  // results, but no command: not this rule's to replace
  const Ran kept = eoslab(run);
  BOOST_TEST(kept.code == 2);
  BOOST_TEST(kept.output.find("holds the run") != std::string::npos, kept.output);
  BOOST_TEST(read_text(dir / "metrics.csv") == csv);
}

// SIGINT and SIGTERM stop a run after the step in flight: its checkpoint and
// a summary with outcome interrupted, the step and the command that resumes,
// exit 130 / 143; resumed, it ends as the run never stopped. A second signal
// ends the run at once, and what it had checkpointed still resumes to the
// same result.
BOOST_AUTO_TEST_CASE(signals_stop_a_run_that_resumes_to_the_uninterrupted_result) {
  const std::vector<std::string> args = {"train", "--data", "gaussian:8,3", "--n", "2000", "--widths", "64,64",
                                         "--optimizer", "momentum", "--lr", "0.05", "--batch-size", "100", "--steps",
                                         "400", "--plugin", "loss", "--plugin", "sharpness:k=1@20", "--save-every",
                                         "10", "--checkpoint-every", "7", "--quiet"};
  auto into = [&](const fs::path& out) {
    auto a = args;
    a.insert(a.end(), {"--out", out.string()});
    return a;
  };
  const fs::path ref = scratch("signal-ref");
  const Ran r = eoslab(into(ref));
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  auto same_as_ref = [&](const fs::path& dir, const std::string& what) {
    BOOST_TEST(bytes_of(dir / "metrics.csv") == bytes_of(ref / "metrics.csv"), what);
    for (const auto& f : fs::directory_iterator(ref / "trajectory"))
      BOOST_TEST(bytes_of(f.path()) == bytes_of(dir / "trajectory" / f.path().filename()), what << ": " << f.path().filename());
    BOOST_TEST(read_json(dir / "summary.json").at("outcome").get<std::string>() == "max_steps", what);
  };
  for (const int sig : {SIGINT, SIGTERM}) {
    const std::string what = sig == SIGINT ? "SIGINT" : "SIGTERM";
    const fs::path dir = scratch("signal-" + what);
    BOOST_TEST_REQUIRE(stop_when(spawn(into(dir)), dir / "trajectory" / "theta_00000030.npy", sig) == 128 + sig);
    const auto s = read_json(dir / "summary.json");
    BOOST_TEST(s.at("outcome").get<std::string>() == "interrupted", what);
    BOOST_TEST(s.at("interrupted_at_step").get<int>() >= 30, what);
    BOOST_TEST(s.at("resume_command").get<std::string>() == "eoslab train --resume " + dir.string(), what);
    BOOST_TEST(fs::exists(dir / "checkpoint.eos"), what);
    const Ran resumed = eoslab({"train", "--resume", dir.string(), "--quiet"});
    BOOST_TEST_REQUIRE(resumed.code == 0, resumed.output);
    same_as_ref(dir, what);
  }
  const fs::path twice = scratch("signal-twice");
  const pid_t pid = spawn(into(twice));
  BOOST_TEST_REQUIRE(wait_for_file(twice / "checkpoint.eos", pid));
  ::kill(pid, SIGTERM);
  ::kill(pid, SIGTERM);
  const int code = wait_exit(pid);
  BOOST_TEST((code == 128 + SIGTERM), "exit " << code);
  BOOST_TEST_REQUIRE(eoslab({"train", "--resume", twice.string(), "--quiet"}).code == 0);
  same_as_ref(twice, "two SIGTERMs");
}

// The BLAS kernel rounds every product its own way: `--resume` continues a
// run on the kernel its checkpoint was written on (eoslab restarts itself
// with OPENBLAS_CORETYPE set to it), so that it ends as it would have, byte
// for byte — even the slow Prescott fallback over the CPU's own kernel. Where
// the kernel changes anyway (here: the user's OPENBLAS_CORETYPE, and a
// checkpoint's kernel eoslab cannot tell this CPU runs), the resume says so
// and why before it starts, and summary.json lists the kernels by step.
BOOST_AUTO_TEST_CASE(a_resume_continues_on_the_checkpoints_blas_kernel) {
  if (eos::blas_kernel().kernel.empty() || !eos::cpu_runs_kernel("Sandybridge", eos::cpu_features()).value_or(false)) {
    BOOST_TEST_MESSAGE("skipped: needs OpenBLAS and a CPU with AVX (two kernels to run)");
    return;
  }
  const std::vector<std::string> args = {"train", "--data", "gaussian:8,3", "--n", "2000", "--widths", "64,64",
                                         "--lr", "0.05", "--steps", "300", "--plugin", "loss", "--plugin",
                                         "sharpness:k=1@20", "--save-every", "10", "--checkpoint-every", "7",
                                         "--quiet"};
  auto into = [&](const fs::path& out) {
    auto a = args;
    a.insert(a.end(), {"--out", out.string()});
    return a;
  };
  const std::string fresh = "env -u OPENBLAS_CORETYPE -u EOSLAB_BLAS_KERNEL_SET";  // a user's shell
  const fs::path ref = scratch("kernel-ref");
  const Ran r = eoslab(into(ref), fresh + " OPENBLAS_CORETYPE=Prescott");
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  for (const std::string resumed_on : {"", "Sandybridge", "Cooperlake"}) {
    const fs::path dir = scratch("kernel-" + (resumed_on.empty() ? std::string("checkpoints") : resumed_on));
    auto first = into(dir);
    first.insert(first.begin(), EOSLAB_EXE);
    BOOST_TEST_REQUIRE(stop_when(spawn_program(first, {"OPENBLAS_CORETYPE=Prescott"}), dir / "trajectory" /
                                 "theta_00000030.npy", SIGTERM) == 128 + SIGTERM);
    const std::size_t step = read_json(dir / "summary.json").at("interrupted_at_step").get<std::size_t>();
    if (resumed_on == "Cooperlake") {  // a checkpoint from a kernel eoslab cannot tell this CPU runs
      eos::StateDict ck = eos::read_state((dir / "checkpoint.eos").string());
      ck.put("trainer.blas_kernels", std::string("Cooperlake@0"));
      eos::write_state((dir / "checkpoint.eos").string(), ck);
    }
    const Ran resumed = eoslab({"train", "--resume", dir.string(), "--quiet"},
                               fresh + (resumed_on != "Sandybridge" ? "" : " OPENBLAS_CORETYPE=" + resumed_on));
    BOOST_TEST_REQUIRE(resumed.code == 0, resumed.output);
    const auto kernels = read_json(dir / "summary.json").at("blas").at("kernels");
    if (resumed_on.empty()) {
      BOOST_TEST(resumed.output.find("note:") == std::string::npos, resumed.output);
      BOOST_TEST(kernels == nlohmann::json::parse(R"([{"from_step": 0, "kernel": "Prescott"}])"), kernels.dump());
      BOOST_TEST(bytes_of(dir / "metrics.csv") == bytes_of(ref / "metrics.csv"));
      for (const auto& f : fs::directory_iterator(ref / "trajectory"))
        BOOST_TEST(bytes_of(f.path()) == bytes_of(dir / "trajectory" / f.path().filename()), f.path().filename());
      continue;
    }
    if (resumed_on == "Cooperlake") {  // resumed on what this CPU runs by default
      const std::string now = eos::blas_kernel().kernel;
      BOOST_TEST(resumed.output.find(dir.string() + ": note: the run was checkpointed on OpenBLAS's Cooperlake kernel "
                                     "and resumes on OpenBLAS's " + now + " kernel (eoslab cannot tell whether this "
                                     "CPU runs Cooperlake, so it does not try; set OPENBLAS_CORETYPE=Cooperlake "
                                     "yourself where it does)") != std::string::npos,
                 resumed.output);
      BOOST_TEST(kernels == nlohmann::json::parse(fmt::format(
                                R"([{{"from_step": 0, "kernel": "Cooperlake"}}, {{"from_step": {}, "kernel": "{}"}}])",
                                step, now)),
                 kernels.dump());
      continue;
    }
    BOOST_TEST(resumed.output.find(dir.string() + ": note: the run was checkpointed on OpenBLAS's Prescott kernel "
                                   "and resumes on OpenBLAS's Sandybridge kernel (OPENBLAS_CORETYPE=Sandybridge is "
                                   "set here; without it eoslab resumes on Prescott)") != std::string::npos,
               resumed.output);
    BOOST_TEST(resumed.output.find(fmt::format("so from step {} on it is not bit for bit the run it would have been",
                                               step)) != std::string::npos,
               resumed.output);
    BOOST_TEST(kernels == nlohmann::json::parse(fmt::format(
                              R"([{{"from_step": 0, "kernel": "Prescott"}}, {{"from_step": {}, "kernel": "Sandybridge"}}])",
                              step)),
               kernels.dump());
    BOOST_TEST(bytes_of(dir / "metrics.csv") != bytes_of(ref / "metrics.csv"));  // what the note says
  }
}
