// Never losing a run (docs/RELIABILITY.md, issue 19), end to end: a run owns
// its folder; a rejected command leaves every file as it was; --resume and
// analyze check what they read (data, θ₀, θ files) and refuse, naming what
// changed; no input hangs or reaches a user as a bad_alloc; messages quote
// input cut and escaped. Every file a test reads is made by the test.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include <fmt/format.h>

#include <eoslab.hpp>

#include "cli_support.hpp"
#include "core/text.hpp"

namespace {

// A run of ~600 steps that is stopped part-way by the tests: θ every 10
// steps, a checkpoint every 5.
std::vector<std::string> long_run(const fs::path& out, std::vector<std::string> data = {"--data", "gaussian:8,3",
                                                                                         "--n", "2000"}) {
  std::vector<std::string> a = {"train"};
  a.insert(a.end(), data.begin(), data.end());
  a.insert(a.end(), {"--widths", "64,64", "--lr", "0.1", "--steps", "600", "--plugin", "loss", "--plugin", "rp",
                     "--save-every", "10", "--checkpoint-every", "5", "--quiet", "--out", out.string()});
  return a;
}

// A finished run of 40 steps with θ every 10 (5 files).
fs::path short_run(const std::string& name, std::vector<std::string> extra = {}) {
  const fs::path out = scratch(name);
  std::vector<std::string> a = {"train", "--data", "gaussian:8,3", "--n", "200", "--widths", "16", "--lr", "0.5",
                                "--steps", "40", "--plugin", "loss", "--save-every", "10", "--quiet",
                                "--out", out.string()};
  a.insert(a.end(), extra.begin(), extra.end());
  const Ran r = eoslab(a);
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  return out;
}

// A run killed (SIGKILL) after its θ of step 30 and a checkpoint exist.
void killed_run(const std::vector<std::string>& args, const fs::path& out) {
  const pid_t pid = spawn(args);
  BOOST_TEST_REQUIRE(wait_for_file(out / "trajectory" / "theta_00000030.npy", pid));
  BOOST_TEST_REQUIRE(wait_for_file(out / "checkpoint.eos", pid));
  ::kill(pid, SIGKILL);
  BOOST_TEST_REQUIRE(wait_exit(pid) == 128 + SIGKILL);
}

// N labelled rows (label first, 4 features) of a seeded Gaussian mixture.
void write_csv(const fs::path& path, int rows) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> z;
  std::ofstream out(path);
  for (int i = 0; i < rows; ++i) {
    out << i % 3;
    for (int j = 0; j < 4; ++j) out << fmt::format(",{:.6f}", z(rng) + (i % 3 == j ? 2.0 : 0.0));
    out << "\n";
  }
}

void write_json(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(2) << "\n"; }

std::string shown(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += a + " ";
  return s;
}

}  // namespace

// #1, #14: a command rejected while it is set up (two columns of one name,
// central_flow with minibatches or another optimizer, sgd_rp at full batch)
// is exit 2 and leaves a killed, resumable run's folder as it was — even
// with --force; the run still resumes.
BOOST_AUTO_TEST_CASE(a_rejected_command_leaves_the_folder_as_it_was) {
  const fs::path k = scratch("rejected");
  killed_run(long_run(k), k);
  const auto before = snapshot(k);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--plugin", "loss", "--plugin", "loss"}, "column 'loss' is already taken"},
      {{"--batch-size", "50", "--plugin", "central_flow"}, "the run uses minibatches of 50"},
      {{"--optimizer", "adam", "--plugin", "central_flow"}, "the central flow is that of plain GD"},
      {{"--optimizer", "momentum", "--plugin", "central_flow"}, "not Momentum("},
      {{"--plugin", "sgd_rp"}, "the run is full-batch GD, so there is no minibatch size"},
  };
  for (const auto& [extra, message] : cases) {
    for (const bool force : {false, true}) {
      std::vector<std::string> a = {"train", "--data", "gaussian:8,3", "--n", "200", "--out", k.string(), "--quiet"};
      a.insert(a.end(), extra.begin(), extra.end());
      if (force) a.push_back("--force");
      const Ran r = eoslab(a);
      BOOST_TEST(r.code == 2, shown(a) << "→ " << r.output);
      BOOST_TEST(mentions(r, message), shown(a) << "→ " << r.output);
      BOOST_TEST((snapshot(k) == before), shown(a) << "changed the folder");
    }
  }
  const Ran resumed = eoslab({"train", "--resume", k.string(), "--quiet"});
  BOOST_TEST_REQUIRE(resumed.code == 0, resumed.output);
  BOOST_TEST(read_json(k / "summary.json").at("outcome").get<std::string>() == "max_steps");
}

