#include "plugin.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <xtensor/xnoalias.hpp>

namespace eos::analysis {

double directional_smoothness(const Tensor& v, const Tensor& g, const Tensor& g_shifted) {
  if (v.size() != g.size() || g.size() != g_shifted.size())
    throw ShapeError(fmt::format("directional_smoothness: sizes {}, {}, {} differ", v.size(), g.size(), g_shifted.size()));
  const double *vs = v.data(), *gs = g.data(), *hs = g_shifted.data();
  double s = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) s += vs[i] * (gs[i] - hs[i]);
  const double vv = inner(v, v);
  if (std::isfinite(s) && square_in_range(vv)) return s / vv;
  // A square or product past float64's range (‖v‖ beyond ~1e154 or below
  // ~1e-135): ⟨v/‖v‖, ∇f(θ) − ∇f(θ − v)⟩ / ‖v‖.
  const double nv = eos::norm(v);
  if (!(nv > 0) || !std::isfinite(nv)) return s / vv;
  double t = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) t += vs[i] / nv * (gs[i] - hs[i]);
  return t / nv;
}

// ---- StepContext -----------------------------------------------------------

std::uint64_t StepContext::seed_for(const std::string& plugin) const {
  std::uint64_t h = seed_ ^ 0x9e3779b97f4a7c15ULL;
  for (char c : plugin) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h ^ (data_.step * 0xbf58476d1ce4e5b9ULL);
}

void StepContext::linearize(StepData& d) {
  d.hessian = objective_.hessian_at(d.theta);
  if (!d.full) {
    d.full.value = d.hessian->value();
    copy_into(d.full.grad, d.hessian->grad());
    d.full.known = true;
  }
}
void StepContext::evaluate(StepData& d) {
  if (d.full) return;
  if (d.wants_hessian) {
    linearize(d);
    return;
  }
  d.full.value = objective_.value_and_grad(d.theta, d.full.grad);
  d.full.known = true;
}
double StepContext::loss() {
  evaluate(data_);
  return data_.full.value;
}
const Tensor& StepContext::grad() {
  evaluate(data_);
  return data_.full.grad;
}
double StepContext::grad_norm_sq() {
  const Tensor& g = grad();
  return inner(g, g);
}
double StepContext::grad_norm() { return eos::norm(grad()); }
HessianOperator& StepContext::hessian() {
  if (!data_.hessian) linearize(data_);
  return *data_.hessian;
}

namespace {
StepData& successor_of(StepData& d) {
  if (!d.successor)
    throw std::logic_error(fmt::format("step {}: θ_(t+1) is not known here (offline, the next recorded step must be "
                                       "t + 1; check has_next())",
                                       d.step));
  return *d.successor;
}
}  // namespace

const Tensor& StepContext::next_theta() { return successor_of(data_).theta; }
double StepContext::next_loss() {
  StepData& s = successor_of(data_);
  evaluate(s);
  return s.full.value;
}
const Tensor& StepContext::next_grad() {
  next_loss();
  return data_.successor->full.grad;
}

const Evaluation& StepContext::probe() {
  if (data_.successor_is_probe) {  // θ_{t+1} is the probe point, bit for bit
    evaluate(successor_of(data_));
    return data_.successor->full;
  }
  if (!data_.probe) {
    // Computed exactly as GradientDescent::update does, so that online and
    // offline probes agree to the last bit.
    copy_into(data_.probe_point, data_.theta);
    xt::noalias(data_.probe_point) -= data_.lr * grad();
    data_.probe.value = objective_.value_and_grad(data_.probe_point, data_.probe.grad);
    data_.probe.known = true;
  }
  return data_.probe;
}
const Tensor& StepContext::probe_point() {
  probe();
  return data_.successor_is_probe ? data_.successor->theta : data_.probe_point;
}
double StepContext::probe_loss() { return probe().value; }
const Tensor& StepContext::probe_grad() { return probe().grad; }
double StepContext::relative_progress() {
  const double change = probe_loss() - loss(), g2 = grad_norm_sq();
  if (square_in_range(g2)) return change / (lr() * g2);
  const double gn = grad_norm();  // ‖∇f‖² past float64's range: divided by ‖∇f‖ twice
  return change / gn / (lr() * gn);
}
double StepContext::directional_smoothness() {
  // v = η∇f: L = ⟨η∇f, ∇f − ∇f(p)⟩/‖η∇f‖² = ⟨∇f, ∇f − ∇f(p)⟩/(η‖∇f‖²)
  return analysis::directional_smoothness(grad(), grad(), probe_grad()) / lr();
}

// ---- Row ---------------------------------------------------------------------

