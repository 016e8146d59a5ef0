// The run as a loop plus sinks: the loop tells every sink, in order, what it
// does (all sinks check before any begins; a row per step; the state between
// steps; the end or the interruption); the summary is built once and is what
// summary.json holds; an exception out of the loop leaves the rows so far and
// a summary that says "interrupted". And the options of every plugin are
// declared once: what the registry documents is what a plugin gets.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;
using namespace eos::analysis;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  return eos::test::scratch_dir("sinks/" + name);
}

// Writes what it is told into a shared log.
class Recorder : public RunSink {
 public:
  Recorder(std::string name, std::vector<std::string>& log) : name_(std::move(name)), log_(log) {}
  void check(RunStart& s) override { log_.push_back(name_ + " check " + std::to_string(s.columns.size())); }
  void begin(RunStart&) override { log_.push_back(name_ + " begin"); }
  void step(const StepRecord& r) override {
    log_.push_back(fmt::format("{} step {}{}", name_, r.step, r.last ? " last" : ""));
  }
  void between_steps(const RunSnapshot& s) override { log_.push_back(fmt::format("{} between {}", name_, s.step)); }
  void describe(nlohmann::json& j) const override { j["recorded_by_" + name_] = true; }
  void end(const RunResult& r) override { log_.push_back(name_ + " end " + to_string(r.outcome)); }
  void interrupted(const Interruption& i) override { log_.push_back(fmt::format("{} interrupted {}", name_, i.step)); }

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

struct Thrown : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sinks)

BOOST_AUTO_TEST_CASE(the_loop_tells_every_sink_in_order) {
  auto f = toys::quadratic();
  optim::GradientDescent gd(optim::Schedule::constant(0.01));
  TrainerOptions o;
  o.max_steps = 2;
  Trainer t(*f, gd, o);
  t.attach(PluginRegistry::global().create("loss"));
  std::vector<std::string> log;
  Recorder a("a", log), b("b", log);
  t.record_to(a).record_to(b);
  const RunResult r = t.run(Tensor{1.0, 1.0});
  const std::vector<std::string> expected = {
      "a check 3", "b check 3", "a begin",   "b begin",     "a step 0",   "b step 0",   "a between 1",
      "b between 1", "a step 1", "b step 1", "a between 2", "b between 2", "a step 2 last", "b step 2 last",
      "a end max_steps", "b end max_steps"};
  BOOST_TEST(log == expected, boost::test_tools::per_element());
  // The summary is built once, with what each sink adds to it.
  BOOST_TEST(r.summary.at("outcome") == "max_steps");
  BOOST_TEST(r.summary.at("steps") == 2);
  BOOST_TEST(r.summary.at("recorded_by_a") == true);
  BOOST_TEST(r.summary.at("recorded_by_b") == true);
}

BOOST_AUTO_TEST_CASE(summary_json_is_the_summary_built_in_memory_plus_the_callers_fields) {
  const fs::path dir = temp_dir("summary");
  auto f = toys::tanh_neuron();
  optim::GradientDescent gd(optim::Schedule::constant(2.0 / 150));
  TrainerOptions o;
  o.max_steps = 5;
  Trainer t(*f, gd, o);
  t.attach(PluginRegistry::global().create("loss"));
  t.attach(PluginRegistry::global().create("regime"));
  MetricsCsvSink csv((dir / "metrics.csv").string());
  SummarySink summary((dir / "summary.json").string(), {{"command", "a test"}});
  t.record_to(csv).record_to(summary);
  const RunResult r = t.run(Tensor{13.0, 0.01});
  std::ifstream in(dir / "summary.json");
  const auto file = nlohmann::json::parse(in);
  BOOST_TEST(file == summary.summary());
  nlohmann::json expected = r.summary;
  expected["command"] = "a test";
  BOOST_TEST(file == expected);
  BOOST_TEST(file.at("metrics_csv") == (dir / "metrics.csv").string());  // the CSV sink's own entry
  BOOST_TEST(file.contains("regime"));                                    // a plugin's summary
}

BOOST_AUTO_TEST_CASE(an_exception_out_of_the_loop_keeps_the_rows_and_says_interrupted) {
  const fs::path dir = temp_dir("interrupted");
  auto f = toys::tanh_neuron();
  optim::GradientDescent gd(optim::Schedule::constant(2.0 / 150));
  TrainerOptions o;
  o.max_steps = 20;
  Trainer t(*f, gd, o);
  t.attach(PluginRegistry::global().create("loss"));
  MetricsCsvSink csv((dir / "metrics.csv").string());
  StepObserver stop_at_7([](const StepRecord& r) {
    if (r.step == 7) throw Thrown("stopped by the test at step 7");
  });
  SummarySink summary((dir / "summary.json").string());
  CheckpointSink checkpoint((dir / "checkpoint.eos").string(), 1, 0.0);
  std::vector<std::string> log;
  Recorder rec("r", log);
  t.record_to(csv).record_to(stop_at_7).record_to(summary).record_to(rec).record_to(checkpoint);
  BOOST_CHECK_THROW(t.run(Tensor{13.0, 0.01}), Thrown);
  const MetricsTable rows = read_metrics_csv((dir / "metrics.csv").string());
  BOOST_TEST(rows.rows.size() == 8u);  // steps 0 … 7
  std::ifstream in(dir / "summary.json");
  const auto j = nlohmann::json::parse(in);
  BOOST_TEST(j.at("outcome") == "interrupted");
  BOOST_TEST(j.at("interrupted_at_step") == 7);
  BOOST_TEST(j.at("error") == "stopped by the test at step 7");
  BOOST_TEST(log.back() == "r interrupted 7");
  BOOST_TEST(fs::exists(dir / "checkpoint.eos"));  // the run can go on from step 7
  // ... and it does, to the end, where the checkpoint goes.
  auto f2 = toys::tanh_neuron();
  optim::GradientDescent gd2(optim::Schedule::constant(2.0 / 150));
  Trainer t2(*f2, gd2, o);
  t2.attach(PluginRegistry::global().create("loss"));
  MetricsCsvSink csv2((dir / "metrics.csv").string());
  SummarySink summary2((dir / "summary.json").string());
  CheckpointSink checkpoint2((dir / "checkpoint.eos").string(), 1, 0.0);
  t2.record_to(csv2).record_to(summary2).record_to(checkpoint2);
  const RunResult resumed = t2.resume((dir / "checkpoint.eos").string());
  BOOST_TEST(resumed.resumed_from.value_or(0) == 7u);
  BOOST_TEST(resumed.steps == 20u);
  BOOST_TEST(summary2.summary().at("outcome") == "max_steps");
  BOOST_TEST(!fs::exists(dir / "checkpoint.eos"));
}