// #2, #3: a new run into a folder that holds another run (and its analysis)
// is refused; --force removes the files eoslab wrote there — the run's and
// its analysis' — and keeps every other file, in the folder and in the
// trajectory/ and analysis/ folders. A folder eoslab did not write is written
// into only where none of its files is in the way.
BOOST_AUTO_TEST_CASE(a_run_owns_its_folder_and_force_removes_only_what_eoslab_wrote) {
  const fs::path a = short_run("owned");
  BOOST_TEST_REQUIRE(eoslab({"analyze", a.string(), "--plugin", "sharpness", "--quiet"}).code == 0);
  BOOST_TEST_REQUIRE(fs::exists(a / "analysis" / "metrics.csv"));
  std::ofstream(a / "notes.txt") << "mine\n";
  std::ofstream(a / "trajectory" / "mine.txt") << "mine\n";
  std::ofstream(a / "analysis" / "figure.png") << "mine\n";
  // An analysis of the run's own trajectory replaces the earlier one.
  BOOST_TEST_REQUIRE(eoslab({"analyze", a.string(), "--plugin", "rp", "--quiet"}).code == 0);
  BOOST_TEST(read_json(a / "analysis" / "summary.json").at("plugins") == nlohmann::json::array({"rp"}));
  BOOST_TEST(read_text(a / "analysis" / "figure.png") == "mine\n");
  const auto before = snapshot(a);

  const std::vector<std::string> other = {"train", "--data", "gaussian:8,3", "--n", "200", "--widths", "16", "--lr",
                                          "0.05", "--steps", "7", "--save-every", "7", "--quiet", "--out", a.string()};
  const Ran refused = eoslab(other);
  BOOST_TEST(refused.code == 2, refused.output);
  BOOST_TEST(mentions(refused, "holds the run `eoslab train --data gaussian:8,3 --n 200 --widths 16 --lr 0.5"),
             refused.output);
  BOOST_TEST(mentions(refused, "--force (removes the files eoslab wrote there and nothing else)"), refused.output);
  BOOST_TEST((snapshot(a) == before));
  // An analysis of another trajectory into this analysis/ is refused too;
  // with --force it replaces it (the run's files are untouched).
  const fs::path b = short_run("owned-other", {"--seed", "3"});
  const std::vector<std::string> elsewhere = {"analyze", b.string(), "--plugin", "rp", "--quiet",
                                              "--out", (a / "analysis").string()};
  const Ran again = eoslab(elsewhere);
  BOOST_TEST(again.code == 2, again.output);
  BOOST_TEST(mentions(again, "holds the analysis `eoslab analyze " + a.string() + "`"), again.output);
  BOOST_TEST(!mentions(again, "--resume"), again.output);
  BOOST_TEST((snapshot(a) == before));
  auto forced_analysis = elsewhere;
  forced_analysis.push_back("--force");
  BOOST_TEST_REQUIRE(eoslab(forced_analysis).code == 0);
  BOOST_TEST(read_text(a / "analysis" / "figure.png") == "mine\n");
  BOOST_TEST(read_json(a / "analysis" / "summary.json").at("trajectory").get<std::string>() == (b / "trajectory").string());
  BOOST_TEST(eoslab({"analyze", a.string(), "--plugin", "rp", "--quiet", "--force", "--out", a.string()}).code == 2);

  auto forced = other;
  forced.push_back("--force");
  const Ran replaced = eoslab(forced);
  BOOST_TEST_REQUIRE(replaced.code == 0, replaced.output);
  BOOST_TEST(read_text(a / "notes.txt") == "mine\n");
  BOOST_TEST(read_text(a / "trajectory" / "mine.txt") == "mine\n");
  BOOST_TEST(read_text(a / "analysis" / "figure.png") == "mine\n");
  BOOST_TEST(!fs::exists(a / "analysis" / "metrics.csv"));  // the old run's analysis went with it
  BOOST_TEST(!fs::exists(a / "analysis" / "summary.json"));
  BOOST_TEST(read_json(a / "summary.json").at("config").at("optimizer").at("lr").get<double>() == 0.05);
  std::vector<std::string> thetas;
  for (const auto& f : fs::directory_iterator(a / "trajectory"))
    if (f.path().extension() == ".npy") thetas.push_back(f.path().filename().string());
  std::sort(thetas.begin(), thetas.end());
  BOOST_TEST(thetas == (std::vector<std::string>{"theta_00000000.npy", "theta_00000007.npy"}),
             boost::test_tools::per_element());

  // A folder without eoslab's list: its files are someone else's.
  const fs::path f = scratch("foreign");
  fs::create_directories(f / "trajectory");
  eos::write_npy((f / "trajectory" / "theta_00000000.npy").string(), eos::Tensor{1.0, 2.0});
  std::ofstream(f / "trajectory" / "keep.txt") << "mine\n";
  const auto foreign = snapshot(f);
  auto into = [&](bool force) {
    std::vector<std::string> x = {"train", "--toy", "quadratic", "--steps", "3", "--save-every", "1", "--quiet",
                                  "--out", f.string()};
    if (force) x.push_back("--force");
    return eoslab(x);
  };
  for (const bool force : {false, true}) {
    const Ran r = into(force);
    BOOST_TEST(r.code == 2, r.output);
    BOOST_TEST(mentions(r, "already holds trajectory/theta_00000000.npy, which eoslab did not write there"), r.output);
    BOOST_TEST((snapshot(f) == foreign));
  }
  fs::remove(f / "trajectory" / "theta_00000000.npy");
  const Ran beside = into(false);
  BOOST_TEST_REQUIRE(beside.code == 0, beside.output);
  BOOST_TEST(read_text(f / "trajectory" / "keep.txt") == "mine\n");
}

