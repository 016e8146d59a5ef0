// End-to-end tests of the `eoslab` executable: the output contract of train,
// analyze equal to the online values, every usage error (exit 2, naming what
// was wrong), divergence as an outcome, reproduce example1, and plotting with
// and without gnuplot.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <eoslab.hpp>

#include "cli_support.hpp"
#include "eoslab/flags.hpp"

using eos::analysis::MetricsTable;

namespace {

bool gnuplot_installed() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// A small classification run: 300 Gaussian-cluster examples, one hidden layer.
std::vector<std::string> small_run(const fs::path& out) {
  return {"train", "--data", "gaussian:12,3", "--n", "300", "--widths", "16", "--lr", "2/5", "--steps", "20",
          "--plugin", "loss", "--plugin", "rp", "--plugin", "sharpness:k=2@5", "--save-every", "5",
          "--out", out.string(), "--quiet"};
}

// The largest |x − y| / max(|x|, 1e-3) over two runs' metrics, which must
// have the same rows and the same cells filled.
double worst_relative_difference(const MetricsTable& x, const MetricsTable& y) {
  BOOST_TEST_REQUIRE(x.rows.size() == y.rows.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < x.rows.size(); ++i)
    for (std::size_t c = 0; c < x.columns.size(); ++c) {
      BOOST_TEST(x.rows[i][c].has_value() == y.rows[i][c].has_value());
      if (x.rows[i][c] && y.rows[i][c])
        worst = std::max(worst, std::abs(*x.rows[i][c] - *y.rows[i][c]) / std::max(std::abs(*x.rows[i][c]), 1e-3));
    }
  return worst;
}

}  // namespace

BOOST_AUTO_TEST_CASE(train_writes_the_output_contract) {
  const fs::path out = scratch("train");
  const Ran r = eoslab(small_run(out));
  BOOST_TEST_REQUIRE(r.code == 0, r.output);

  const MetricsTable t = eos::analysis::read_metrics_csv((out / "metrics.csv").string());
  const std::vector<std::string> expected = {"step", "lr", "loss", "rp", "L_dir", "rp_pred_43", "two_over_eta",
                                             "lambda_max", "lambda_2", "sharpness_residual", "sharpness_hvps",
                                             "cos_grad_top", "sharpness_float32_hvps", "sharpness_assumed_gap"};
  BOOST_TEST(t.columns == expected, boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(t.rows.size() == 21u);  // steps 0…20
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    BOOST_TEST(*t.at(i, "step") == double(i));
    BOOST_TEST(*t.at(i, "lr") == 0.4);
    BOOST_TEST(t.at(i, "loss").has_value());
    // sharpness@5: computed at steps 0, 5, 10, 15, 20 only, empty elsewhere
    BOOST_TEST(t.at(i, "lambda_max").has_value() == (i % 5 == 0), "step " << i);
  }
  // RP at steps that have a successor; the last row has none
  BOOST_TEST(t.at(0, "rp").has_value());

  const auto s = read_json(out / "summary.json");
  BOOST_TEST(s.at("outcome").get<std::string>() == "max_steps");
  BOOST_TEST(s.at("diverged_at_step").is_null());
  BOOST_TEST(s.at("steps").get<int>() == 20);
  BOOST_TEST(s.at("wall_seconds").get<double>() >= 0.0);
  BOOST_TEST(s.at("settings").is_object());
  BOOST_TEST(s.at("config").at("optimizer").at("lr_text").get<std::string>() == "2/5");
  BOOST_TEST(s.at("config").at("objective").at("data").at("source").get<std::string>() == "gaussian_clusters");
  const std::string cmd = read_text(out / "command.txt");
  BOOST_TEST(cmd.find("eoslab train --data gaussian:12,3") == 0u, cmd);
  BOOST_TEST(cmd.find("sharpness:k=2@5") != std::string::npos, cmd);
  const auto m = read_json(out / "trajectory" / "manifest.json");
  BOOST_TEST(m.at("steps").size() == 5u);  // 0, 5, 10, 15, 20
}

