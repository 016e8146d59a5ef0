// One table of defaults. What an omitted flag of `eoslab train` means, what
// an omitted field of an objective spec or a TrainerOptions means, and what
// the documentation lists (`eoslab defaults`, docs/DEFAULTS.md, and every
// `--help`) are these values: the CLI's flags, the library's specs and the
// docs all read them from here, so they cannot disagree.
//
// The default objective is Cohen et al.'s protocol: fc-tanh 784-200-200-10,
// mean cross-entropy, on the first 5000 Fashion-MNIST training images with
// each feature standardized; full-batch GD.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace eos::defaults {

// ---- data (data::DataSpec, --data --split --n --standardize) ---------------
inline constexpr const char* data_source = "fashion-mnist";
inline constexpr const char* split = "train";
inline constexpr std::size_t n = 5000;                 // the first n examples in file order
inline constexpr bool standardize = true;              // per feature, the selected examples' statistics

// ---- model (nn::ObjectiveSpec, --widths --activation --loss --weight-decay --init --seed) ----
inline constexpr std::array<std::size_t, 2> widths = {200, 200};
inline constexpr const char* activation = "tanh";
inline constexpr bool bias = true;
inline constexpr const char* loss = "ce";
inline constexpr double weight_decay = 0.0;            // γ of the objective's γ‖θ‖²
inline constexpr const char* init = "pytorch";
inline constexpr std::uint64_t seed = 0;               // init, minibatches, stochastic plugins
inline constexpr std::size_t chunk_size = 5000;        // examples per chunk of full-batch work

// ---- optimizer (--optimizer --lr --momentum --beta1 --beta2 --eps --alpha --batch-size --schedule) ----
inline constexpr const char* optimizer = "gd";
inline constexpr const char* lr = "2/30";              // the step size η, as text (a fraction is allowed)
inline constexpr double momentum = 0.9;
inline constexpr double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
inline constexpr double alpha = 0.99;                  // RMSProp
inline constexpr double adamw_decay = 0.01;            // AdamW's decoupled weight decay (0 for the others)
inline constexpr std::size_t batch_size = 0;           // 0: full batch (GD)
inline constexpr const char* schedule = "constant";

// ---- run (analysis::TrainerOptions, --steps --divergence-factor --save-every --out --threads --checkpoint-every) ----
inline constexpr std::size_t steps = 1000;
inline constexpr double divergence_factor = 1e10;      // f > factor·max(|f(θ₀)|, 1) is divergence
inline constexpr std::size_t save_every = 0;           // θ every K steps; 0: no trajectory
inline constexpr const char* out = "eoslab-run";
inline constexpr std::size_t threads = 0;              // 0: the machine's cores, shared among MPI ranks
inline constexpr const char* checkpoint_every = "1s";  // N steps, Ts seconds, or off

}  // namespace eos::defaults