// #4, #12: while a run writes into a folder, every other command into it is
// refused, naming the run's PID and start time; the run's rows are its own.
// SIGTERM stops it with outcome interrupted and exit 143.
BOOST_AUTO_TEST_CASE(a_second_command_into_a_busy_folder_is_refused) {
  const fs::path b = scratch("busy");
  auto args = long_run(b);
  *std::find(args.begin(), args.end(), "5") = "off";  // --checkpoint-every off: the run only locks and writes rows
  const pid_t pid = spawn(args);
  BOOST_TEST_REQUIRE(wait_for_file(b / "trajectory" / "theta_00000010.npy", pid));
  const std::string holder = fmt::format("in use by another eoslab process (pid {}, started 20", pid);
  const std::vector<std::vector<std::string>> others = {
      {"train", "--toy", "quadratic", "--steps", "3", "--quiet", "--out", b.string()},
      {"train", "--toy", "quadratic", "--steps", "3", "--quiet", "--out", b.string(), "--force"},
      {"train", "--resume", b.string()},
  };
  for (const auto& o : others) {
    const Ran r = eoslab(o);
    BOOST_TEST(r.code == 2, shown(o) << "→ " << r.output);
    BOOST_TEST(mentions(r, holder), shown(o) << "→ " << r.output);
  }
  ::kill(pid, SIGTERM);
  BOOST_TEST_REQUIRE(wait_exit(pid) == 128 + SIGTERM);
  const std::string csv = read_text(b / "metrics.csv");
  BOOST_TEST(csv.find('\0') == std::string::npos);
  const auto t = eos::analysis::read_metrics_csv((b / "metrics.csv").string());
  for (std::size_t i = 0; i < t.rows.size(); ++i) BOOST_TEST(*t.at(i, "step") == double(i));
  const auto s = read_json(b / "summary.json");
  BOOST_TEST(s.at("outcome").get<std::string>() == "interrupted");
  BOOST_TEST(s.at("resume_command").get<std::string>() == "eoslab train --resume " + b.string());
}

// #5: an analysis never writes into the run's own folder.
BOOST_AUTO_TEST_CASE(analyze_does_not_write_over_the_run) {
  const fs::path a = short_run("analyze-own");
  const auto before = snapshot(a);
  for (const fs::path out : {a, a / "trajectory", a / "." / "trajectory" / ".."}) {
    const Ran r = eoslab({"analyze", a.string(), "--plugin", "sharpness", "--out", out.string()});
    BOOST_TEST(r.code == 2, out << " → " << r.output);
    BOOST_TEST(mentions(r, "that is the run's own folder"), r.output);
    BOOST_TEST((snapshot(a) == before));
  }
}