// On a CPU OpenBLAS does not know it runs its Prescott (SSE3) kernel, ~4×
// slower; eoslab restarts itself on the CPU's kernel unless the user chose one
// with OPENBLAS_CORETYPE, and summary.json says which ran and who chose it.
BOOST_AUTO_TEST_CASE(train_runs_the_cpus_blas_kernel_and_records_it) {
  const std::vector<std::string> run = {"train", "--data", "gaussian:12,3", "--n", "300", "--widths", "16",
                                        "--steps", "3", "--quiet", "--out"};
  auto with_out = [&](const fs::path& out) {
    auto a = run;
    a.push_back(out.string());
    return a;
  };
  const fs::path own = scratch("blas_own"), forced = scratch("blas_forced");
  const Ran r = eoslab(with_out(own), "env -u OPENBLAS_CORETYPE -u EOSLAB_BLAS_KERNEL_SET");
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const auto b = read_json(own / "summary.json").at("blas");
  const std::string kernel = b.at("kernel").get<std::string>(), cpu = b.at("cpu_supports").get<std::string>();
  BOOST_TEST_MESSAGE("BLAS kernel " << kernel << " chosen by " << b.at("chosen_by") << ", CPU supports " << cpu);
  if (kernel.empty()) return;  // not OpenBLAS
  BOOST_TEST(cpu == eos::openblas_kernel_for(eos::cpu_features()));
  if (!cpu.empty()) BOOST_TEST(kernel != "Prescott");
  const std::string by = b.at("chosen_by").get<std::string>();
  BOOST_TEST((by == "OpenBLAS" || (by == "eoslab" && kernel == cpu)), by);
  BOOST_TEST(b.at("config").get<std::string>().find("OpenBLAS") == 0u);

  const Ran f = eoslab(with_out(forced), "env -u EOSLAB_BLAS_KERNEL_SET OPENBLAS_CORETYPE=Prescott");
  BOOST_TEST_REQUIRE(f.code == 0, f.output);
  const auto fb = read_json(forced / "summary.json").at("blas");
  BOOST_TEST(fb.at("kernel").get<std::string>() == "Prescott");
  BOOST_TEST(fb.at("chosen_by").get<std::string>() == "OPENBLAS_CORETYPE");
}

BOOST_AUTO_TEST_CASE(analyze_replays_the_online_values) {
  const fs::path out = scratch("analyze");
  BOOST_TEST_REQUIRE(eoslab(small_run(out)).code == 0);
  const Ran r = eoslab({"analyze", out.string(), "--plugin", "rp", "--plugin", "sharpness:k=2", "--quiet"});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const MetricsTable online = eos::analysis::read_metrics_csv((out / "metrics.csv").string());
  const MetricsTable offline = eos::analysis::read_metrics_csv((out / "analysis" / "metrics.csv").string());
  BOOST_TEST_REQUIRE(offline.rows.size() == 5u);
  for (std::size_t i = 0; i < offline.rows.size(); ++i) {
    const std::size_t step = std::size_t(*offline.at(i, "step"));
    BOOST_TEST(step == 5 * i);
    for (const std::string c : {"lambda_max", "lambda_2"}) {
      const double a = *online.at(step, c), b = *offline.at(i, c);
      BOOST_TEST(std::abs(a - b) <= 1e-9 * std::abs(a), c << " at step " << step << ": " << a << " vs " << b);
    }
    if (step < 20)  // RP needs θ_{t+1}: the online run has none after its last step
      for (const std::string c : {"rp", "L_dir"}) {
        const double a = *online.at(step, c), b = *offline.at(i, c);
        BOOST_TEST(std::abs(a - b) <= 1e-10 * std::max(1.0, std::abs(a)), c << " at step " << step);
      }
  }
  BOOST_TEST(read_json(out / "analysis" / "summary.json").at("steps_analysed").get<int>() == 5);
}

