// Recorded trajectories: θ every k steps as theta_<step>.npy (numpy reads
// them) plus manifest.json saying how they were produced, from which a
// replay rebuilds the same objective (nn::build_objective on the recorded
// objective spec) and re-runs plugins offline.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../core/npy.hpp"
#include "metrics.hpp"
#include "plugin.hpp"

namespace eos::analysis {

struct TrajectoryManifest {
  std::string objective;        // Objective::describe()
  std::string optimizer;        // Optimizer::describe()
  std::string objective_spec;   // JSON of nn::ObjectiveSpec, or empty for a custom objective
  double lr = 0.0;              // η at step 0
  std::string lr_schedule;
  std::uint64_t seed = 0;
  std::size_t batch_size = 0;   // 0: full batch
  std::size_t every = 0;
  std::vector<std::size_t> steps;
  std::vector<double> step_lrs; // η_t at each recorded step
  std::vector<std::string> files;  // relative to the directory
  // Each file's size in bytes and fingerprint (core/hash.hpp), as written;
  // empty for a manifest written without them (then nothing is compared).
  std::vector<std::uint64_t> sizes;
  std::vector<std::string> hashes;
  std::string data_fingerprint;    // Objective::data_fingerprint() of the run; empty: not recorded
  std::string outcome;
};

class TrajectoryWriter {
 public:
  TrajectoryWriter(std::string dir, TrajectoryManifest manifest);
  // Continues the trajectory in `dir` for a resumed run: its manifest must
  // describe the same run as `expected` (objective, optimizer, seed, batch
  // size, every); the steps from `from_step` on are forgotten (they are
  // recorded again). Without a manifest in `dir`, starts it afresh.
  static TrajectoryWriter resume(std::string dir, const TrajectoryManifest& expected, std::size_t from_step);
  // The two halves of resume: the manifest in `dir`, checked against
  // `expected` (nothing is written; none: no manifest there), and the writer
  // that continues it from `from_step`.
  static std::optional<TrajectoryManifest> check_resumable(const std::string& dir, const TrajectoryManifest& expected);
  static TrajectoryWriter continue_from(std::string dir, TrajectoryManifest manifest, std::size_t from_step);
  void record(std::size_t step, double lr, const Tensor& theta);  // writes θ and the manifest
  void finish(const std::string& outcome);
  const std::string& dir() const { return dir_; }
  const TrajectoryManifest& manifest() const { return m_; }

 private:
  void write_manifest() const;
  std::string dir_;
  TrajectoryManifest m_;
};

// One θ of a trajectory trained elsewhere: a 1-D .npy, row `row` of a 2-D
// .npy [steps, d], or the array `key` of an .npz (float64, or float32 widened).
struct ThetaSource {
  std::string path;
  std::string key;                 // an .npz's array
  std::optional<std::size_t> row;  // a 2-D .npy's row
  std::string describe() const;    // "θ.npy", "thetas.npy[row 3]", "run.npz['arr_3']"
  Tensor read(NpyInfo* info = nullptr) const;
};

// θ files given as FILE, GLOB or a comma-separated LIST of them → every θ
// they hold, in order: a glob's matches in natural order (theta_2 before
// theta_10), an .npz's arrays in the archive's order (np.savez's), a 2-D
// .npy's rows. A file is told by its bytes (an .npz is a zip), not its name.
// Errors name the pattern or file: no match, unreadable, not 1-D or 2-D.
std::vector<ThetaSource> expand_theta_files(const std::string& list);

struct Trajectory {
  std::string dir;
  TrajectoryManifest manifest;
  // θ files from anywhere (trajectory_of_files), instead of manifest.files in dir.
  std::vector<ThetaSource> sources;
  // Or θ held in memory (trajectory_of_thetas: the Python module's arrays).
  std::vector<Tensor> in_memory;
  // False when the steps were numbered by position (no --steps): then no two
  // recorded θ are taken for consecutive steps (RP needs θ_{t+1}; a file
  // every 10 steps is not one).
  bool steps_given = true;
  // θ of the i-th recorded step, checked: a regular file (a FIFO is refused,
  // not opened), of the recorded size and fingerprint when the manifest has
  // them, and finite; each error names the file and the step. `info`, when
  // given, gets a θ file's dtype and shape (only for `sources`).
  Tensor theta(std::size_t i, NpyInfo* info = nullptr) const;
  std::string where(std::size_t i) const;  // the file (and array or row) θ of the i-th step is read from
};

// A trajectory of θ files trained elsewhere, analysed with the objective of
// `objective_spec` at step size `lr`: the steps given (as many as the θs,
// increasing), or 0, 1, 2, … by position with steps_given = false.
Trajectory trajectory_of_files(std::vector<ThetaSource> sources, std::optional<std::vector<std::size_t>> steps,
                               double lr, std::size_t batch_size, std::uint64_t seed, std::string objective_spec);
// The same for θ already in memory (named "θ[i]" in messages).
Trajectory trajectory_of_thetas(std::vector<Tensor> thetas, std::optional<std::vector<std::size_t>> steps, double lr,
                                std::size_t batch_size, std::uint64_t seed, std::string objective_spec);
// Refuses a manifest that lists one file twice, or whose lists differ in length.
Trajectory read_trajectory(const std::string& dir);

// Runs plugins on every recorded step of a trajectory, in order, as a
// Trainer would have online at those steps: f and ∇f at θ_t, the probe
// θ_t − η_t∇f(θ_t) computed, stochastic plugins seeded alike.
// `after_step(i)`, when given, is called after the i-th recorded step (a
// caller's chance to stop: whatever it throws ends the analysis).
MetricsTable analyze_trajectory(const Trajectory& trajectory, Objective& objective,
                                std::vector<std::unique_ptr<Plugin>>& plugins,
                                const optim::Optimizer* optimizer = nullptr, const std::string& output_dir = "",
                                const std::function<void(std::size_t)>& after_step = {});

}  // namespace eos::analysis
