// A complete, serializable description of a model objective: data (a
// data::DataSpec), model (MLP), loss, evaluation options and init. A
// trajectory manifest records it as JSON; build_objective rebuilds the very
// same objective for offline analysis.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../datasets/spec.hpp"
#include "objective.hpp"

namespace eos::nn {

using data::DataSpec;  // datasets/spec.hpp; nn::DataSpec is kept for one release

struct ObjectiveSpec {
  // Defaults from core/defaults.hpp, as the flags of `eoslab train`.
  DataSpec data;
  std::vector<std::size_t> hidden{defaults::widths.begin(), defaults::widths.end()};
  std::string activation = defaults::activation;
  bool bias = defaults::bias;
  // Any other network: a layer text (nn/arch.hpp's grammar) and/or the name
  // of an architecture (Cohen et al.'s) whose text it is. With either, hidden,
  // activation and bias are unused. Empty: the MLP above.
  std::string model;
  std::string arch;
  std::string loss = defaults::loss;     // ce | mse
  std::size_t chunk_size = defaults::chunk_size;
  double weight_decay = defaults::weight_decay;
  std::string init = defaults::init;     // pytorch | xavier | he
  std::uint64_t init_seed = defaults::seed;
  // How it is computed, not what: ObjectiveOptions::threads. Not part of the
  // JSON (it changes only the order of summation).
  std::size_t threads = 1;

  std::string to_json() const;
  static ObjectiveSpec from_json(const std::string& json);  // errors name the field
};

// Moved to datasets/spec.hpp (eos::data); these names are kept for one release.
using data::build_dataset;
using data::dataset_size;
using data::load_dataset_rows;

// What a model objective will hold in memory, estimated before anything is
// built or loaded (bytes): the data (the loaded set, the objective's copy and
// its chunks: three copies at the peak of construction), the tapes (each
// node's value, tangent, adjoint, adjoint-tangent and scratch for every
// layer's rows: four reused chunk tapes, and with a Hessian linearization one
// per chunk, i.e. all n rows), and the size of one θ-sized vector, of which
// the caller counts how many it keeps (optimizer buffers, Krylov bases).
struct MemoryEstimate {
  double parameters = 0;      // |θ|
  double data = 0, tapes = 0, per_vector = 0;
  double total(double vectors) const { return data + tapes + vectors * per_vector; }
};
// linearized: a plugin keeps ∇²f's linearization (every row's tape);
// float32_copies: and float32 copies of its values and adjoints (hvp=mixed).
MemoryEstimate estimate_memory(const ObjectiveSpec& spec, std::size_t n, std::size_t dim, std::size_t outputs,
                               bool linearized, bool float32_copies = false);

// The layer text the spec describes for `classes` outputs: its model, else
// its architecture's; empty for an MLP.
std::string model_text(const ObjectiveSpec& spec, std::size_t classes);

struct BuiltObjective {
  std::shared_ptr<Sequential> net;
  Shape input_shape;  // of one example, as the network reads it
  std::unique_ptr<ModelObjective> objective;
  Tensor theta0;  // the spec's initialization
};
BuiltObjective build_objective(const ObjectiveSpec& spec);
// The same on a dataset prepared elsewhere (a shard): the network's input
// and output sizes come from `num_classes` (all shards agree) and ds.dim().
BuiltObjective build_objective_on(const ObjectiveSpec& spec, data::Dataset ds);
// The same for one MPI rank's shard of a batch of `rows_across_ranks` rows:
// a BatchNorm model sums its statistics over the ranks with `sum_across_ranks`.
BuiltObjective build_objective_on(const ObjectiveSpec& spec, data::Dataset ds,
                                  std::function<void(double*, std::size_t)> sum_across_ranks, std::size_t rows_across_ranks);
// Whether the spec's network couples the examples of a batch (BatchNorm);
// false when the network cannot be built (its errors come with the build).
bool couples_batch(const ObjectiveSpec& spec);

}  // namespace eos::nn