// Eigen-solves cut short by max_iter are warned of, by train and by analyze,
// with the plugin, how many, where first and how far from converged; a run
// whose solves all converge says nothing.
BOOST_AUTO_TEST_CASE(eigen_solves_out_of_hvps_are_warned_of) {
  const fs::path out = scratch("unconverged");
  // f = 20θ₁² + θ₂²: λmax = 40, and one HVP from a start off both axes does not find it
  const std::vector<std::string> run = {"train", "--toy", "quadratic", "--theta0", "1,1", "--lr", "0.01",
                                        "--steps", "3", "--quiet", "--out"};
  auto with = [&](std::vector<std::string> args, const std::string& dir, const std::string& plugin) {
    args.push_back((out / dir).string());
    args.insert(args.end(), {"--plugin", plugin});
    return args;
  };
  const Ran cut = eoslab(with(run, "cut", "sharpness:max_iter=1"));
  BOOST_TEST_REQUIRE(cut.code == 0, cut.output);
  BOOST_TEST(cut.output.find("eoslab: warning: sharpness: 4 of 4 eigen-solves ran out of HVPs (max_iter) before "
                             "their tolerance, the first at step 0") != std::string::npos,
             cut.output);
  const auto s = read_json(out / "cut" / "summary.json").at("sharpness");
  BOOST_TEST(s.at("unconverged_solves").get<int>() == 4);
  BOOST_TEST(s.at("largest_unconverged_residual").get<double>() > 1e-3);

  const Ran tight = eoslab(with(run, "tight", "sharpness"));
  BOOST_TEST_REQUIRE(tight.code == 0, tight.output);
  BOOST_TEST(tight.output.find("warning") == std::string::npos, tight.output);
  BOOST_TEST(read_json(out / "tight" / "summary.json").at("sharpness").at("unconverged_solves").get<int>() == 0);

  // analyze: the same count in the analysis's summary, and the same warning
  const fs::path recorded = out / "recorded";
  BOOST_TEST_REQUIRE(eoslab(small_run(recorded)).code == 0);
  const Ran a = eoslab({"analyze", recorded.string(), "--plugin", "lambda_min:max_iter=1", "--quiet"});
  BOOST_TEST_REQUIRE(a.code == 0, a.output);
  BOOST_TEST(a.output.find("eoslab: warning: lambda_min: 5 of 5 eigen-solves ran out of HVPs") != std::string::npos,
             a.output);
  BOOST_TEST(read_json(recorded / "analysis" / "summary.json").at("lambda_min").at("unconverged_solves").get<int>() == 5);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_and_name_the_problem) {
  const fs::path out = scratch("usage");
  const fs::path wrong_size = out.parent_path() / "wrong_size.npy";
  eos::write_npy(wrong_size.string(), eos::Tensor{1.0, 2.0, 3.0});
  struct Case {
    std::vector<std::string> args;
    std::string must_mention;
  };
  const std::vector<std::string> base = {"train", "--toy", "quadratic", "--steps", "3", "--quiet", "--out", out.string()};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::vector<Case> cases = {
      {with({"--bogus"}), "--bogus"},
      {with({"--lr", "2/0"}), "--lr"},
      {with({"--lr", "abc"}), "--lr"},
      {with({"--lr", "-0.1"}), "--lr"},
      {with({"--lr", "nan"}), "--lr"},
      {with({"--steps", "0"}), "--steps"},
      {with({"--steps", "-4"}), "--steps"},
      {with({"--n", "0"}), "--n"},
      {with({"--n", "-5"}), "--n"},
      {with({"--n", "2.5"}), "--n"},
      {with({"--batch-size", "-1"}), "--batch-size"},
      {with({"--widths", "200,0"}), "--widths"},
      {with({"--activation", "swish"}), "--activation"},
      {with({"--loss", "hinge"}), "--loss"},
      {with({"--optimizer", "lbfgs"}), "--optimizer"},
      {with({"--schedule", "exponential"}), "--schedule"},
      {with({"--plugin", "sharpness:k=abc"}), "k"},
      {with({"--plugin", "sharpness:k=abc"}), "sharpness"},
      {with({"--plugin", "nosuch"}), "nosuch"},
      {with({"--plugin", "loss@0"}), "loss@0"},
      // options that fit each other and the objective only together: refused before any file, not at the first solve
      {with({"--plugin", "sharpness:k=2,max_iter=1"}), "max_iter=1 is less than k=2"},
      {with({"--plugin", "central_flow:max_iter=2"}), "max_iter=2 is less than k=3"},
      {with({"--plugin", "sharpness:k=3"}), "k=3 but 'quadratic"},
      {{"train", "--toy", "cubic", "--quiet", "--out", out.string()}, "cubic"},
      {with({"--theta0", "1,2,3"}), "--theta0"},
      {with({"--accuracy-goal", "1.5"}), "--accuracy-goal"},
      {{"train", "--data", "idx:/nonexistent/eoslab", "--quiet", "--out", out.string()}, "/nonexistent/eoslab"},
      {{"train", "--data", "fashion-mnist:/nonexistent/fm", "--quiet", "--out", out.string()}, "dataset-fashion-mnist"},
      {{"train", "--data", "csv:/nonexistent/x.csv", "--quiet", "--out", out.string()}, "/nonexistent/x.csv"},
      {{"train", "--data", "mnist", "--quiet", "--out", out.string()}, "--data"},
      {{"train", "--data", "gaussian:3", "--quiet", "--out", out.string()}, "gaussian"},
      {{"train", "--data", "gaussian:4,2", "--n", "20", "--widths", "3", "--init-params", "/nonexistent/t.npy",
        "--quiet", "--out", out.string()},
       "/nonexistent/t.npy"},
      {{"train", "--data", "gaussian:4,2", "--n", "20", "--widths", "3", "--init-params", wrong_size.string(),
        "--quiet", "--out", out.string()},
       "23 parameters"},
      {{"train", "--data", "gaussian:4,2", "--n", "20", "--batch-size", "50", "--quiet", "--out", out.string()},
       "--batch-size"},
      {{"reproduce", "nosuch"}, "nosuch"},
      {{"analyze", "/nonexistent/run", "--plugin", "rp"}, "/nonexistent/run"},
      {{"plot", "/nonexistent/run"}, "/nonexistent/run"},
      {{"frobnicate"}, "frobnicate"},
      // An empty argument once looped forever inside CLI11 (found by fuzz_cli_values).
      {with({""}), "argument 9 is empty, after '" + out.string() + "'"},
      {{"train", "--toy", "quadratic", "--out", ""}, "argument 5 is empty, after '--out'"},
      {{"", "train"}, "unknown command ''"},
  };
  for (const auto& c : cases) {
    const Ran r = eoslab(c.args, "timeout 60");  // a hang is a failure (exit 124), not a stuck suite
    std::string shown;
    for (const auto& a : c.args) shown += a + " ";
    BOOST_TEST(r.code == 2, shown << "→ exit " << r.code << ": " << r.output);
    BOOST_TEST(r.output.find(c.must_mention) != std::string::npos, shown << "→ '" << r.output << "' lacks '" << c.must_mention << "'");
    BOOST_TEST(r.output.find("terminate called") == std::string::npos, shown);
    BOOST_TEST(!fs::exists(out), shown << "→ left " << out << " behind");
    fs::remove_all(out);
  }
  // analyze: a plugin that does not fit the rebuilt objective, before the analysis folder
  const fs::path run = out.parent_path() / "usage_run";
  fs::remove_all(run);
  BOOST_TEST_REQUIRE(eoslab({"train", "--toy", "quadratic", "--theta0", "1,1", "--lr", "0.01", "--steps", "2",
                             "--save-every", "1", "--quiet", "--out", run.string()})
                         .code == 0);
  const Ran a = eoslab({"analyze", run.string(), "--plugin", "lambda_min:k=3", "--quiet"});
  BOOST_TEST(a.code == 2, a.output);
  BOOST_TEST(a.output.find("--plugin 'lambda_min:k=3': plugin lambda_min: k=3 but 'quadratic") != std::string::npos,
             a.output);
  BOOST_TEST(!fs::exists(run / "analysis"));
}

