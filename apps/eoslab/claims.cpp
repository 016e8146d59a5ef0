#include "claims.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace eos::cli {

// ---- LoadedRun ------------------------------------------------------------

std::vector<std::pair<double, double>> LoadedRun::series(const std::string& column, double from, double to) const {
  std::vector<std::pair<double, double>> out;
  const auto steps = metrics.column("step"), v = metrics.column(column);
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (std::isfinite(v[i]) && steps[i] >= from && steps[i] <= to) out.emplace_back(steps[i], v[i]);
  return out;
}
std::vector<double> LoadedRun::values(const std::string& column, double from, double to) const {
  std::vector<double> out;
  for (const auto& [s, v] : series(column, from, to)) out.push_back(v);
  return out;
}
double LoadedRun::lr() const { return metrics.column("lr").at(0); }
bool LoadedRun::diverged() const { return summary.value("outcome", "") == "diverged"; }
std::size_t LoadedRun::steps() const { return summary.value("steps", std::size_t(0)); }
double LoadedRun::first_loss() const {
  const auto v = values("loss");
  return v.empty() ? NAN : v.front();
}
double LoadedRun::last_loss() const {
  const auto v = values("loss");
  return v.empty() ? NAN : v.back();
}
std::string LoadedRun::outcome() const { return summary.value("outcome_text", "?"); }
const nlohmann::json& LoadedRun::regime() const {
  static const nlohmann::json none;
  return summary.contains("regime") ? summary.at("regime") : none;
}
std::optional<double> LoadedRun::first_unstable_step() const {
  const auto& r = regime();
  if (r.is_null() || r.at("first_unstable_step").is_null()) return std::nullopt;
  return r.at("first_unstable_step").get<double>();
}
double LoadedRun::regime_fraction(const std::string& label) const {
  if (regime().is_null()) throw std::runtime_error(fmt::format("{}: the run has no regime plugin", spec.label));
  return regime().at("fractions").at(label).get<double>();
}
std::string LoadedRun::regime_text() const {
  if (regime().is_null()) return "—";
  const auto first = first_unstable_step();
  return fmt::format("{}; stable {:.0f} %, unstable {:.0f} %, diverging {:.0f} % of steps",
                     first ? fmt::format("unstable from step {}", *first) : std::string("never unstable"),
                     100 * regime_fraction("stable"), 100 * regime_fraction("unstable"),
                     100 * regime_fraction("diverging"));
}

// ---- shared statistics ----------------------------------------------------------

double median(std::vector<double> v) {
  if (v.empty()) throw std::runtime_error("no measured values in the window");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double max_of(const std::vector<double>& v) {
  if (v.empty()) throw std::runtime_error("no measured values");
  return *std::max_element(v.begin(), v.end());
}
std::optional<double> first_loss_increase(const LoadedRun& r) {
  const auto v = r.series("loss");
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i].second > v[i - 1].second) return v[i - 1].first;
  return std::nullopt;
}
double onset_or_throw(const LoadedRun& r) {
  if (auto s = first_loss_increase(r)) return *s;
  throw std::runtime_error(fmt::format("{}: the loss never increased (GD stayed stable)", r.spec.label));
}
std::string g4(double v) { return fmt::format("{:.4g}", v); }
std::string joined(const std::string& m) {
  const auto end = m.find_last_not_of("; ");
  return end == std::string::npos ? std::string() : m.substr(0, end + 1);
}

namespace {
// A threshold as the report prints it: "0.25", "−0.9", "1e-12".
std::string number_text(double v) {
  if (v == INFINITY) return "∞";
  if (v == -INFINITY) return "−∞";
  std::string s = fmt::format("{}", v);
  if (const auto e = s.find('e'); e != std::string::npos) {  // 1e-08 → 1e-8, 1e+10 → 1e10
    std::string exp = s.substr(e + 1);
    const bool negative = exp[0] == '-';
    if (exp[0] == '-' || exp[0] == '+') exp.erase(0, 1);
    exp.erase(0, std::min(exp.find_first_not_of('0'), exp.size() - 1));
    s = s.substr(0, e + 1) + (negative ? "-" : "") + exp;
  }
  return s[0] == '-' ? "−" + s.substr(1) : s;
}
std::string step_text(double s) { return fmt::format("{}", s); }
}  // namespace

// ---- claims ---------------------------------------------------------------------

std::string Claim::criterion() const {
  std::string s;
  for (const auto& c : checks) s += (s.empty() ? "" : "; and ") + c.criterion;
  return s;
}

Verdict Claim::evaluate(const RunSet& runs) const {
  Verdict v{true, ""};
  for (const auto& c : checks) {
    const Verdict part = c.evaluate(runs);
    v.holds = v.holds && part.holds;
    v.measured += (v.measured.empty() ? "" : "; ") + part.measured;
  }
  return v;
}

// ---- Range, Anchor, Window -----------------------------------------------------------

Range Range::within(double lo, double hi) { return {lo, hi, true, true}; }
Range Range::below(double x) { return {-INFINITY, x, true, false}; }
Range Range::at_most(double x) { return {-INFINITY, x, true, true}; }
Range Range::above(double x) { return {x, INFINITY, false, true}; }
Range Range::at_least(double x) { return {x, INFINITY, true, true}; }
bool Range::contains(double v) const {
  return (lo_closed ? v >= lo : v > lo) && (hi_closed ? v <= hi : v < hi);
}
std::string Range::text() const {
  if (lo == -INFINITY) return fmt::format("{} {}", hi_closed ? "≤" : "<", number_text(hi));
  if (hi == INFINITY) return fmt::format("{} {}", lo_closed ? "≥" : ">", number_text(lo));
  return fmt::format("in {}{}, {}{}", lo_closed ? "[" : "(", number_text(lo), number_text(hi), hi_closed ? "]" : ")");
}

