#include "trajectory.hpp"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../core/hash.hpp"
#include "../core/npy.hpp"
#include "../core/text.hpp"

namespace eos::analysis {

namespace {
constexpr const char* kFormat = "eoslab-trajectory/1";
}

TrajectoryWriter::TrajectoryWriter(std::string dir, TrajectoryManifest manifest) : dir_(std::move(dir)), m_(std::move(manifest)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot create the trajectory directory ({})", dir_, ec.message()));
  write_manifest();
}

std::optional<TrajectoryManifest> TrajectoryWriter::check_resumable(const std::string& dir,
                                                                    const TrajectoryManifest& expected) {
  if (!std::filesystem::exists(dir + "/manifest.json")) return std::nullopt;
  TrajectoryManifest m = read_trajectory(dir).manifest;
  auto differ = [&](const char* what, const std::string& a, const std::string& b) {
    if (a != b)
      throw std::runtime_error(fmt::format("{}/manifest.json: recorded {} '{}', the resumed run has '{}'", dir, what, a, b));
  };
  differ("objective", m.objective, expected.objective);
  differ("optimizer", m.optimizer, expected.optimizer);
  differ("seed", std::to_string(m.seed), std::to_string(expected.seed));
  differ("batch size", std::to_string(m.batch_size), std::to_string(expected.batch_size));
  differ("every", std::to_string(m.every), std::to_string(expected.every));
  return m;
}

TrajectoryWriter TrajectoryWriter::continue_from(std::string dir, TrajectoryManifest m, std::size_t from_step) {
  std::size_t keep = 0;
  while (keep < m.steps.size() && m.steps[keep] < from_step) ++keep;
  m.steps.resize(keep);
  m.step_lrs.resize(keep);
  m.files.resize(keep);
  if (m.hashes.size() == m.files.size()) {
    m.sizes.resize(keep);
    m.hashes.resize(keep);
  } else {  // a manifest written without fingerprints: the kept files get theirs now
    m.sizes.clear();
    m.hashes.clear();
    for (std::size_t i = 0; i < keep; ++i) {
      const std::string path = dir + "/" + m.files[i];
      m.sizes.push_back(std::filesystem::file_size(path));
      m.hashes.push_back(file_fingerprint(path));
    }
  }
  m.outcome.clear();
  return TrajectoryWriter(std::move(dir), std::move(m));  // rewrites the manifest without the forgotten steps
}

TrajectoryWriter TrajectoryWriter::resume(std::string dir, const TrajectoryManifest& expected, std::size_t from_step) {
  auto m = check_resumable(dir, expected);
  return m ? continue_from(std::move(dir), std::move(*m), from_step) : TrajectoryWriter(std::move(dir), expected);
}

void TrajectoryWriter::record(std::size_t step, double lr, const Tensor& theta) {
  if (!m_.steps.empty() && m_.steps.back() == step) return;
  const std::string file = fmt::format("theta_{:08d}.npy", step);
  const std::string bytes = npy_bytes(theta);
  write_file_atomically(dir_ + "/" + file, bytes);
  m_.steps.push_back(step);
  m_.step_lrs.push_back(lr);
  m_.files.push_back(file);
  m_.sizes.push_back(bytes.size());
  m_.hashes.push_back(Fingerprint().add(bytes).hex());
  write_manifest();
}

void TrajectoryWriter::finish(const std::string& outcome) {
  m_.outcome = outcome;
  write_manifest();
}

void TrajectoryWriter::write_manifest() const {
  nlohmann::json j;
  j["format"] = kFormat;
  j["objective"] = m_.objective;
  j["optimizer"] = m_.optimizer;
  j["objective_spec"] = m_.objective_spec.empty() ? nlohmann::json() : nlohmann::json::parse(m_.objective_spec);
  j["lr"] = m_.lr;
  j["seed"] = m_.seed;
  j["batch_size"] = m_.batch_size;
  j["every"] = m_.every;
  j["steps"] = m_.steps;
  j["step_lrs"] = m_.step_lrs;
  j["files"] = m_.files;
  j["sizes"] = m_.sizes;
  j["hashes"] = m_.hashes;
  j["data_fingerprint"] = m_.data_fingerprint;
  j["outcome"] = m_.outcome;
  // Write, fsync, rename: a killed run never leaves a half-written manifest.
  write_file_atomically(dir_ + "/manifest.json", j.dump(2) + "\n");
}

std::string ThetaSource::describe() const {
  if (!key.empty()) return fmt::format("{}['{}']", path, key);
  if (row) return fmt::format("{}[row {}]", path, *row);
  return path;
}

Tensor ThetaSource::read(NpyInfo* info) const {
  if (!key.empty()) return read_npz_array(path, key, info);
  if (row) {
    if (info) *info = read_npy_info(path);
    return read_npy_row(path, *row);
  }
  NpyInfo own;
  Tensor t = read_npy(path, &own);
  if (t.dimension() != 1)
    throw NpyError(fmt::format("{}: θ must be a flat vector (1-D), got shape {}", path, shape_str(own.shape)));
  if (info) *info = own;
  return t;
}

namespace {

// Natural order: digit runs compare as numbers, so theta_2 < theta_10.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      std::string x = a.substr(i, i2 - i), y = b.substr(j, j2 - j);
      x.erase(0, std::min(x.find_first_not_of('0'), x.size()));
      y.erase(0, std::min(y.find_first_not_of('0'), y.size()));
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j || (a.size() - i == b.size() - j && a < b);
}

std::vector<std::string> matches_of(const std::string& pattern) {
  if (pattern.find_first_of("*?[") == std::string::npos) {
    std::error_code ec;
    if (!std::filesystem::exists(pattern, ec))
      throw std::runtime_error(fmt::format("--theta: no file {}", quote_input(pattern)));
    return {pattern};
  }
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
  std::vector<std::string> found;
  if (rc == 0)
    for (std::size_t k = 0; k < g.gl_pathc; ++k) found.emplace_back(g.gl_pathv[k]);
  ::globfree(&g);
  if (rc == GLOB_NOMATCH || found.empty())
    throw std::runtime_error(fmt::format("--theta: the pattern {} matches no file", quote_input(pattern)));
  if (rc != 0) throw std::runtime_error(fmt::format("--theta: cannot expand the pattern {}", quote_input(pattern)));
  std::sort(found.begin(), found.end(), natural_less);
  return found;
}

bool is_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

}  // namespace