BOOST_AUTO_TEST_CASE(divergence_is_an_outcome_not_an_error) {
  const fs::path out = scratch("diverge");
  const Ran r = eoslab({"train", "--toy", "quadratic", "--theta0", "1,1", "--lr", "2/39", "--steps", "300", "--plugin",
                        "loss", "--out", out.string(), "--quiet"});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const auto s = read_json(out / "summary.json");
  BOOST_TEST(s.at("outcome").get<std::string>() == "diverged");
  // θ₁ ← (1 − 40η)θ₁ = −(41/39)θ₁: f = 20θ₁² + θ₂² passes 10¹⁰·f(θ₀) at step 231
  BOOST_TEST(s.at("diverged_at_step").get<int>() == 231);
  const MetricsTable t = eos::analysis::read_metrics_csv((out / "metrics.csv").string());
  BOOST_TEST(t.rows.size() == 232u);  // every row up to and including the diverged step is kept
}

BOOST_AUTO_TEST_CASE(help_lists_every_flag_with_its_default) {
  const Ran r = eoslab({"train", "--help"});
  BOOST_TEST(r.code == 0);
  for (const std::string flag : {"--data", "--split", "--n", "--standardize", "--widths", "--activation", "--no-bias",
                                 "--loss", "--weight-decay", "--init", "--seed", "--init-params", "--optimizer", "--lr",
                                 "--momentum", "--batch-size", "--schedule", "--steps", "--epochs", "--loss-goal",
                                 "--accuracy-goal", "--plugin", "--save-every", "--out", "--threads", "--quiet"})
    BOOST_TEST(r.output.find(flag) != std::string::npos, flag);
  BOOST_TEST(r.output.find("--lr TEXT=2/30") != std::string::npos);
  const Ran top = eoslab({"--help"});
  BOOST_TEST(top.code == 0);
  for (const std::string sub : {"train", "analyze", "reproduce", "plot", "plugins"})
    BOOST_TEST(top.output.find(sub) != std::string::npos, sub);
}