double Anchor::resolve(const LoadedRun& r) const {
  switch (kind) {
    case Start: return -INFINITY;
    case Step: return offset;
    case Onset: return onset_or_throw(r) + offset;
    case Half: return double(r.steps()) / 2;
    case End: return INFINITY;
  }
  return INFINITY;
}

std::string Window::text() const {
  auto anchor = [](const Anchor& a) {
    switch (a.kind) {
      case Anchor::Start: return std::string("the start");
      case Anchor::Step: return "step " + step_text(a.offset);
      case Anchor::Onset:
        return a.offset == 0 ? std::string("the first loss increase")
                             : fmt::format("{} steps {} the first loss increase", std::abs(a.offset),
                                           a.offset > 0 ? "after" : "before");
      case Anchor::Half: return std::string("half the run");
      case Anchor::End: return std::string("the end");
    }
    return std::string("?");
  };
  if (from.kind == Anchor::Start && to.kind == Anchor::End) return "over the whole run";
  if (from.kind == Anchor::Half && to.kind == Anchor::End) return "over the second half of the run";
  if (from.kind == Anchor::Start && to.kind == Anchor::Onset && to.offset == -1) return "before the first loss increase";
  if (to.kind == Anchor::End) return "from " + anchor(from) + " on";
  return "from " + anchor(from) + " to " + anchor(to);
}

// ---- Quantity, Statistic --------------------------------------------------------------

std::vector<double> Quantity::values(const LoadedRun& r, double from, double to) const {
  std::vector<double> out;
  if (kind == Column) return r.values(a, from, to);
  if (kind == TimesEtaOver2) {
    for (double v : r.values(a, from, to)) out.push_back(v * r.lr() / 2.0);
    return out;
  }
  const auto steps = r.metrics.column("step"), x = r.metrics.column(a), y = r.metrics.column(b);
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (steps[i] >= from && steps[i] <= to && std::isfinite(x[i]) && std::isfinite(y[i]))
      out.push_back(kind == AbsDifference ? std::abs(x[i] - y[i]) : x[i] / y[i]);
  return out;
}

double Statistic::of(const std::vector<double>& v) const {
  if (v.empty()) throw std::runtime_error("no measured values in the window");
  switch (kind) {
    case Median: return cli::median(v);
    case Max: return max_of(v);
    case Min: return *std::min_element(v.begin(), v.end());
    case First: return v.front();
    case Last: return v.back();
    case LastOverFirst: return v.back() / v.front();
    case FractionIn:
      return double(std::count_if(v.begin(), v.end(), [&](double x) { return inner.contains(x); })) / double(v.size());
  }
  return NAN;
}

std::string Statistic::text(const std::string& q) const {
  switch (kind) {
    case Median: return "the median of " + q;
    case Max: return "the largest " + q;
    case Min: return "the smallest " + q;
    case First: return "the first " + q;
    case Last: return "the last " + q;
    case LastOverFirst: return "the last " + q + " over the first";
    case FractionIn: return fmt::format("the share of steps with {} {}", q, inner.text());
  }
  return "?";
}

// ---- the row and its generated criterion ------------------------------------------------

Check ColumnCheck::check() const {
  const ColumnCheck row = *this;
  const std::string what = statistic.text(quantity.name);
  // The first, the last and their ratio are of the whole run unless a window says otherwise.
  const bool ends = statistic.kind == Statistic::First || statistic.kind == Statistic::Last ||
                    statistic.kind == Statistic::LastOverFirst;
  const bool whole = window.from.kind == Anchor::Start && window.to.kind == Anchor::End;
  std::string criterion = ends && whole ? fmt::format("{} is {}", what, accepted.text())
                                        : fmt::format("{} {} is {}", what, window.text(), accepted.text());
  return each_run(row.runs, criterion, [row, what](const LoadedRun& r) {
    const double from = row.window.from.resolve(r), to = row.window.to.resolve(r);
    const auto values = row.quantity.values(r, from, to);
    const double x = row.statistic.of(values);
    const std::string span =
        std::isfinite(from) && from > 0 ? fmt::format(", steps ≥ {}", step_text(from)) : std::string();
    return Verdict{row.accepted.contains(x),
                   fmt::format("{} = {} ({} values{})", what,
                               row.statistic.kind == Statistic::FractionIn ? fmt::format("{:.1f} %", 100 * x) : g4(x),
                               values.size(), span)};
  });
}

Check each_run(std::vector<RunHandle> runs, std::string criterion, std::function<Verdict(const LoadedRun&)> judge) {
  if (runs.size() > 1) criterion = "for each run, " + criterion;
  return {std::move(criterion), [runs, judge](const RunSet& s) {
            Verdict all{true, ""};
            for (RunHandle h : runs) {
              const Verdict v = judge(s[h]);
              all.holds = all.holds && v.holds;
              all.measured += fmt::format("{}: {}; ", s[h].spec.label, v.measured);
            }
            all.measured = joined(all.measured);
            return all;
          }};
}

Check outcome_check(std::vector<RunHandle> runs, bool diverged) {
  const bool several = runs.size() > 1;
  Check c = each_run(std::move(runs), "", [diverged](const LoadedRun& r) {
    return Verdict{r.diverged() == diverged, r.outcome()};
  });
  c.criterion = diverged ? "the run ends as diverged" : "the run does not diverge";
  if (several) c.criterion = "each " + c.criterion.substr(4);  // "each run does not diverge"
  return c;
}

}  // namespace eos::cli