std::vector<ThetaSource> expand_theta_files(const std::string& list) {
  std::vector<ThetaSource> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) throw std::runtime_error(fmt::format("--theta {}: an empty entry in the list", quote_input(list)));
    for (const std::string& path : matches_of(item)) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(path, ec))
        throw std::runtime_error(fmt::format("--theta: {} is not a regular file", quote_input(path)));
      if (is_zip(path)) {
        const auto keys = npz_keys(path);
        if (keys.empty()) throw NpyError(fmt::format("{}: an .npz with no arrays", path));
        for (const auto& key : keys) out.push_back({path, key, std::nullopt});
        continue;
      }
      const NpyInfo info = read_npy_info(path);
      if (info.shape.size() == 1) {
        out.push_back({path, "", std::nullopt});
      } else if (info.shape.size() == 2) {
        for (std::size_t r = 0; r < info.shape[0]; ++r) out.push_back({path, "", r});
      } else {
        throw NpyError(fmt::format("{}: shape {}: expected one θ (1-D) or one θ per row (2-D, [steps, d])", path,
                                   shape_str(info.shape)));
      }
    }
  }
  return out;
}

namespace {
// What trajectory_of_files and trajectory_of_thetas share: the steps checked
// against the θ (named by `name(i)`), the manifest a trajectory trained
// elsewhere stands for.
template <class Name>
Trajectory trajectory_of(std::size_t count, const Name& name, const std::optional<std::vector<std::size_t>>& steps,
                         double lr, std::size_t batch_size, std::uint64_t seed, std::string objective_spec) {
  if (count == 0) throw std::runtime_error("--theta: no θ");
  if (!(std::isfinite(lr) && lr > 0)) throw std::runtime_error(fmt::format("--lr {}: expected a positive step size", lr));
  Trajectory t;
  t.steps_given = steps.has_value();
  if (steps) {
    if (steps->size() != count)
      throw std::runtime_error(fmt::format("--steps lists {} steps, --theta holds {} θ (the first: {})", steps->size(),
                                           count, name(0)));
    for (std::size_t i = 1; i < steps->size(); ++i)
      if ((*steps)[i] <= (*steps)[i - 1])
        throw std::runtime_error(fmt::format("--steps: step {} (for {}) does not follow step {}: steps must increase",
                                             (*steps)[i], name(i), (*steps)[i - 1]));
  }
  auto& m = t.manifest;
  m.objective_spec = std::move(objective_spec);
  m.optimizer = "unknown (θ trained elsewhere)";
  m.lr = lr;
  m.seed = seed;
  m.batch_size = batch_size;
  m.every = 1;
  for (std::size_t i = 0; i < count; ++i) {
    m.steps.push_back(steps ? (*steps)[i] : i);
    m.step_lrs.push_back(lr);
    m.files.push_back(name(i));
  }
  return t;
}
}  // namespace