BOOST_AUTO_TEST_CASE(reproduce_example1_claims_hold) {
  const fs::path out = scratch("reproduce");
  const Ran r = eoslab({"reproduce", "example1", "--quick", "--out", out.string(), "--quiet"});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const auto j = read_json(out / "example1" / "claims.json");
  BOOST_TEST_REQUIRE(j.at("claims").size() == 3u);
  for (const auto& c : j.at("claims")) {
    BOOST_TEST(c.at("holds").get<bool>(), c.at("claim").get<std::string>() << " — " << c.at("measured").get<std::string>());
    BOOST_TEST(!c.at("criterion").get<std::string>().empty());
  }
  BOOST_TEST(fs::exists(out / "example1" / "report.md"));
  BOOST_TEST(j.at("runs").size() == 3u);
  if (gnuplot_installed())
    for (const std::string f : {"loss", "theta1"})
      for (const std::string ext : {".png", ".svg", ".gp"}) {
        const fs::path p = out / "example1" / "figures" / (f + ext);
        BOOST_TEST((fs::exists(p) && fs::file_size(p) > 0), p.string());
      }
  // A second call reuses the finished runs instead of recomputing them.
  const Ran again = eoslab({"reproduce", "example1", "--quick", "--out", out.string()});
  BOOST_TEST(again.code == 0);
  BOOST_TEST(again.output.find("reusing") != std::string::npos, again.output);
}

BOOST_AUTO_TEST_CASE(reproduce_central_flow_claims_hold_on_the_short_run, *boost::unit_test::label("slow")) {
  // GD and its central flow on Fashion-MNIST (~40 s): every claim is computed
  // from the run, and holds; the figures show both.
  const fs::path out = scratch("reproduce-flow");
  const Ran r = eoslab({"reproduce", "central_flow", "--quick", "--out", out.string(), "--quiet"});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const auto j = read_json(out / "central_flow" / "claims.json");
  BOOST_TEST_REQUIRE(j.at("claims").size() == 4u);
  for (const auto& c : j.at("claims"))
    BOOST_TEST(c.at("holds").get<bool>(), c.at("claim").get<std::string>() << " — " << c.at("measured").get<std::string>());
  const auto run = read_json(out / "runs" / "flow-tanh-64-n500-eta2_5-quick" / "summary.json");
  BOOST_TEST(run.at("central_flow").at("failed_at").is_null());
  BOOST_TEST(run.at("central_flow").at("max_critical").get<int>() >= 1);
  if (gnuplot_installed())
    for (const std::string f : {"loss", "sharpness", "oscillation"}) {
      const fs::path p = out / "central_flow" / "figures" / (f + ".png");
      BOOST_TEST((fs::exists(p) && fs::file_size(p) > 0), p.string());
    }
}

BOOST_AUTO_TEST_CASE(every_preset_command_is_valid_in_both_lengths) {
  // --dry-run parses each run's `eoslab train` flags (the full-length runs take hours to execute).
  for (const bool quick : {true, false}) {
    std::vector<std::string> args = {"reproduce", "all", "--dry-run", "--out", "/nonexistent/dry"};
    if (quick) args.push_back("--quick");
    const Ran r = eoslab(args);
    BOOST_TEST_REQUIRE(r.code == 0, r.output);
    std::size_t commands = 0;
    for (std::size_t pos = 0; (pos = r.output.find("eoslab train ", pos)) != std::string::npos; ++pos) ++commands;
    BOOST_TEST(commands >= 25u, "quick = " << quick << ": " << commands << " commands");
    BOOST_TEST(r.output.find(quick ? "-quick" : "--steps 3000") != std::string::npos);
  }
  BOOST_TEST(!fs::exists("/nonexistent/dry"));
}