Row::Row(const std::vector<std::string>& columns) : values_(columns.size()) {
  auto idx = std::make_shared<std::map<std::string, std::size_t, std::less<>>>();
  for (std::size_t i = 0; i < columns.size(); ++i) (*idx)[columns[i]] = i;
  index_ = idx;
}
void Row::clear() {
  for (auto& v : values_) v.reset();
}
void Row::set(std::string_view column, double value) {
  const auto it = index_->find(column);
  if (it == index_->end()) throw std::logic_error(fmt::format("Row::set: no column '{}'", column));
  values_[it->second] = value;
}
const std::optional<double>& Row::get(std::string_view column) const {
  const auto it = index_->find(column);
  if (it == index_->end()) throw std::logic_error(fmt::format("Row::get: no column '{}'", column));
  return values_[it->second];
}

// ---- registry ------------------------------------------------------------------

PluginRegistry& PluginRegistry::global() {
  static PluginRegistry* r = [] {
    auto* reg = new PluginRegistry;
    register_builtin_plugins(*reg);
    return reg;
  }();
  return *r;
}
void PluginRegistry::add(PluginInfo info) {
  try {
    (void)OptionValues(info.name, info.options, {});  // every default parses and lies in its range
  } catch (const std::invalid_argument& e) {
    throw std::logic_error(fmt::format("plugin {}: a declared default does not fit its declaration: {}", info.name,
                                       e.what()));
  }
  plugins_[info.name] = std::move(info);
}
bool PluginRegistry::contains(const std::string& name) const { return plugins_.count(name) != 0; }
const PluginInfo& PluginRegistry::info(const std::string& name) const {
  const auto it = plugins_.find(name);
  if (it == plugins_.end()) {
    std::string known;
    for (const auto& [n, _] : plugins_) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument(fmt::format("unknown plugin '{}' (known: {})", name, known));
  }
  return it->second;
}
std::vector<std::string> PluginRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : plugins_) out.push_back(n);
  return out;
}
std::unique_ptr<Plugin> PluginRegistry::create(const std::string& name, const PluginOptions& options) const {
  const PluginInfo& i = info(name);
  return i.make(OptionValues(name, i.options, options));
}
std::unique_ptr<Plugin> PluginRegistry::create_from_spec(const std::string& spec) const {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  PluginOptions opts;
  if (colon != std::string::npos) {
    std::string rest = spec.substr(colon + 1);
    std::size_t start = 0;
    while (start <= rest.size()) {
      std::size_t end = rest.find(',', start);
      if (end == std::string::npos) end = rest.size();
      const std::string kv = rest.substr(start, end - start);
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw std::invalid_argument(fmt::format("plugin spec '{}': '{}' is not key=value", spec, kv));
      if (!opts.emplace(kv.substr(0, eq), kv.substr(eq + 1)).second)
        throw std::invalid_argument(
            fmt::format("plugin spec '{}': option '{}' is given twice", spec, kv.substr(0, eq)));
      start = end + 1;
    }
  }
  return create(name, opts);
}

// ---- options -------------------------------------------------------------------

OptionDecl OptionDecl::count(std::string name, std::string default_text, std::size_t min, std::size_t max,
                             std::string doc) {
  return {std::move(name), Kind::Count, std::move(default_text), double(min), double(max), {}, std::move(doc), {}, {}};
}
OptionDecl OptionDecl::number(std::string name, std::string default_text, double min, double max, std::string doc) {
  return {std::move(name), Kind::Number, std::move(default_text), min, max, {}, std::move(doc), {}, {}};
}
OptionDecl OptionDecl::choice(std::string name, std::vector<std::string> choices, std::string doc) {
  std::string first = choices.empty() ? std::string() : choices.front();
  return {std::move(name), Kind::Choice, std::move(first), 0, 0, std::move(choices), std::move(doc), {}, {}};
}
OptionDecl OptionDecl::text(std::string name, std::string default_text, std::string doc) {
  return {std::move(name), Kind::Text, std::move(default_text), 0, 0, {}, std::move(doc), {}, {}};
}
OptionDecl& OptionDecl::depending_on(std::string option, std::vector<Variant> v) {
  depends_on = std::move(option);
  variants = std::move(v);
  return *this;
}

namespace {
std::string limit_text(OptionDecl::Kind kind, double v) {
  if (kind == OptionDecl::Kind::Count && v >= 1e15) return fmt::format("{:.0e}", v);
  return fmt::format("{}", v);
}
std::string range_text(OptionDecl::Kind kind, double min, double max) {
  return fmt::format("[{}, {}]", limit_text(kind, min), limit_text(kind, max));
}
std::string or_list(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i == 0 ? "" : i + 1 == v.size() ? " or " : ", ") + v[i];
  return s;
}
}  // namespace