Trajectory trajectory_of_files(std::vector<ThetaSource> sources, std::optional<std::vector<std::size_t>> steps,
                               double lr, std::size_t batch_size, std::uint64_t seed, std::string objective_spec) {
  Trajectory t = trajectory_of(sources.size(), [&](std::size_t i) { return sources[i].describe(); }, steps, lr,
                               batch_size, seed, std::move(objective_spec));
  t.sources = std::move(sources);
  return t;
}

Trajectory trajectory_of_thetas(std::vector<Tensor> thetas, std::optional<std::vector<std::size_t>> steps, double lr,
                                std::size_t batch_size, std::uint64_t seed, std::string objective_spec) {
  Trajectory t = trajectory_of(thetas.size(), [](std::size_t i) { return fmt::format("θ[{}]", i); }, steps, lr,
                               batch_size, seed, std::move(objective_spec));
  t.in_memory = std::move(thetas);
  return t;
}

std::string Trajectory::where(std::size_t i) const {
  if (!sources.empty()) return sources.at(i).describe();
  if (!in_memory.empty()) return manifest.files.at(i);
  return dir + "/" + manifest.files.at(i);
}

Tensor Trajectory::theta(std::size_t i, NpyInfo* info) const {
  if (!in_memory.empty()) {
    const Tensor& theta = in_memory.at(i);
    if (const auto bad = first_non_finite(theta))
      throw std::runtime_error(fmt::format("{}: θ of step {} has a non-finite entry ({} at index {})", where(i),
                                           manifest.steps[i], theta.data()[*bad], *bad));
    return theta;
  }
  if (!sources.empty()) {
    const ThetaSource& src = sources.at(i);
    Tensor theta = src.read(info);
    if (const auto bad = first_non_finite(theta))
      throw std::runtime_error(fmt::format("{}: θ of step {} has a non-finite entry ({} at index {})", src.describe(),
                                           manifest.steps[i], theta.data()[*bad], *bad));
    return theta;
  }
  if (i >= manifest.files.size())
    throw std::out_of_range(fmt::format("{}: step index {} of {} recorded", dir, i, manifest.files.size()));
  const std::string path = dir + "/" + manifest.files[i];
  const std::size_t step = manifest.steps[i];
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st))
    throw std::runtime_error(fmt::format("{}: θ of step {} is missing", path, step));
  if (!std::filesystem::is_regular_file(st))
    throw std::runtime_error(fmt::format("{}: θ of step {} is not a regular file (a FIFO, device or directory)", path,
                                         step));
  if (!manifest.hashes.empty()) {
    const auto size = std::filesystem::file_size(path, ec);
    if (ec || size != manifest.sizes[i])
      throw std::runtime_error(fmt::format("{}: θ of step {} has {} bytes, the manifest recorded {}", path, step,
                                           ec ? 0 : size, manifest.sizes[i]));
    const std::string hash = file_fingerprint(path);
    if (hash != manifest.hashes[i])
      throw std::runtime_error(fmt::format("{}: θ of step {} is not the file the run wrote (fingerprint {}, the "
                                           "manifest recorded {}): changed, or swapped with another",
                                           path, step, hash, manifest.hashes[i]));
  }
  Tensor theta = read_npy_vector(path);
  if (const auto bad = first_non_finite(theta))
    throw std::runtime_error(fmt::format("{}: θ of step {} has a non-finite entry ({} at index {}); a trajectory holds "
                                         "finite parameters",
                                         path, step, theta.data()[*bad], *bad));
  return theta;
}