BOOST_AUTO_TEST_CASE(plot_draws_figures_or_says_gnuplot_is_missing) {
  const fs::path out = scratch("plot");
  BOOST_TEST_REQUIRE(eoslab(small_run(out)).code == 0);
  const Ran missing = eoslab({"plot", out.string()}, "EOSLAB_GNUPLOT=/nonexistent/gnuplot");
  BOOST_TEST(missing.code == 1);
  BOOST_TEST(missing.output.find("gnuplot-nox") != std::string::npos, missing.output);
  BOOST_TEST(!fs::exists(out / "figures" / "loss.png"));
  if (!gnuplot_installed()) return;
  const Ran r = eoslab({"plot", out.string()});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  for (const std::string f : {"loss", "rp", "directional_smoothness", "sharpness"})
    for (const std::string ext : {".png", ".svg", ".gp"}) {
      const fs::path p = out / "figures" / (f + ext);
      BOOST_TEST((fs::exists(p) && fs::file_size(p) > 0), p.string());
    }
  // the script is standalone: it reads the CSV by a path relative to itself
  BOOST_TEST(read_text(out / "figures" / "rp.gp").find("\"../metrics.csv\"") != std::string::npos);

  // The density plugin's files become one figure, steps overlaid.
  const fs::path d = scratch("plot-density");
  BOOST_TEST_REQUIRE(eoslab({"train", "--data", "gaussian:6,3", "--n", "100", "--widths", "8", "--steps", "20",
                             "--plugin", "loss", "--plugin", "density:steps=30@10", "--quiet", "--out", d.string()})
                         .code == 0);
  BOOST_TEST(fs::exists(d / "density" / "step_00000020.csv"));
  const Ran dr = eoslab({"plot", d.string()});
  BOOST_TEST_REQUIRE(dr.code == 0, dr.output);
  BOOST_TEST(fs::file_size(d / "figures" / "density.png") > 0);
  const std::string gp = read_text(d / "figures" / "density.gp");
  BOOST_TEST(gp.find("\"../density/step_00000010.csv\"") != std::string::npos, gp);
  BOOST_TEST(gp.find("set logscale y") != std::string::npos);
}

#ifdef EOSLAB_MPIRUN
// `eoslab train` under mpirun -np 3 (101 examples: shards 34/34/33) writes
// what one process writes, to 1e-10 (λmax by Lanczos to 1e-10), for GD and
// SGD; a bad data path ends the job with each rank's message, not a hang.
// --threads T splits each chunk into T parts on T threads: the run is the
// one-thread run up to the order of summation, and repeats byte for byte.
BOOST_AUTO_TEST_CASE(threads_change_only_the_order_of_summation) {
  std::vector<MetricsTable> tables;
  std::vector<std::string> csv;
  for (const std::string threads : {"1", "3", "3"}) {
    const fs::path out = scratch("threads-" + threads + "-" + std::to_string(csv.size()));
    auto args = small_run(out);
    // float64 HVPs: float32 products round differently when the sums are
    // split, and a solve stopped at tol carries that into λ (6.5e-6 here, within tol)
    std::ranges::replace(args, std::string("sharpness:k=2@5"), std::string("sharpness:k=2,hvp=float64@5"));
    args.insert(args.end(), {"--threads", threads, "--plugin", "accuracy@5"});
    const Ran r = eoslab(args);
    BOOST_TEST_REQUIRE(r.code == 0, r.output);
    tables.push_back(eos::analysis::read_metrics_csv((out / "metrics.csv").string()));
    csv.push_back(read_text(out / "metrics.csv"));
  }
  const double worst = worst_relative_difference(tables[0], tables[1]);
  BOOST_TEST(worst < 1e-10, "worst relative difference between 1 and 3 threads: " << worst);
  BOOST_TEST(worst > 0.0, "3 threads sum in another order, so some digit differs (else the parts did not run)");
  BOOST_TEST(csv[1] == csv[2], "the same thread count repeats byte for byte");
}