// #6, #7: --resume checks each θ file written before the checkpoint, the
// data and the --init-params file against the checkpoint's fingerprints, and
// refuses (exit 2, naming what changed) before writing anything.
BOOST_AUTO_TEST_CASE(a_resume_checks_what_it_resumes) {
  const fs::path data = scratch("resume-data.csv");
  write_csv(data, 3000);
  const fs::path theta0 = scratch("resume-theta0.npy");
  {  // θ₀ of the 4-64-64-3 network: small random numbers
    std::mt19937_64 rng(3);
    std::normal_distribution<double> z(0.0, 0.1);
    eos::Tensor t = eos::Tensor::from_shape({4 * 64 + 64 + 64 * 64 + 64 + 64 * 3 + 3});
    for (double& x : t) x = z(rng);
    eos::write_npy(theta0.string(), t);
  }
  const fs::path base = scratch("resume-base");
  killed_run(long_run(base, {"--data", "csv:" + data.string(), "--n", "all", "--init-params", theta0.string()}), base);

  struct Fault {
    std::string name;
    std::function<void(const fs::path&)> make;
    std::string message;
  };
  const std::string data_text = read_text(data), theta0_bytes = read_text(theta0);
  const std::vector<Fault> faults = {
      {"a θ file deleted", [](const fs::path& d) { fs::remove(d / "trajectory" / "theta_00000010.npy"); },
       "trajectory/theta_00000010.npy: the run wrote this θ file before its checkpoint, and it is gone"},
      {"the trajectory deleted", [](const fs::path& d) { fs::remove_all(d / "trajectory"); },
       "trajectory/manifest.json is gone, but the run had written"},
      {"a θ file replaced by another",
       [](const fs::path& d) { fs::copy_file(d / "trajectory" / "theta_00000000.npy", d / "trajectory" / "theta_00000020.npy",
                                             fs::copy_options::overwrite_existing); },
       "trajectory/theta_00000020.npy: changed since the run wrote it"},
      {"a data row edited",
       [&](const fs::path&) {
         std::string edited = data_text;
         edited[edited.find('\n') + 3] = edited[edited.find('\n') + 3] == '9' ? '8' : '9';
         std::ofstream(data) << edited;
       },
       "the data changed since the checkpoint"},
      {"θ₀ edited",
       [&](const fs::path&) {
         eos::Tensor t = eos::read_npy(theta0.string());
         t(7) += 1e-3;
         eos::write_npy(theta0.string(), t);
       },
       "the checkpoint's run has init_params '" + theta0.string()},
  };
  for (const Fault& fault : faults) {
    const fs::path d = scratch("resume-fault");
    fs::copy(base, d, fs::copy_options::recursive);
    std::ofstream(data) << data_text;
    std::ofstream(theta0, std::ios::binary) << theta0_bytes;
    fault.make(d);
    const auto before = snapshot(d);
    const Ran r = eoslab({"train", "--resume", d.string(), "--quiet"});
    BOOST_TEST(r.code == 2, fault.name << " → " << r.output);
    BOOST_TEST(mentions(r, fault.message), fault.name << " → " << r.output);
    BOOST_TEST((snapshot(d) == before), fault.name << ": the refused resume changed the folder");
  }
  // Undone, the same folder resumes.
  std::ofstream(data) << data_text;
  std::ofstream(theta0, std::ios::binary) << theta0_bytes;
  const Ran ok = eoslab({"train", "--resume", base.string(), "--quiet"});
  BOOST_TEST(ok.code == 0, ok.output);
}