namespace {
// A manifest's required keys checked (every missing one named at once, not
// one per attempt) and its optional keys filled with what a hand-written
// manifest of a GD run means (docs/TRAJECTORY.md).
void complete_manifest(nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw std::runtime_error(fmt::format("{}: expected a JSON object (docs/TRAJECTORY.md)", path));
  std::string missing;
  for (const char* key : {"format", "objective_spec", "lr", "steps", "files"})
    if (!j.contains(key)) missing += fmt::format("{}'{}'", missing.empty() ? "" : ", ", key);
  if (!missing.empty())
    throw std::runtime_error(fmt::format("{}: missing required key(s) {} (the format is docs/TRAJECTORY.md; `eoslab "
                                         "spec [train flags]` prints an objective_spec)",
                                         path, missing));
  if (!j.at("format").is_string() || j.at("format").get<std::string>() != kFormat)
    throw std::runtime_error(fmt::format("{}: format {}, expected \"{}\"", path, j.at("format").dump(), kFormat));
  for (const auto& [key, value] : std::initializer_list<std::pair<const char*, nlohmann::json>>{
           {"objective", ""}, {"optimizer", "unknown"}, {"seed", 0u}, {"batch_size", 0u}, {"every", 1u}})
    if (!j.contains(key)) j[key] = value;
  if (!j.contains("step_lrs") && j.at("steps").is_array())
    j["step_lrs"] = std::vector<nlohmann::json>(j.at("steps").size(), j.at("lr"));
}
}  // namespace