// --threads 0 (the default) computes on the machine's cores; the count is
// recorded, and --resume sums on as many threads even where the cores differ,
// so the resumed run stays the uninterrupted one bit for bit.
BOOST_AUTO_TEST_CASE(a_resume_keeps_the_thread_count_the_run_started_with) {
  const fs::path out = scratch("threads-recorded");
  BOOST_TEST_REQUIRE(eoslab(small_run(out)).code == 0);
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  nlohmann::json command = read_json(out / "command.json");
  BOOST_TEST(command.at("threads_per_rank").get<std::size_t>() == cores);
  BOOST_TEST(read_json(out / "summary.json").at("threads_per_rank").get<std::size_t>() == cores);
  BOOST_TEST(eos::cli::resume_config(out.string()).threads == cores);
  command["threads_per_rank"] = 3;  // as if it had started on a 3-core machine
  std::ofstream(out / "command.json") << command.dump(2);
  BOOST_TEST(eos::cli::resume_config(out.string()).threads == 3u);
  command["threads_per_rank"] = -1;
  std::ofstream(out / "command.json") << command.dump(2);
  BOOST_CHECK_EXCEPTION(eos::cli::resume_config(out.string()), eos::cli::UsageError, [](const auto& e) {
    return std::string(e.what()).find("'threads_per_rank' is not a positive integer") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(mpirun_train_equals_one_process) {
  const std::string mpirun = std::string("OPENBLAS_NUM_THREADS=1 OMPI_MCA_btl_vader_single_copy_mechanism=none "
                                         "timeout 300 ") + EOSLAB_MPIRUN + " --oversubscribe --allow-run-as-root -np 3";
  for (const std::string batch : {"0", "16"}) {
    const fs::path one = scratch("mpi-one-" + batch), three = scratch("mpi-three-" + batch);
    std::vector<std::string> args = {"train", "--data", "gaussian:6,3", "--n", "101", "--widths", "16", "--lr", "0.3",
                                     "--steps", "40", "--batch-size", batch, "--plugin", "loss", "--plugin", "rp",
                                     "--plugin", "sharpness:tol=1e-10@10", "--plugin", "accuracy@5", "--save-every",
                                     "20", "--quiet", "--threads", "1"};
    auto a = args, b = args;
    a.insert(a.end(), {"--out", one.string()});
    b.insert(b.end(), {"--out", three.string()});
    BOOST_TEST_REQUIRE(eoslab(a).code == 0);
    const Ran r = eoslab(b, mpirun);
    BOOST_TEST_REQUIRE(r.code == 0, r.output);
    const double worst = worst_relative_difference(eos::analysis::read_metrics_csv((one / "metrics.csv").string()),
                                                   eos::analysis::read_metrics_csv((three / "metrics.csv").string()));
    BOOST_TEST(worst < 1e-10, "batch " << batch << ": worst relative difference " << worst);
    BOOST_TEST(read_json(three / "trajectory" / "manifest.json").at("steps").size() == 3u);
    BOOST_TEST(read_json(three / "summary.json").at("steps").get<int>() == 40);
  }
  const Ran bad = eoslab({"train", "--data", "idx:/nonexistent/eoslab", "--quiet", "--out", scratch("mpi-bad").string()},
                         mpirun);
  BOOST_TEST(bad.code == 2, bad.output);
  BOOST_TEST(bad.output.find("eoslab (rank ") != std::string::npos, bad.output);
  BOOST_TEST(bad.output.find("/nonexistent/eoslab: no such directory") != std::string::npos, bad.output);
}

// A parallel run stopped by SIGTERM (mpirun forwards it to every rank) and
// resumed under mpirun with as many ranks ends as the run never stopped:
// metrics.csv and every θ file byte for byte. Another rank count is refused
// by every rank with the count to use.
BOOST_AUTO_TEST_CASE(mpirun_runs_resume_with_the_same_rank_count) {
  const std::vector<std::string> mpirun = {EOSLAB_MPIRUN, "--oversubscribe", "--allow-run-as-root", "-np"};
  const std::vector<std::string> env = {"OPENBLAS_NUM_THREADS=1", "OMPI_MCA_btl_vader_single_copy_mechanism=none"};
  const std::string prefix = "OPENBLAS_NUM_THREADS=1 OMPI_MCA_btl_vader_single_copy_mechanism=none timeout 300 " +
                             std::string(EOSLAB_MPIRUN) + " --oversubscribe --allow-run-as-root -np ";
  const std::vector<std::string> args = {"train", "--data", "gaussian:8,3", "--n", "2000", "--widths", "64,64", "--lr",
                                         "0.1", "--steps", "3000", "--plugin", "loss", "--plugin", "rp", "--save-every",
                                         "50", "--checkpoint-every", "5", "--quiet", "--threads", "1"};
  const fs::path ref = scratch("mpi-resume-ref"), dir = scratch("mpi-resume");
  auto into = [&](const fs::path& out) {
    auto a = args;
    a.insert(a.end(), {"--out", out.string()});
    return a;
  };
  const Ran r = eoslab(into(ref), prefix + "2");
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  std::vector<std::string> launch = mpirun;
  launch.push_back("2");
  launch.push_back(EOSLAB_EXE);
  const auto a = into(dir);
  launch.insert(launch.end(), a.begin(), a.end());
  // mpirun forwards the signal to the ranks with some delay; the 2950 steps
  // left after θ_50 (seconds even on a fast machine) leave the signal time
  // to arrive before the run could end on its own.
  stop_when(spawn_program(launch, env), dir / "trajectory" / "theta_00000050.npy", SIGTERM);
  const auto s = read_json(dir / "summary.json");
  BOOST_TEST_REQUIRE(s.at("outcome").get<std::string>() == "interrupted");
  for (const std::string np : {"3", "1"}) {
    const Ran other = eoslab({"train", "--resume", dir.string(), "--quiet"}, np == "1" ? "" : prefix + np);
    BOOST_TEST(other.code == 2, other.output);
    BOOST_TEST(other.output.find("the run was started on 2 ranks; resume it with the same number (mpirun -np 2), not " +
                                 np) != std::string::npos, other.output);
  }
  const Ran resumed = eoslab({"train", "--resume", dir.string(), "--quiet"}, prefix + "2");
  BOOST_TEST_REQUIRE(resumed.code == 0, resumed.output);
  BOOST_TEST(read_text(dir / "metrics.csv") == read_text(ref / "metrics.csv"));
  for (const auto& f : fs::directory_iterator(ref / "trajectory"))
    BOOST_TEST(read_text(f.path()) == read_text(dir / "trajectory" / f.path().filename()), f.path().filename());
  // Resuming the finished run is a no-op on every rank (not rank 0 stopping while the others train).
  const Ran again = eoslab({"train", "--resume", dir.string()}, prefix + "2");
  BOOST_TEST(again.code == 0, again.output);
  BOOST_TEST(again.output.find("nothing to resume") != std::string::npos, again.output);
}
#endif

// One table of defaults (core/defaults.hpp): an omitted flag of `eoslab train`
// means what an omitted field of the library's spec means, and the page of
// defaults in docs/ is the one the table makes.
BOOST_AUTO_TEST_CASE(flags_specs_and_docs_share_one_table_of_defaults) {
  const fs::path out = scratch("defaults");
  const Ran r = eoslab({"train", "--data", "gaussian:5,3", "--steps", "1", "--save-every", "1", "--out", out.string(),
                        "--quiet"});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  nlohmann::json recorded = read_json(out / "trajectory" / "manifest.json").at("objective_spec");
  nlohmann::json library = nlohmann::json::parse(eos::nn::ObjectiveSpec{}.to_json());
  // --data gaussian:5,3 sets these four; every other field is each side's default.
  for (const char* k : {"source", "dim", "classes", "scale_unit"}) library["data"][k] = recorded["data"][k];
  BOOST_TEST(recorded.dump() == library.dump());
  BOOST_TEST(library.at("data").at("n") == eos::defaults::n);

  const Ran d = eoslab({"defaults"});
  BOOST_TEST_REQUIRE(d.code == 0, d.output);
  BOOST_TEST(d.output.find("| `--lr` | `2/30` |") != std::string::npos, d.output);
  BOOST_TEST(d.output == read_text(fs::path(EOS_SOURCE_DIR) / "docs" / "DEFAULTS.md"),
             "docs/DEFAULTS.md is not what `eoslab defaults` prints: regenerate it with "
             "./build/apps/eoslab defaults > docs/DEFAULTS.md");
}