// #8, #9, #11, #14: analyze verifies a trajectory before it writes: a θ file
// that is non-finite, listed twice, swapped, missing or not a regular file
// (a FIFO: no hang), and a manifest whose objective no longer matches its
// fingerprint, are exit 2 naming the file and step; no --out is created.
BOOST_AUTO_TEST_CASE(analyze_refuses_a_trajectory_that_lies) {
  const fs::path base = short_run("lies");
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  // θ of step 20 with entry 5 set to `value`; `unhashed`: in a trajectory
  // whose manifest records no sizes and hashes (written by other code).
  auto poke = [](double value, bool unhashed) {
    return [value, unhashed](const fs::path& d) {
      const std::string f = (d / "trajectory" / "theta_00000020.npy").string();
      eos::Tensor t = eos::read_npy(f);
      t(5) = value;
      eos::write_npy(f, t);
      if (!unhashed) return;
      nlohmann::json m = read_json(d / "trajectory" / "manifest.json");
      m.erase("sizes");
      m.erase("hashes");
      write_json(d / "trajectory" / "manifest.json", m);
    };
  };
  auto edit_manifest = [](std::function<void(nlohmann::json&)> change) {
    return [change](const fs::path& d) {
      nlohmann::json m = read_json(d / "trajectory" / "manifest.json");
      change(m);
      write_json(d / "trajectory" / "manifest.json", m);
    };
  };
  struct Fault {
    std::string name;
    std::function<void(const fs::path&)> make;
    std::vector<std::string> messages;
  };
  const std::vector<Fault> faults = {
      {"NaN in θ", poke(nan, true), {"theta_00000020.npy: θ of step 20 has a non-finite entry (nan at index 5)"}},
      {"+inf in θ", poke(inf, true), {"theta_00000020.npy: θ of step 20 has a non-finite entry (inf at index 5)"}},
      {"-inf in θ", poke(-inf, true), {"theta_00000020.npy: θ of step 20 has a non-finite entry (-inf at index 5)"}},
      {"NaN in a hashed θ", poke(nan, false), {"theta_00000020.npy: θ of step 20 is not the file the run wrote"}},
      {"a plausible number in θ", poke(0.25, false), {"theta_00000020.npy: θ of step 20 is not the file the run wrote"}},
      {"a file listed twice", edit_manifest([](nlohmann::json& m) { m["files"][2] = m["files"][1]; }),
       {"files[1] and files[2] are both 'theta_00000010.npy'"}},
      {"two files swapped",
       [](const fs::path& d) {
         const fs::path t = d / "trajectory";
         fs::rename(t / "theta_00000010.npy", t / "x");
         fs::rename(t / "theta_00000020.npy", t / "theta_00000010.npy");
         fs::rename(t / "x", t / "theta_00000020.npy");
       },
       {"theta_00000010.npy: θ of step 10 is not the file the run wrote"}},
      {"a file deleted", [](const fs::path& d) { fs::remove(d / "trajectory" / "theta_00000030.npy"); },
       {"theta_00000030.npy: θ of step 30 is missing"}},
      {"a FIFO for a file",
       [](const fs::path& d) {
         const fs::path p = d / "trajectory" / "theta_00000020.npy";
         fs::remove(p);
         BOOST_TEST_REQUIRE(::mkfifo(p.c_str(), 0600) == 0);
       },
       {"theta_00000020.npy: θ of step 20 is not a regular file"}},
      {"a model too big for the machine",
       edit_manifest([](nlohmann::json& m) { m["objective_spec"]["hidden"] = {100000, 100000}; }),
       {"manifest.json: its objective_spec: the run needs about"}},
      {"n edited in objective_spec",
       edit_manifest([](nlohmann::json& m) { m["objective_spec"]["data"]["n"] = 300; }),
       {"manifest.json", "the data files changed since, or the spec was edited"}},
  };
  for (const Fault& fault : faults) {
    const fs::path d = scratch("lies-fault");
    fs::copy(base, d, fs::copy_options::recursive);
    fault.make(d);
    const auto before = snapshot(d);
    for (const std::string plugin : {"sharpness", "rp"}) {
      const Ran r = eoslab({"analyze", d.string(), "--plugin", plugin, "--quiet"}, "timeout 60");
      BOOST_TEST(r.code == 2, fault.name << " → exit " << r.code << ": " << r.output);
      for (const auto& m : fault.messages) BOOST_TEST(mentions(r, m), fault.name << " → " << r.output << " lacks " << m);
      BOOST_TEST(!fs::exists(d / "analysis"), fault.name);
      BOOST_TEST((snapshot(d) == before), fault.name);
    }
  }
  // The intact trajectory is analysed, and its summary says what was rebuilt.
  const Ran ok = eoslab({"analyze", base.string(), "--plugin", "sharpness", "--quiet"});
  BOOST_TEST_REQUIRE(ok.code == 0, ok.output);
  const auto rebuilt = read_json(base / "analysis" / "summary.json").at("rebuilt");
  BOOST_TEST(rebuilt.at("parameters").get<int>() == 8 * 16 + 16 + 16 * 3 + 3);
  BOOST_TEST(rebuilt.at("spec").at("data").at("n").get<int>() == 200);
  BOOST_TEST(rebuilt.at("data_fingerprint").get<std::string>() ==
             read_json(base / "trajectory" / "manifest.json").at("data_fingerprint").get<std::string>());
}