Trajectory read_trajectory(const std::string& dir) {
  const std::string path = dir + "/manifest.json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: no trajectory manifest", path));
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
  complete_manifest(j, path);
  Trajectory t;
  t.dir = dir;
  auto& m = t.manifest;
  try {
    m.objective = j.at("objective");
    m.optimizer = j.at("optimizer");
    if (!j.at("objective_spec").is_null()) m.objective_spec = j.at("objective_spec").dump();
    m.lr = j.at("lr");
    m.seed = j.at("seed");
    m.batch_size = j.at("batch_size");
    m.every = j.at("every");
    m.steps = j.at("steps").get<std::vector<std::size_t>>();
    m.step_lrs = j.at("step_lrs").get<std::vector<double>>();
    m.files = j.at("files").get<std::vector<std::string>>();
    if (j.contains("sizes") || j.contains("hashes")) {
      m.sizes = j.at("sizes").get<std::vector<std::uint64_t>>();
      m.hashes = j.at("hashes").get<std::vector<std::string>>();
    }
    m.data_fingerprint = j.value("data_fingerprint", "");
    m.outcome = j.value("outcome", "");
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: malformed manifest ({})", path, e.what()));
  }
  if (m.steps.size() != m.files.size() || m.steps.size() != m.step_lrs.size())
    throw std::runtime_error(fmt::format("{}: steps, step_lrs and files differ in length", path));
  if ((!m.sizes.empty() || !m.hashes.empty()) && (m.sizes.size() != m.files.size() || m.hashes.size() != m.files.size()))
    throw std::runtime_error(fmt::format("{}: sizes and hashes must list one entry per file ({} files, {} sizes, {} "
                                         "hashes)",
                                         path, m.files.size(), m.sizes.size(), m.hashes.size()));
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < m.files.size(); ++i)
    if (const auto [it, fresh] = seen.emplace(m.files[i], i); !fresh)
      throw std::runtime_error(fmt::format("{}: files[{}] and files[{}] are both '{}': each recorded step has its own "
                                           "θ file",
                                           path, it->second, i, m.files[i]));
  // nlohmann converts -1 to 2⁶⁴−1 when asked for an unsigned: check the JSON itself.
  for (const char* key : {"seed", "batch_size", "every"})
    if (!j.at(key).is_number_unsigned())
      throw std::runtime_error(fmt::format("{}: '{}' = {}: expected a non-negative integer", path, key, j.at(key).dump()));
  if (m.every == 0) throw std::runtime_error(fmt::format("{}: 'every' is 0", path));
  if (!(std::isfinite(m.lr) && m.lr > 0))
    throw std::runtime_error(fmt::format("{}: 'lr' = {}: expected a positive finite number", path, j.at("lr").dump()));
  const auto& steps = j.at("steps");
  for (std::size_t i = 0; i < m.steps.size(); ++i) {
    if (!steps[i].is_number_unsigned())
      throw std::runtime_error(fmt::format("{}: steps[{}] = {}: expected a non-negative integer", path, i, steps[i].dump()));
    if (i > 0 && m.steps[i] <= m.steps[i - 1])
      throw std::runtime_error(fmt::format("{}: steps[{}] = {} does not follow steps[{}] = {} (steps must increase)", path,
                                           i, m.steps[i], i - 1, m.steps[i - 1]));
    if (!(std::isfinite(m.step_lrs[i]) && m.step_lrs[i] > 0))
      throw std::runtime_error(fmt::format("{}: step_lrs[{}] = {}: expected a positive finite number", path, i, m.step_lrs[i]));
    const std::string& f = m.files[i];  // a file inside the trajectory folder, nothing else
    if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos || f.find('\\') != std::string::npos ||
        f.find('\0') != std::string::npos)
      throw std::runtime_error(fmt::format("{}: files[{}] = '{}' is not a file name inside the trajectory folder", path,
                                           i, f));
  }
  return t;
}

MetricsTable analyze_trajectory(const Trajectory& trajectory, Objective& objective,
                                std::vector<std::unique_ptr<Plugin>>& plugins, const optim::Optimizer* optimizer,
                                const std::string& output_dir, const std::function<void(std::size_t)>& after_step) {
  MetricsTable table;
  table.columns = {"step", "lr"};
  for (const auto& p : plugins) {
    p->bind(objective);
    for (const auto& c : p->columns()) table.columns.push_back(c);
  }
  for (auto& p : plugins) p->reset();
  const auto& m = trajectory.manifest;
  for (std::size_t i = 0; i < m.steps.size(); ++i) {
    StepData d;
    d.step = m.steps[i];
    d.theta = trajectory.theta(i);
    d.lr = m.step_lrs[i];
    if (d.theta.size() != objective.dim())
      throw ShapeError(fmt::format("{}: θ at step {} has {} entries, the objective has {}", trajectory.where(i), d.step,
                                   d.theta.size(), objective.dim()));
    StepData next;  // θ_{t+1}, when the next recorded step is t + 1
    if (trajectory.steps_given && i + 1 < m.steps.size() && m.steps[i + 1] == d.step + 1) {
      next.step = d.step + 1;
      next.theta = trajectory.theta(i + 1);
      next.lr = m.step_lrs[i + 1];
      d.successor = &next;
    }
    StepContext ctx(d, objective, optimizer, m.batch_size, m.seed);
    ctx.set_output_dir(output_dir);
    Row row(table.columns);
    row.set("step", double(d.step));
    row.set("lr", d.lr);
    for (auto& p : plugins) p->observe(ctx, row);
    table.rows.push_back(row.values());
    if (after_step) after_step(i);
  }
  return table;
}

}  // namespace eos::analysis