std::string OptionDecl::signature() const {
  if (variants.empty()) return name + "=" + default_text;
  std::string s = name + "=";
  for (std::size_t i = 0; i < variants.size(); ++i)
    s += fmt::format("{}{} ({}={})", i ? " / " : "", variants[i].default_text, depends_on, variants[i].when);
  return s;
}

std::string OptionDecl::meaning() const {
  switch (kind) {
    case Kind::Count:
    case Kind::Number: {
      if (variants.empty()) return fmt::format("{} {}", doc, range_text(kind, min, max));
      std::string r;
      for (const auto& v : variants) r += (r.empty() ? "" : " / ") + range_text(kind, v.min, v.max);
      return fmt::format("{} {}", doc, r);
    }
    case Kind::Choice: {
      std::string c;
      for (const auto& x : choices) c += (c.empty() ? "" : " | ") + x;
      return fmt::format("{}: {}", c, doc);
    }
    case Kind::Text: return doc;
  }
  return doc;
}

OptionValues::OptionValues(const std::string& plugin, const std::vector<OptionDecl>& decls, const PluginOptions& given)
    : plugin_(plugin) {
  for (const auto& option : given) {
    const std::string& key = option.first;
    if (std::none_of(decls.begin(), decls.end(), [&](const OptionDecl& d) { return d.name == key; })) {
      std::string known;
      for (const auto& d : decls) known += (known.empty() ? "" : ", ") + d.name;
      throw std::invalid_argument(fmt::format("plugin {}: unknown option '{}' (known: {})", plugin, key,
                                              known.empty() ? "none" : known));
    }
  }
  // Options others depend on first (a choice such as tau_profile's grid).
  auto value_of = [&](const OptionDecl& d, const std::string& fallback) {
    const auto it = given.find(d.name);
    return it == given.end() ? fallback : it->second;
  };
  for (int pass = 0; pass < 2; ++pass)
    for (const OptionDecl& d : decls) {
      if ((pass == 0) != d.depends_on.empty()) continue;
      std::string fallback = d.default_text;
      double min = d.min, max = d.max;
      if (!d.depends_on.empty()) {
        const std::string& other = text(d.depends_on);
        const auto v = std::find_if(d.variants.begin(), d.variants.end(), [&](const auto& x) { return x.when == other; });
        if (v == d.variants.end())
          throw std::logic_error(fmt::format("plugin {}: option {} has no variant for {}={}", plugin, d.name,
                                             d.depends_on, other));
        fallback = v->default_text;
        min = v->min;
        max = v->max;
      }
      const std::string s = value_of(d, fallback);
      const std::string shown = fmt::format("{}={}", d.name, s);
      switch (d.kind) {
        case OptionDecl::Kind::Count: {
          std::size_t v = 0;
          const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
          if (s.empty() || ec != std::errc() || p != s.data() + s.size())
            throw std::invalid_argument(fmt::format("plugin {}: option {} is not a non-negative integer", plugin, shown));
          if (double(v) < min || double(v) > max)
            throw std::invalid_argument(
                fmt::format("plugin {}: option {} is out of range {}", plugin, shown, range_text(d.kind, min, max)));
          values_[d.name].count = v;
          break;
        }
        case OptionDecl::Kind::Number: {
          double v = 0;
          const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
          if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
            throw std::invalid_argument(fmt::format("plugin {}: option {} is not a finite number", plugin, shown));
          if (v < min || v > max)
            throw std::invalid_argument(
                fmt::format("plugin {}: option {} is out of range {}", plugin, shown, range_text(d.kind, min, max)));
          values_[d.name].number = v;
          break;
        }
        case OptionDecl::Kind::Choice:
          if (std::find(d.choices.begin(), d.choices.end(), s) == d.choices.end())
            throw std::invalid_argument(fmt::format("plugin {}: option {} (expected {})", plugin, shown, or_list(d.choices)));
          break;
        case OptionDecl::Kind::Text: break;
      }
      values_[d.name].kind = d.kind;
      values_[d.name].text = s;
    }
}

const OptionValues::Value& OptionValues::get(const std::string& name, OptionDecl::Kind kind) const {
  const auto it = values_.find(name);
  const bool text_like = kind == OptionDecl::Kind::Text && it != values_.end() && it->second.kind == OptionDecl::Kind::Choice;
  if (it == values_.end() || (it->second.kind != kind && !text_like))
    throw std::logic_error(fmt::format("plugin {}: option '{}' is not declared with that type", plugin_, name));
  return it->second;
}
std::size_t OptionValues::count(const std::string& name) const { return get(name, OptionDecl::Kind::Count).count; }
double OptionValues::number(const std::string& name) const { return get(name, OptionDecl::Kind::Number).number; }
const std::string& OptionValues::text(const std::string& name) const { return get(name, OptionDecl::Kind::Text).text; }

}  // namespace eos::analysis