BOOST_AUTO_TEST_CASE(a_resume_whose_rows_are_not_recorded_by_any_sink_is_refused) {
  const fs::path dir = temp_dir("no-csv");
  auto f = toys::quadratic();
  optim::GradientDescent gd(optim::Schedule::constant(0.01));
  TrainerOptions o;
  o.max_steps = 6;
  {
    Trainer t(*f, gd, o);
    CheckpointSink checkpoint((dir / "checkpoint.eos").string(), 1, 0.0);
    StepObserver stop([](const StepRecord& r) {
      if (r.step == 3) throw Thrown("stop");
    });
    t.record_to(stop).record_to(checkpoint);
    BOOST_CHECK_THROW(t.run(Tensor{1.0, 1.0}), Thrown);
  }
  optim::GradientDescent gd2(optim::Schedule::constant(0.01));
  Trainer t(*f, gd2, o);
  try {
    t.resume((dir / "checkpoint.eos").string());
    BOOST_ERROR("a resume without the rows before its checkpoint was accepted");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("no sink records one") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(the_probe_is_the_successor_only_for_the_plain_gradient_step) {
  optim::GradientDescent plain(optim::Schedule::constant(0.1)), decayed(optim::Schedule::constant(0.1), 0.01);
  optim::Momentum heavy_ball(optim::Schedule::constant(0.1), 0.9);
  optim::Adam adam(optim::Schedule::constant(0.1));
  BOOST_TEST(plain.is_plain_gradient_step());
  BOOST_TEST(!decayed.is_plain_gradient_step());
  BOOST_TEST(!heavy_ball.is_plain_gradient_step());
  BOOST_TEST(!adam.is_plain_gradient_step());
}

// Every plugin's options are declared once: the registry makes each plugin
// with its declared defaults (checked when it was added), documents exactly
// those defaults, and a default that depends on another option follows it.
BOOST_AUTO_TEST_CASE(plugin_options_are_declared_once) {
  auto& reg = PluginRegistry::global();
  for (const auto& name : reg.names()) {
    const PluginInfo& info = reg.info(name);
    BOOST_CHECK_NO_THROW(reg.create(name));
    const OptionValues defaults(name, info.options, {});
    for (const OptionDecl& d : info.options) {
      BOOST_TEST(!d.doc.empty(), name << ": option " << d.name << " has no meaning");
      const std::string sig = d.signature();
      BOOST_TEST(sig.rfind(d.name + "=", 0) == 0, sig);
      if (d.variants.empty()) {  // the documented default is the value the plugin gets
        BOOST_TEST(sig == d.name + "=" + d.default_text);
        const PluginOptions explicit_default = {{d.name, d.default_text}};
        const OptionValues given(name, info.options, explicit_default);
        if (d.kind == OptionDecl::Kind::Count) BOOST_TEST(given.count(d.name) == defaults.count(d.name), name);
        if (d.kind == OptionDecl::Kind::Number) BOOST_TEST(given.number(d.name) == defaults.number(d.name), name);
      }
    }
  }
  const PluginInfo& tau = reg.info("tau_profile");
  BOOST_TEST(OptionValues("tau_profile", tau.options, {}).count("m") == 100u);
  BOOST_TEST(OptionValues("tau_profile", tau.options, {{"grid", "gauss"}}).count("m") == 16u);
  BOOST_TEST(OptionValues("tau_profile", tau.options, {{"grid", "gauss"}, {"m", "7"}}).count("m") == 7u);
  BOOST_TEST(tau.options.at(1).signature() == "m=100 (grid=uniform) / 16 (grid=gauss)");
  BOOST_TEST(OptionValues("sharpness", reg.info("sharpness").options, {}).number("tol") == 1e-3);
  // A declaration whose default does not fit its own range is a programming error, found at add().
  PluginRegistry mine;
  PluginInfo bad{"bad", "a plugin with a broken declaration", {{"x", "x"}},
                 {OptionDecl::count("k", "0", 1, 10, "k")}, [](const OptionValues&) { return nullptr; }};
  BOOST_CHECK_THROW(mine.add(bad), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()
