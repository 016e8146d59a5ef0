// `eoslab analyze --theta`: θ files trained elsewhere (flat .npy, float32,
// 2-D .npy, .npz), with the objective from the Data and Model flags, give
// what `eoslab analyze DIR` gives on the run that wrote them; `eoslab spec`
// prints the objective spec those flags mean; every bad input is exit 2
// naming the file or flag, with nothing written.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <eoslab.hpp>

#include "cli_support.hpp"

using eos::analysis::MetricsTable;

namespace {

const std::string kTheta = std::string(EOS_SOURCE_DIR) + "/tests/data/theta/";

// GD on the paper's quadratic 20θ₁² + θ₂² at η = 2/50 from (1, 1): the θ in
// tests/data/theta/quadratic_gd*.
double quadratic_loss(std::size_t t) {
  const double a = std::pow(1 - 40 * 0.04, double(t)), b = std::pow(1 - 2 * 0.04, double(t));
  return 20 * a * a + b * b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(theta_files)

// The run's own θ files through --theta (a glob in natural order, steps
// every:1) give the bytes `analyze DIR` writes: the same objective rebuilt
// from flags instead of the manifest.
BOOST_AUTO_TEST_CASE(theta_files_of_a_run_analyse_as_its_directory_does) {
  const fs::path run = scratch("theta-run"), by_dir = run / "analysis", by_files = scratch("theta-by-files");
  const std::vector<std::string> objective = {"--data", "gaussian:12,3", "--n", "150", "--widths", "16"};
  std::vector<std::string> train = {"train", "--lr", "2/5", "--steps", "11", "--save-every", "1", "--out", run.string(),
                                    "--quiet"};
  train.insert(train.end(), objective.begin(), objective.end());
  BOOST_TEST_REQUIRE(eoslab(train).code == 0);
  const std::vector<std::string> plugins = {"--plugin", "loss", "--plugin", "rp", "--plugin", "sharpness:k=2"};
  std::vector<std::string> a1 = {"analyze", run.string(), "--quiet"};
  a1.insert(a1.end(), plugins.begin(), plugins.end());
  BOOST_TEST_REQUIRE(eoslab(a1).code == 0);
  std::vector<std::string> a2 = {"analyze", "--theta", (run / "trajectory" / "theta_*.npy").string(), "--steps",
                                 "every:1", "--lr", "2/5", "--out", by_files.string()};
  a2.insert(a2.end(), objective.begin(), objective.end());
  a2.insert(a2.end(), plugins.begin(), plugins.end());
  const Ran r = eoslab(a2);
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  BOOST_TEST(read_text(by_files / "metrics.csv") == read_text(by_dir / "metrics.csv"));
  // It says which objective it rebuilt, on the terminal and in summary.json.
  BOOST_TEST(mentions(r, "objective: "), r.output);
  BOOST_TEST(mentions(r, "(150 examples); 259 parameters; standardize subset"), r.output);
  const auto s = read_json(by_files / "summary.json");
  BOOST_TEST(s.at("rebuilt").at("parameters").get<int>() == 259);
  BOOST_TEST(s.at("rebuilt").at("spec").at("data").at("n").get<int>() == 150);
  BOOST_TEST(s.at("steps_given").get<bool>());
  BOOST_TEST(s.at("steps").size() == 12u);
  // Rerunning replaces its own earlier analysis.
  BOOST_TEST(eoslab(a2).code == 0);
}

// .npz (np.savez_compressed) and a float32 2-D .npy of the same GD run on
// the quadratic toy: the loss is 20θ₁² + θ₂² of each θ, λmax is 40; float32
// θ are widened and counted.
BOOST_AUTO_TEST_CASE(npz_and_float32_rows_are_read_as_numpy_wrote_them) {
  const fs::path npz = scratch("theta-npz"), rows = scratch("theta-rows");
  const Ran r1 = eoslab({"analyze", "--theta", kTheta + "quadratic_gd.npz", "--toy", "quadratic", "--lr", "2/50",
                         "--steps", "0,1,2,3,4", "--plugin", "loss", "--plugin", "sharpness", "--out", npz.string()});
  BOOST_TEST_REQUIRE(r1.code == 0, r1.output);
  const MetricsTable t = eos::analysis::read_metrics_csv((npz / "metrics.csv").string());
  BOOST_TEST_REQUIRE(t.rows.size() == 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    BOOST_TEST(*t.at(i, "step") == double(i));
    BOOST_TEST(std::abs(*t.at(i, "loss") - quadratic_loss(i)) < 1e-14 * quadratic_loss(i));
    BOOST_TEST(std::abs(*t.at(i, "lambda_max") - 40.0) < 1e-9);
    BOOST_TEST(*t.at(i, "lr") == 0.04);
  }
  BOOST_TEST(read_json(npz / "summary.json").at("float32_widened").get<int>() == 0);

  const Ran r2 = eoslab({"analyze", "--theta", kTheta + "quadratic_gd_rows_f32.npy", "--toy", "quadratic", "--lr",
                         "2/50", "--plugin", "loss", "--out", rows.string()});
  BOOST_TEST_REQUIRE(r2.code == 0, r2.output);
  BOOST_TEST(mentions(r2, "5 of 5 θ were float32, widened to float64"), r2.output);
  const MetricsTable u = eos::analysis::read_metrics_csv((rows / "metrics.csv").string());
  BOOST_TEST_REQUIRE(u.rows.size() == 5u);
  for (std::size_t i = 0; i < 5; ++i)  // float32's rounding of θ, not more
    BOOST_TEST(std::abs(*u.at(i, "loss") - quadratic_loss(i)) < 1e-6 * quadratic_loss(i));
  const auto s = read_json(rows / "summary.json");
  BOOST_TEST(s.at("float32_widened").get<int>() == 5);
  BOOST_TEST(!s.at("steps_given").get<bool>(), "numbered by position: no two θ taken as consecutive steps");
}

// Each refusal is exit 2 naming what was wrong, and leaves --out unmade.
BOOST_AUTO_TEST_CASE(bad_theta_input_is_named_and_writes_nothing) {
  const fs::path out = scratch("theta-refused");
  const std::string npz = kTheta + "quadratic_gd.npz";
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--theta", kTheta + "nothing_*.npy", "--toy", "quadratic"}, "matches no file"},
      {{"--theta", kTheta + "missing.npy", "--toy", "quadratic"}, "no file"},
      {{"--theta", npz, "--data", "gaussian:3,2", "--n", "10", "--widths", "4"},
       "quadratic_gd.npz['arr_0']: θ of step 0 has 2 entries, the objective has 26"},
      {{"--theta", npz, "--toy", "quadratic", "--steps", "0,1"}, "--steps lists 2 steps, --theta holds 5 θ"},
      {{"--theta", npz, "--toy", "quadratic", "--steps", "0,2,1,3,4"}, "steps must increase"},
      {{"--theta", npz, "--toy", "quadratic", "--steps", "every:0"}, "--steps every:K"},
      {{"--theta", npz, "--toy", "quadratic", "--lr", "-1"}, "--lr"},
      {{"--theta", kTheta + "mixed.npz", "--toy", "quadratic"}, "mixed.npz"},
      {{"--theta", kTheta + "savez.npz,", "--toy", "quadratic"}, "an empty entry in the list"},
      {{"--theta", kTheta + "README.md", "--toy", "quadratic"}, "README.md: not a .npy file"},
      {{"--toy", "quadratic"}, "give a run directory"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"analyze", "--plugin", "loss", "--out", out.string()};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const Ran r = eoslab(args);
    BOOST_TEST(r.code == 2, c.says << ": " << r.output);
    BOOST_TEST(mentions(r, c.says), c.says << " not in: " << r.output);
    BOOST_TEST(!fs::exists(out), c.says);
  }
  // A run directory with the flags that --theta reads: its manifest decides.
  const Ran both = eoslab({"analyze", scratch("theta-no-run").string(), "--widths", "16", "--plugin", "loss"});
  BOOST_TEST(both.code == 2);
  BOOST_TEST(mentions(both, "with --widths: a run directory's objective, step size and steps come from its manifest"),
             both.output);
}

// `eoslab spec` prints what the flags mean as the manifest would record it:
// the same defaults as `train` (5000 images, not the data set's all).
BOOST_AUTO_TEST_CASE(spec_prints_the_objective_the_flags_mean) {
  const Ran r = eoslab({"spec", "--arch", "cnn-relu", "--n", "1000"});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const auto j = nlohmann::json::parse(r.output);
  BOOST_TEST(j.at("arch").get<std::string>() == "cnn-relu");
  BOOST_TEST(j.at("data").at("n").get<int>() == 1000);
  const auto d = nlohmann::json::parse(eoslab({"spec"}).output);
  BOOST_TEST(d.at("data").at("n").get<int>() == 5000);
  BOOST_TEST(d == nlohmann::json::parse(eos::nn::ObjectiveSpec{}.to_json()), "an omitted flag = an omitted field");
  BOOST_TEST(eoslab({"spec", "--widths", "abc"}).code == 2);
}

// A manifest written by hand needs five keys (docs/TRAJECTORY.md); the rest
// default (step_lrs to lr, optimizer unknown, …). Missing keys are named all
// at once, not one per attempt.
BOOST_AUTO_TEST_CASE(a_hand_written_manifest_needs_five_keys_and_names_every_missing_one) {
  const fs::path dir = scratch("theta-manifest");
  fs::create_directories(dir);
  nlohmann::json files = nlohmann::json::array(), steps = nlohmann::json::array();
  for (std::size_t t = 0; t < 5; ++t) {
    const std::string name = "theta_" + std::to_string(t) + ".npy";
    eos::write_npy((dir / name).string(), eos::read_npz_array(kTheta + "quadratic_gd.npz", "arr_" + std::to_string(t)));
    files.push_back(name);
    steps.push_back(t);
  }
  const nlohmann::json manifest = {{"format", "eoslab-trajectory/1"},
                                   {"objective_spec", {{"toy", "quadratic"}}},
                                   {"lr", 0.04},
                                   {"steps", steps},
                                   {"files", files}};
  std::ofstream(dir / "manifest.json") << manifest.dump(2);
  const Ran r = eoslab({"analyze", dir.string(), "--plugin", "loss", "--plugin", "rp", "--quiet"});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const MetricsTable t = eos::analysis::read_metrics_csv((dir / "analysis" / "metrics.csv").string());
  BOOST_TEST_REQUIRE(t.rows.size() == 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    BOOST_TEST(std::abs(*t.at(i, "loss") - quadratic_loss(i)) < 1e-14 * quadratic_loss(i));
    BOOST_TEST(*t.at(i, "lr") == 0.04);
  }

  nlohmann::json partial = manifest;
  for (const char* key : {"lr", "steps", "objective_spec"}) partial.erase(key);
  std::ofstream(dir / "manifest.json") << partial.dump(2);
  const Ran bad = eoslab({"analyze", dir.string(), "--plugin", "loss", "--out", scratch("theta-manifest-bad").string()});
  BOOST_TEST(bad.code == 2);
  BOOST_TEST(mentions(bad, "missing required key(s) 'objective_spec', 'lr', 'steps'"), bad.output);
  BOOST_TEST(mentions(bad, "docs/TRAJECTORY.md"), bad.output);
}

// `"objective_spec": {}` is the command line's default objective — fc-tanh
// 784-200-200-10 on the first 5000 Fashion-MNIST images, not all 60000 —
// and analyze says so on the terminal and in summary.json.
BOOST_AUTO_TEST_CASE(an_empty_objective_spec_means_the_train_defaults_and_is_said) {
  const fs::path dir = scratch("theta-empty-spec");
  fs::create_directories(dir);
  eos::write_npy((dir / "theta_0.npy").string(), eos::Tensor(xt::zeros<double>({199210})));
  const nlohmann::json manifest = {{"format", "eoslab-trajectory/1"}, {"objective_spec", nlohmann::json::object()},
                                   {"lr", 0.1}, {"steps", {0}}, {"files", {"theta_0.npy"}}};
  std::ofstream(dir / "manifest.json") << manifest.dump(2);
  const Ran r = eoslab({"analyze", dir.string(), "--plugin", "loss"});
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  BOOST_TEST(mentions(r, "(5000 examples); 199210 parameters; standardize subset"), r.output);
  const auto s = read_json(dir / "analysis" / "summary.json");
  BOOST_TEST(s.at("rebuilt").at("spec").at("data").at("n").get<int>() == 5000);
  const MetricsTable t = eos::analysis::read_metrics_csv((dir / "analysis" / "metrics.csv").string());
  // θ = 0: uniform logits over 10 classes; a mean of 5000 rounded terms
  BOOST_TEST(std::abs(*t.at(0, "loss") - std::log(10.0)) < 1e-12);
}

BOOST_AUTO_TEST_SUITE_END()