// #8: θ₀ from --init-params must be finite: exit 2 naming the file and entry.
BOOST_AUTO_TEST_CASE(init_params_must_be_finite) {
  const fs::path t = scratch("init-nonfinite.npy");
  for (const double bad : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    eos::Tensor theta = eos::Tensor::from_shape({23});
    theta.fill(0.1);
    theta(11) = bad;
    eos::write_npy(t.string(), theta);
    const fs::path out = scratch("init-nonfinite");
    const Ran r = eoslab({"train", "--data", "gaussian:4,2", "--n", "20", "--widths", "3", "--init-params", t.string(),
                          "--quiet", "--out", out.string()});
    BOOST_TEST(r.code == 2, r.output);
    BOOST_TEST(mentions(r, "--init-params " + t.string() + ": entry 11 is"), r.output);
    BOOST_TEST(!fs::exists(out));
  }
}

// #13: the memory a run needs is estimated from its flags before anything is
// built: too much is exit 2 at once, naming the estimate and the flags.
BOOST_AUTO_TEST_CASE(a_run_too_big_for_the_machine_is_refused_before_it_allocates) {
  const std::vector<std::vector<std::string>> huge = {
      {"--widths", "100000,100000", "--data", "gaussian:8,3"},
      {"--data", "gaussian:100000000,2"},
  };
  for (const auto& extra : huge) {
    const fs::path out = scratch("huge");
    std::vector<std::string> a = {"train", "--quiet", "--out", out.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    const auto t0 = std::chrono::steady_clock::now();
    const Ran r = eoslab(a, "timeout 60");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    BOOST_TEST(r.code == 2, shown(a) << "→ " << r.output);
    BOOST_TEST(mentions(r, "the run needs about"), r.output);
    BOOST_TEST(mentions(r, "GB of memory, more than the"), r.output);
    BOOST_TEST(mentions(r, extra[0] == "--widths" ? "--widths" : "--data"), r.output);
    BOOST_TEST(!mentions(r, "bad_alloc"), r.output);
    BOOST_TEST(seconds < 10.0, "refused after " << seconds << " s: it allocated first");
    BOOST_TEST(!fs::exists(out));
  }
}

// #14: messages quote at most ~80 characters of input, escaped (control
// bytes, NUL, invalid UTF-8), naming file, line and field; a one-column CSV
// says what a labelled CSV needs; an --out that is not UTF-8 is refused.
BOOST_AUTO_TEST_CASE(messages_quote_input_cut_and_escaped) {
  const fs::path dir = scratch("messages");
  fs::create_directories(dir);
  auto train_on = [&](const fs::path& csv) {
    return eoslab({"train", "--data", "csv:" + csv.string(), "--n", "all", "--quiet", "--out", (dir / "out").string()},
                  "timeout 60");
  };
  auto clean = [](const Ran& r) {  // printable UTF-8 and newlines only
    for (unsigned char c : r.output)
      if (c < 0x20 && c != '\n') return false;
    return eos::valid_utf8(r.output);
  };
  const fs::path nul = dir / "nul.csv";
  std::ofstream(nul, std::ios::binary) << std::string("0,1,2\n1,2\0003\n", 12);
  Ran r = train_on(nul);
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(mentions(r, "nul.csv:2: field 2 '2\\x003' is not a number"), r.output);

  const fs::path wide = dir / "wide.csv";
  std::ofstream(wide) << "0,1\n1," << std::string(10'000'000, '7') << "x\n";
  r = train_on(wide);
  BOOST_TEST(r.code == 2, r.output.substr(0, 300));
  BOOST_TEST(r.output.size() < 1000u, "a 10 MB field echoed: " << r.output.size() << " bytes");
  BOOST_TEST(mentions(r, "wide.csv:2: field 2 '7777"), r.output);
  BOOST_TEST(mentions(r, "(+"), r.output);

  const fs::path binary = dir / "binary.csv";
  {
    std::ofstream out(binary, std::ios::binary);
    out << "0,1\n";
    for (int i = 0; i < 4000; ++i) out << char((i * 37 + 11) % 256 == '\n' ? 1 : (i * 37 + 11) % 256);
  }
  r = train_on(binary);
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(clean(r), "raw bytes in the message: " << r.output);
  BOOST_TEST(r.output.size() < 1000u);

  const fs::path one = dir / "one.csv";
  std::ofstream(one) << "0\n1\n2\n";
  r = train_on(one);
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(mentions(r, "1 column per line; a labelled CSV needs the label and at least one feature"), r.output);

  const std::string not_utf8 = (dir / "bad\xff").string();
  r = eoslab({"train", "--toy", "quadratic", "--quiet", "--out", not_utf8});
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(mentions(r, "bad\\xff', after '--out' is not valid UTF-8"), r.output);
  BOOST_TEST(clean(r), r.output);
  BOOST_TEST(!fs::exists(not_utf8));
}
