#include "plugin.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <xtensor/xnoalias.hpp>

namespace eos::analysis {

double directional_smoothness(const Tensor& v, const Tensor& g, const Tensor& g_shifted) {
  if (v.size() != g.size() || g.size() != g_shifted.size())
    throw ShapeError(fmt::format("directional_smoothness: sizes {}, {}, {} differ", v.size(), g.size(), g_shifted.size()));
  double s = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) s += v.data()[i] * (g.data()[i] - g_shifted.data()[i]);
  return s / inner(v, v);
}

// ---- StepContext -----------------------------------------------------------

std::uint64_t StepContext::seed_for(const std::string& plugin) const {
  std::uint64_t h = seed_ ^ 0x9e3779b97f4a7c15ULL;
  for (char c : plugin) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h ^ (data_.step * 0xbf58476d1ce4e5b9ULL);
}

void StepContext::ensure_full() {
  if (data_.full) return;
  data_.full.value = objective_.value_and_grad(data_.theta, data_.full.grad);
  data_.full.known = true;
}
double StepContext::loss() {
  ensure_full();
  return data_.full.value;
}
const Tensor& StepContext::grad() {
  ensure_full();
  return data_.full.grad;
}
double StepContext::grad_norm_sq() {
  const Tensor& g = grad();
  return inner(g, g);
}
HessianOperator& StepContext::hessian() {
  if (!data_.hessian) {
    data_.hessian = objective_.hessian_at(data_.theta);
    if (!data_.full) {
      data_.full.value = data_.hessian->value();
      copy_into(data_.full.grad, data_.hessian->grad());
      data_.full.known = true;
    }
  }
  return *data_.hessian;
}

namespace {
StepData& successor_of(StepData& d) {
  if (!d.successor)
    throw std::logic_error(fmt::format("step {}: θ_(t+1) is not known here (offline, the next recorded step must be "
                                       "t + 1; check has_next())",
                                       d.step));
  StepData& s = *d.successor;
  return s;
}
}  // namespace

const Tensor& StepContext::next_theta() { return successor_of(data_).theta; }
double StepContext::next_loss() {
  StepData& s = successor_of(data_);
  if (!s.full) {
    s.full.value = objective_.value_and_grad(s.theta, s.full.grad);
    s.full.known = true;
  }
  return s.full.value;
}
const Tensor& StepContext::next_grad() {
  next_loss();
  return data_.successor->full.grad;
}

void StepContext::ensure_probe() {
  if (data_.probe) return;
  ensure_full();
  // Computed exactly as GradientDescent::update does, so that online and
  // offline probes agree to the last bit.
  copy_into(data_.probe_point, data_.theta);
  xt::noalias(data_.probe_point) -= data_.lr * data_.full.grad;
  data_.probe.value = objective_.value_and_grad(data_.probe_point, data_.probe.grad);
  data_.probe.known = true;
}
const Tensor& StepContext::probe_point() {
  ensure_probe();
  return data_.probe_point;
}
double StepContext::probe_loss() {
  ensure_probe();
  return data_.probe.value;
}
const Tensor& StepContext::probe_grad() {
  ensure_probe();
  return data_.probe.grad;
}
double StepContext::relative_progress() {
  return (probe_loss() - loss()) / (lr() * grad_norm_sq());
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
void PluginRegistry::add(PluginInfo info) { plugins_[info.name] = std::move(info); }
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
  return info(name).make(options);
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

double OptionReader::number(const std::string& key, double fallback, double min, double max) {
  read_.push_back(key);
  const auto it = options_.find(key);
  if (it == options_.end()) return fallback;
  double v = 0;
  const auto& s = it->second;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
    throw std::invalid_argument(fmt::format("plugin {}: option {}={} is not a finite number", plugin_, key, s));
  if (v < min || v > max)
    throw std::invalid_argument(fmt::format("plugin {}: option {}={} is out of range [{}, {}]", plugin_, key, s, min, max));
  return v;
}
std::size_t OptionReader::count(const std::string& key, std::size_t fallback, std::size_t min, std::size_t max) {
  read_.push_back(key);
  const auto it = options_.find(key);
  if (it == options_.end()) return fallback;
  std::size_t v = 0;
  const auto& s = it->second;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    throw std::invalid_argument(fmt::format("plugin {}: option {}={} is not a non-negative integer", plugin_, key, s));
  if (v < min || v > max)
    throw std::invalid_argument(fmt::format("plugin {}: option {}={} is out of range [{}, {}]", plugin_, key, s, min, max));
  return v;
}
std::string OptionReader::text(const std::string& key, const std::string& fallback) {
  read_.push_back(key);
  const auto it = options_.find(key);
  return it == options_.end() ? fallback : it->second;
}
void OptionReader::finish() const {
  for (const auto& [k, v] : options_)
    if (std::find(read_.begin(), read_.end(), k) == read_.end()) {
      std::string known;
      for (const auto& r : read_) known += (known.empty() ? "" : ", ") + r;
      throw std::invalid_argument(fmt::format("plugin {}: unknown option '{}' (known: {})", plugin_, k,
                                              known.empty() ? "none" : known));
    }
}

}  // namespace eos::analysis
