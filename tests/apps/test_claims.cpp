// Presets as data: a claim row's criterion text is generated from the very
// numbers it checks, windows resolve to the steps they name, and every
// preset declares its runs, claims and source.
#include <boost/test/unit_test.hpp>

#include "eoslab/presets.hpp"

using namespace eos::cli;

namespace {

// A run of ten steps whose loss first rises at step 5 (f(θ₆) > f(θ₅)).
LoadedRun synthetic_run() {
  LoadedRun r;
  r.spec.label = "synthetic";
  r.metrics.columns = {"step", "lr", "loss", "rp", "L_dir"};
  const double loss[] = {10, 9, 8, 7, 6, 5, 5.5, 5.2, 5.4, 5.1};
  const double rp[] = {-1, -1, -1, -1, -0.9, -0.05, 0.02, -0.01, 0.1, 0.0};
  for (int t = 0; t < 10; ++t) r.metrics.rows.push_back({double(t), 0.2, loss[t], rp[t], 10.0 * (1 + rp[t])});
  r.summary = {{"outcome", "max_steps"}, {"outcome_text", "ran 10 steps"}, {"steps", 9}};
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(claims)

BOOST_AUTO_TEST_CASE(ranges_and_windows_say_what_they_check) {
  BOOST_TEST(Range::within(-0.25, 0.25).text() == "in [−0.25, 0.25]");
  BOOST_TEST(Range::below(0).text() == "< 0");
  BOOST_TEST(Range::at_most(1e-12).text() == "≤ 1e-12");
  BOOST_TEST(Range::at_least(0.2).text() == "≥ 0.2");
  BOOST_TEST(Range::at_most(1e-8).text() == "≤ 1e-8");
  BOOST_TEST(Range::above(0.5).text() == "> 0.5");
  BOOST_TEST(Range::below(0).contains(-1e-300));
  BOOST_TEST(!Range::below(0).contains(0.0));
  BOOST_TEST(Range::at_most(0).contains(0.0));
  BOOST_TEST(Window::from_onset().text() == "from the first loss increase on");
  BOOST_TEST(Window::before_onset().text() == "before the first loss increase");
  BOOST_TEST(Window::second_half().text() == "over the second half of the run");
  BOOST_TEST(Window::whole().text() == "over the whole run");
  BOOST_TEST(Window::from_onset(10).text() == "from 10 steps after the first loss increase on");
  const LoadedRun r = synthetic_run();
  BOOST_TEST(Anchor::onset().resolve(r) == 5.0);
  BOOST_TEST(Anchor::half().resolve(r) == 4.5);
}

BOOST_AUTO_TEST_CASE(a_column_row_checks_the_numbers_its_criterion_states) {
  RunSet set;
  set.runs.push_back(synthetic_run());
  const RunHandle h{0};
  const Quantity rp = Quantity::column("rp", "RP");
  // from the onset (step 5): RP = −0.05, 0.02, −0.01, 0.1, 0.0 → median 0.0
  const Check holds = ColumnCheck{{h}, rp, Window::from_onset(), Statistic::median(), Range::within(-0.25, 0.25)}.check();
  BOOST_TEST(holds.criterion == "the median of RP from the first loss increase on is in [−0.25, 0.25]");
  const Verdict v = holds.evaluate(set);
  BOOST_TEST(v.holds);
  BOOST_TEST(v.measured.find("synthetic: the median of RP = 0 (5 values, steps ≥ 5)") != std::string::npos, v.measured);
  // The same row with another range: another verdict and another sentence, from the same numbers.
  const Check fails = ColumnCheck{{h}, rp, Window::from_onset(), Statistic::median(), Range::below(-0.9)}.check();
  BOOST_TEST(fails.criterion == "the median of RP from the first loss increase on is < −0.9");
  BOOST_TEST(!fails.evaluate(set).holds);
  // before the onset: −1, −1, −1, −1, −0.9 → median −1
  const Check before = ColumnCheck{{h}, rp, Window::before_onset(), Statistic::median(), Range::below(-0.9)}.check();
  BOOST_TEST(before.evaluate(set).holds);
  // shares and scaled quantities: L·η/2 = (1 + RP) at η = 0.2
  const Check share = ColumnCheck{{h}, rp, Window::from_onset(), Statistic::fraction_in(Range::above(0)),
                                  Range::at_least(0.4)}.check();
  BOOST_TEST(share.criterion == "the share of steps with RP > 0 from the first loss increase on is ≥ 0.4");
  BOOST_TEST(share.evaluate(set).holds);  // 2 of 5
  const Check scaled = ColumnCheck{{h}, Quantity::times_eta_over_2("L_dir", "L·η/2"), Window::whole(),
                                   Statistic::max(), Range::at_most(1.1)}.check();
  BOOST_TEST(scaled.evaluate(set).holds);  // max (1 + 0.1)·10·0.2/2 = 1.1
  const Check ratio = ColumnCheck{{h}, Quantity::column("loss", "loss"), Window::whole(), Statistic::last_over_first(),
                                  Range::at_most(0.5)}.check();
  BOOST_TEST(!ratio.evaluate(set).holds);  // 5.1/10
  BOOST_TEST(ratio.criterion == "the last loss over the first is ≤ 0.5");
  // A claim holds when all its checks do, and says each measurement.
  const Claim claim{"RP sits near 0 after the onset", {holds, before}};
  BOOST_TEST(claim.criterion() == holds.criterion + "; and " + before.criterion);
  BOOST_TEST(claim.evaluate(set).holds);
  const Claim mixed{"…", {holds, fails}};
  BOOST_TEST(!mixed.evaluate(set).holds);
  // No onset: the row cannot be evaluated (reproduce reports why).
  RunSet stable;
  stable.runs.push_back(synthetic_run());
  for (auto& row : stable.runs[0].metrics.rows) row[2] = 10.0 - *row[0];
  BOOST_CHECK_THROW(holds.evaluate(stable), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(every_preset_declares_its_source_runs_and_claims) {
  for (const auto& entry : presets())
    for (bool quick : {true, false}) {
      const Preset p = entry.make(quick);
      BOOST_TEST(p.name == entry.name);
      BOOST_TEST(!p.source.work.empty(), p.name);
      BOOST_TEST(!p.source.where.empty(), p.name);
      BOOST_TEST(!p.runs.empty(), p.name);
      BOOST_TEST(!p.claims.empty(), p.name);
      for (const Claim& c : p.claims) {
        BOOST_TEST(!c.checks.empty(), p.name << ": " << c.text);
        for (const Check& k : c.checks) BOOST_TEST(!k.criterion.empty(), p.name << ": " << c.text);
      }
      for (std::size_t i = 0; i < p.runs.size(); ++i)
        for (std::size_t j = i + 1; j < p.runs.size(); ++j) BOOST_TEST(p.runs[i].name != p.runs[j].name, p.name);
    }
  for (const auto& entry : presets()) {
    const Preset p = entry.make(true);
    const bool cohen = p.source.work.find("Central Flows") != std::string::npos;
    BOOST_TEST(cohen == (p.name == "central_flow"), p.name << ": " << p.source.text());
  }
}

// The cnn preset's period-2 check: from the onset on, consecutive steps give
// the flatter and the sharper side, and the flatter one must sit at 2/η.
BOOST_AUTO_TEST_CASE(the_cnn_preset_reads_both_sides_of_a_period_two_orbit) {
  const Claim* orbit = nullptr;
  Preset cnn;
  for (const auto& e : presets())
    if (e.name == "cnn") cnn = e.make(true);
  for (const Claim& c : cnn.claims)
    if (c.text.find("period 2") != std::string::npos) orbit = &c;
  BOOST_REQUIRE(orbit != nullptr);
  // λ alternates 10.5, 17.8 after the onset (step 5) at η = 0.2: ×η/2 = 1.05 and 1.78
  const auto with_lambda = [](double flat, double sharp, int every) {
    LoadedRun r = synthetic_run();
    r.metrics.columns.push_back("lambda_max");
    for (auto& row : r.metrics.rows) {
      const int t = int(*row[0]);
      row.push_back(t % every ? std::optional<double>{} : std::optional<double>{t % 2 ? sharp : flat});
    }
    RunSet set;
    for (int i = 0; i < 3; ++i) set.runs.push_back(r);  // cnn-relu, cnn-tanh, cnn-bn-relu
    return set;
  };
  const Verdict v = orbit->evaluate(with_lambda(10.5, 17.8, 1));
  BOOST_TEST(v.holds);
  BOOST_TEST(v.measured.find("synthetic: flatter side 1.05, sharper side 1.78 (medians over 4 pairs)") !=
                 std::string::npos,
             v.measured);
  BOOST_TEST(!orbit->evaluate(with_lambda(17.8, 17.8, 1)).holds);  // both sides sharp
  const Verdict sparse = orbit->evaluate(with_lambda(10.5, 17.8, 2));  // one side seen only
  BOOST_TEST(!sparse.holds);
  BOOST_TEST(sparse.measured.find("not measured at consecutive steps") != std::string::npos, sparse.measured);
}

BOOST_AUTO_TEST_SUITE_END()
