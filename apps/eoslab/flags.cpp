// Every flag of the command line, in one place (the only file that includes
// CLI11). A flag's value is taken as text and converted by the parsers of
// run.hpp, so every bad value is reported the same way: the flag, the value,
// what was expected; exit code 2.
#include "flags.hpp"
#include "folder.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace eos::cli {
namespace {

const char* const kThreadsHelp =
    "threads (0: the machine's cores, shared among mpirun's ranks): full-batch work splits each chunk into one part "
    "per thread, each with single-threaded BLAS; minibatches use BLAS with this many threads";

std::string number_text(double v) { return fmt::format("{}", v); }
std::string widths_text() {
  std::string s;
  for (std::size_t w : defaults::widths) s += (s.empty() ? "" : ",") + std::to_string(w);
  return s;
}

// The text of every `eoslab train` flag, with its default (core/defaults.hpp).
struct TrainFlags {
  std::string data = defaults::data_source, split = defaults::split, n = std::to_string(defaults::n),
              standardize = defaults::standardize ? "subset" : "none";
  std::string toy, theta0;
  std::string widths = widths_text(), activation = defaults::activation, loss = defaults::loss,
              weight_decay = number_text(defaults::weight_decay), init = defaults::init,
              seed = std::to_string(defaults::seed), init_params;
  bool no_bias = !defaults::bias;
  std::string arch, model, input_shape;
  bool describe = false;
  CLI::Option *widths_option = nullptr, *activation_option = nullptr, *no_bias_option = nullptr;
  std::string optimizer = defaults::optimizer, lr = defaults::lr, momentum = number_text(defaults::momentum),
              beta1 = number_text(defaults::beta1), beta2 = number_text(defaults::beta2),
              eps = number_text(defaults::eps), alpha = number_text(defaults::alpha), optim_decay,
              batch_size = std::to_string(defaults::batch_size), schedule = defaults::schedule;
  std::string steps = std::to_string(defaults::steps), epochs, loss_goal, accuracy_goal,
              divergence_factor = number_text(defaults::divergence_factor);
  std::vector<std::string> plugins;
  std::string save_every = std::to_string(defaults::save_every), out = defaults::out,
              threads = std::to_string(defaults::threads), checkpoint_every = defaults::checkpoint_every, resume;
  bool quiet = false, force = false;
  CLI::Option* steps_option = nullptr;  // to tell an explicit --steps from its default
};

void add_data_flags(CLI::App& app, TrainFlags& f) {
  auto* data = app.add_option_group("Data");
  data->add_option("--data", f.data,
                   "fashion-mnist[:DIR] | idx:DIR | cifar10:DIR | csv:FILE (integer label in the first column) | "
                   "gaussian:DIM,CLASSES")
      ->capture_default_str();
  data->add_option("--split", f.split, "train | test")->capture_default_str();
  data->add_option("--n", f.n, "the first n examples in file order, or 'all'")->capture_default_str();
  data->add_option("--standardize", f.standardize,
                   "subset: centre and scale each feature by the selected examples' statistics; none")
      ->capture_default_str();
}

// `training`: also the flags that only a training run reads (θ₀, --describe).
void add_model_flags(CLI::App& app, TrainFlags& f, bool training) {
  auto* model = app.add_option_group("Model");
  f.widths_option = model->add_option("--widths", f.widths, "hidden layer widths of the MLP, or 'none' for a linear model")
                        ->capture_default_str();
  f.activation_option =
      model->add_option("--activation", f.activation, "the MLP's: tanh | relu | elu | softplus | gelu | sigmoid | hardtanh | leaky_relu (slope 0.01) | selu | identity (a linear network)")
          ->capture_default_str();
  f.no_bias_option = model->add_flag("--no-bias", f.no_bias, "the MLP's Linear layers without bias");
  model->add_option("--arch", f.arch,
                    "instead of the MLP: an architecture of Cohen et al. (2021) by name: fc-relu | fc-elu | fc-tanh | "
                    "fc-hardtanh | fc-softplus | cnn-relu | cnn-elu | cnn-tanh | cnn-avgpool-relu | cnn-avgpool-elu | "
                    "cnn-avgpool-tanh | cnn-bn-relu | cnn-bn-elu | cnn-bn-tanh | vgg11 | vgg11-bn | resnet32 | deeplinear");
  model->add_option("--model", f.model,
                    "instead of the MLP: a layer list, e.g. \"conv(32,3,pad=1) relu maxpool(2) flatten linear(10)\" "
                    "(grammar: docs/MODELS.md)");
  model->add_option("--input-shape", f.input_shape,
                    "C,H,W: how a convolutional model reads each example (default: the images' own; needed for csv)");
  if (training) model->add_flag("--describe", f.describe, "print the network's layers, output shapes and θ layout, and exit");
  model->add_option("--loss", f.loss, "ce (mean cross-entropy) | mse ((1/n)Σ½‖f(x) − onehot(y)‖²)")->capture_default_str();
  model->add_option("--weight-decay", f.weight_decay, "γ of the objective's term γ‖θ‖²")->capture_default_str();
  model->add_option("--init", f.init, "pytorch | xavier | he")->capture_default_str();
  model->add_option("--seed", f.seed, "seed of the initialization, minibatches and stochastic plugins")
      ->capture_default_str();
  if (training) model->add_option("--init-params", f.init_params, "θ₀ from a .npy file (flat PyTorch parameter order)");
  model->add_option("--toy", f.toy,
                    "instead of a model: one of the paper's toys (quadratic, tanh_quadratic, linear_neuron, tanh_neuron)");
  if (training) model->add_option("--theta0", f.theta0, "θ₀ of a toy, e.g. 13,0.01 (default 1,1)");
}

void add_train_flags(CLI::App& app, TrainFlags& f) {
  add_data_flags(app, f);
  add_model_flags(app, f, /*training=*/true);
  auto* opt = app.add_option_group("Optimizer");
  opt->add_option("--optimizer", f.optimizer, "gd | momentum | nesterov | rmsprop | adam | adamw")->capture_default_str();
  opt->add_option("--lr", f.lr, "step size η: a number or a fraction such as 2/15")->capture_default_str();
  opt->add_option("--momentum", f.momentum, "μ of momentum and nesterov")->capture_default_str();
  opt->add_option("--beta1", f.beta1, "Adam's β₁")->capture_default_str();
  opt->add_option("--beta2", f.beta2, "Adam's β₂")->capture_default_str();
  opt->add_option("--eps", f.eps, "ε of RMSProp and Adam")->capture_default_str();
  opt->add_option("--alpha", f.alpha, "RMSProp's α")->capture_default_str();
  opt->add_option("--optim-decay", f.optim_decay,
                  fmt::format("the optimizer's weight decay (coupled; decoupled for adamw, default {} there, else 0)",
                              defaults::adamw_decay));
  opt->add_option("--batch-size", f.batch_size, "minibatch size for SGD; 0 = full batch (GD)")->capture_default_str();
  opt->add_option("--schedule", f.schedule, "constant | step:EVERY,GAMMA | cosine | warmup:W")->capture_default_str();

  auto* run = app.add_option_group("Run");
  f.steps_option = run->add_option("--steps", f.steps, "steps (updates) at most")->capture_default_str();
  run->add_option("--epochs", f.epochs, "instead of --steps: epochs (= steps under full-batch GD)");
  run->add_option("--loss-goal", f.loss_goal, "stop once the training loss is at most this");
  run->add_option("--accuracy-goal", f.accuracy_goal, "stop once the training accuracy is at least this (0…1)");
  run->add_option("--divergence-factor", f.divergence_factor,
                  "a loss above this × max(|f(θ₀)|, 1), or not finite, ends the run as diverged")
      ->capture_default_str();
  run->add_option("--plugin", f.plugins,
                  "SPEC[@K|@epoch], repeatable: an analysis plugin (see `eoslab plugins`), every K steps (default 1) "
                  "or at the end of each epoch");
  run->add_option("--save-every", f.save_every, "record θ every K steps into OUT/trajectory (0: none)")
      ->capture_default_str();
  run->add_option("--out", f.out, "output directory")->capture_default_str();
  run->add_option("--threads", f.threads, kThreadsHelp)->capture_default_str();
  run->add_option("--checkpoint-every", f.checkpoint_every,
                  "N steps, Ts seconds or off: how often the run's state is saved to OUT/checkpoint.eos for --resume")
      ->capture_default_str();
  run->add_option("--resume", f.resume,
                  "DIR: continue the run in DIR (killed, or stopped) from its checkpoint, bit for bit as if it had "
                  "never stopped; no other flag but --quiet");
  run->add_flag("--force", f.force,
                "replace the run in --out: first removes the files eoslab wrote there (listed in its "
                "eoslab-files.json), never anything else");
  run->add_flag("--quiet", f.quiet, "no progress line");
}

// --arch / --model / --input-shape, checked against the data's example shape
// now (a header read), so that a bad layer list is a usage error before
// anything is loaded or written.
void network_flags(const TrainFlags& f, nn::ObjectiveSpec& m) {
  if (!f.input_shape.empty()) m.data.input_shape = parse_widths("--input-shape", f.input_shape);
  if (f.arch.empty() && f.model.empty()) return;
  if (!f.arch.empty() && !f.model.empty()) throw UsageError("--arch and --model: give one of them");
  const char* flag = f.arch.empty() ? "--model" : "--arch";
  for (const CLI::Option* o : {f.widths_option, f.activation_option, f.no_bias_option})
    if (o->count() > 0)
      throw UsageError(fmt::format("{} with {}: {} is the MLP's; the network is the {} (write it as --model to change a layer)",
                                   flag, o->get_name(), o->get_name(), f.arch.empty() ? "layer list" : "architecture's"));
  m.arch = f.arch;
  m.model = f.model;
  try {
    const std::string text = f.arch.empty() ? f.model : nn::arch_model(f.arch, 10);
    Shape input;
    try {
      input = data::example_shape(m.data, data::dataset_dim(m.data));
    } catch (const std::exception&) {
      return;  // the data cannot be read yet: the load reports it
    }
    (void)nn::parse_model(text, input);
  } catch (const nn::ModelSyntaxError& e) {
    throw UsageError(fmt::format("{} {}: {}", flag, quote_input(f.arch.empty() ? f.model : f.arch), e.what()));
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--input-shape: {}", e.what()));
  }
}

// The flags of the Data and Model groups → what to optimize.
void objective_flags(const TrainFlags& f, RunConfig& c) {
  auto& m = c.objective.model;
  parse_data(f.data, m.data);
  if (f.split != "train" && f.split != "test")
    throw UsageError(fmt::format("--split '{}': expected train or test", f.split));
  m.data.split = f.split;
  m.data.n = f.n == "all" ? 0 : parse_count("--n", f.n, 1);
  if (m.data.source == "gaussian_clusters" && m.data.n == 0)
    throw UsageError("--n all: synthetic data needs a number of examples");
  if (f.standardize != "subset" && f.standardize != "none")
    throw UsageError(fmt::format("--standardize '{}': expected subset or none", f.standardize));
  m.data.standardize = f.standardize == "subset";
  m.data.seed = parse_count("--seed", f.seed, 0);

  network_flags(f, m);
  m.hidden = parse_widths("--widths", f.widths);
  try {
    (void)nn::parse_activation(f.activation);
  } catch (const std::exception&) {
    throw UsageError(fmt::format("--activation '{}': expected tanh, relu, elu, softplus, gelu, sigmoid, hardtanh, "
                                 "leaky_relu, selu or identity",
                                 f.activation));
  }
  m.activation = f.activation;
  m.bias = !f.no_bias;
  if (f.loss != "ce" && f.loss != "mse") throw UsageError(fmt::format("--loss '{}': expected ce or mse", f.loss));
  m.loss = f.loss;
  m.weight_decay = parse_number("--weight-decay", f.weight_decay);
  if (m.weight_decay < 0) throw UsageError(fmt::format("--weight-decay '{}': must be ≥ 0", f.weight_decay));
  if (f.init != "pytorch" && f.init != "xavier" && f.init != "he")
    throw UsageError(fmt::format("--init '{}': expected pytorch, xavier or he", f.init));
  m.init = f.init;
  m.init_seed = m.data.seed;
  c.objective.init_params = f.init_params;
  if (!f.toy.empty()) {
    static const char* toys[] = {"quadratic", "tanh_quadratic", "linear_neuron", "tanh_neuron"};
    if (std::find(std::begin(toys), std::end(toys), f.toy) == std::end(toys))
      throw UsageError(fmt::format("--toy '{}': expected quadratic, tanh_quadratic, linear_neuron or tanh_neuron", f.toy));
    c.objective.toy = f.toy;
    if (!f.theta0.empty()) {
      c.objective.toy_theta0 = parse_numbers("--theta0", f.theta0);
      if (c.objective.toy_theta0.size() != 2)
        throw UsageError(fmt::format("--theta0 '{}': the toys have 2 parameters", f.theta0));
    }
  } else if (!f.theta0.empty()) {
    throw UsageError("--theta0 is for --toy; a model's θ₀ comes from --init/--seed or --init-params");
  }
}

// The Optimizer group.
void optimizer_flags(const TrainFlags& f, RunConfig& c) {
  auto& o = c.optimizer;
  o.name = f.optimizer;
  o.lr_text = f.lr;
  o.lr = parse_step_size("--lr", f.lr);
  o.momentum = parse_number("--momentum", f.momentum);
  o.beta1 = parse_number("--beta1", f.beta1);
  o.beta2 = parse_number("--beta2", f.beta2);
  o.eps = parse_number("--eps", f.eps);
  o.alpha = parse_number("--alpha", f.alpha);
  if (!f.optim_decay.empty()) o.decay = parse_number("--optim-decay", f.optim_decay);
  o.schedule = f.schedule;
  (void)make_optimizer(o, 1);  // validates the name, the schedule and the hyperparameters now
}

// The Run group: how long, what to record, where.
void run_flags(const TrainFlags& f, RunConfig& c) {
  c.batch_size = parse_count("--batch-size", f.batch_size, 0);

  c.steps = parse_count("--steps", f.steps, 1);
  if (!f.epochs.empty()) {
    if (f.steps_option->count() > 0)
      throw UsageError("--steps and --epochs: give one of them");
    c.epochs = parse_count("--epochs", f.epochs, 1);
  }
  if (!f.loss_goal.empty()) c.loss_goal = parse_number("--loss-goal", f.loss_goal);
  if (!f.accuracy_goal.empty()) {
    c.accuracy_goal = parse_number("--accuracy-goal", f.accuracy_goal);
    if (*c.accuracy_goal < 0 || *c.accuracy_goal > 1)
      throw UsageError(fmt::format("--accuracy-goal '{}': expected a fraction in [0, 1]", f.accuracy_goal));
    if (!c.objective.toy.empty()) throw UsageError("--accuracy-goal: a toy has no accuracy");
  }
  c.divergence_factor = parse_number("--divergence-factor", f.divergence_factor);
  if (!(c.divergence_factor > 0))
    throw UsageError(fmt::format("--divergence-factor '{}': must be positive", f.divergence_factor));
  for (const auto& p : f.plugins) c.plugins.push_back(parse_plugin("--plugin", p));
  c.save_every = parse_count("--save-every", f.save_every, 0);
  if (f.out.empty()) throw UsageError("--out: empty directory name");
  c.out = f.out;
  c.threads = parse_count("--threads", f.threads, 0);
  c.force = f.force;
  c.checkpoint_text = f.checkpoint_every;
  c.checkpoint = parse_checkpoint_every("--checkpoint-every", f.checkpoint_every);
  c.quiet = f.quiet;
  c.describe = f.describe;
}

RunConfig to_config(const TrainFlags& f) {
  RunConfig c;
  objective_flags(f, c);
  optimizer_flags(f, c);
  run_flags(f, c);
  return c;
}

// An empty argument ("" from an unset shell variable) sends CLI11 2.1 into an
// endless loop (it matches the nameless option groups as a subcommand; found
// by fuzz_cli_values): refused by position before CLI11 sees it.
void refuse_empty_arguments(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].empty())
      throw UsageError(fmt::format("argument {} is empty{} (an unset shell variable?)", i + 1,
                                   i > 0 ? fmt::format(", after {}", quote_input(args[i - 1])) : ""));
    // Every argument is recorded in JSON (command.json, summary.json): UTF-8 only.
    if (!valid_utf8(args[i]))
      throw UsageError(fmt::format("argument {} {}{} is not valid UTF-8 (eoslab records its command line in JSON)", i + 1,
                                   quote_input(args[i]), i > 0 ? fmt::format(", after {}", quote_input(args[i - 1])) : ""));
  }
}

// CLI11 parses a vector given in reverse order.
void parse_vector(CLI::App& app, std::vector<std::string> args) {
  refuse_empty_arguments(args);
  std::reverse(args.begin(), args.end());
  app.parse(args);
}

}  // namespace

std::string train_defaults_markdown() {
  CLI::App app("eoslab train", "eoslab train");
  TrainFlags f;
  add_train_flags(app, f);
  std::string md;
  for (const CLI::App* group : app.get_subcommands([](CLI::App*) { return true; })) {  // the option groups
    md += fmt::format("\n### {}\n\n| flag | default | meaning |\n|---|---|---|\n", group->get_group());
    for (const CLI::Option* opt : group->get_options()) {
      if (opt->get_name() == "--help") continue;
      std::string meaning = opt->get_description();
      for (auto& c : meaning) if (c == '|') c = '/';
      const std::string def = opt->get_default_str();
      md += fmt::format("| `{}` | {} | {} |\n", opt->get_name(), def.empty() ? "—" : "`" + def + "`", meaning);
    }
  }
  return md;
}

RunConfig parse_train_args(const std::vector<std::string>& args) {
  CLI::App app("eoslab train", "eoslab train");
  TrainFlags f;
  add_train_flags(app, f);
  try {
    parse_vector(app, args);
  } catch (const CLI::ParseError& e) {
    throw UsageError(fmt::format("eoslab train: {}", e.what()));
  }
  RunConfig c = to_config(f);
  c.command = {"eoslab", "train"};
  c.command.insert(c.command.end(), args.begin(), args.end());
  return c;
}

RunConfig resume_config(const std::string& dir) {
  const std::filesystem::path path = std::filesystem::path(dir) / "command.json";
  std::ifstream in(path);
  if (!in) {
    const nlohmann::json list = RunFolder::list_of(dir);  // a run killed before it wrote command.json
    if (!list.is_null() && list.value("kind", "") == "train")
      throw UsageError(fmt::format("--resume {}: the run there was stopped before it began (no {}, nothing to "
                                   "resume): start it again with `{}`",
                                   dir, path.string(), list.value("command", "eoslab train ...")));
    throw UsageError(fmt::format("--resume {}: no {} (a directory written by `eoslab train`, version 0.1 or later)",
                                 dir, path.string()));
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("--resume {}: {} is not JSON ({})", dir, path.string(), e.what()));
  }
  if (!j.is_object() || !j.contains("argv") || !j.at("argv").is_array() || j.at("argv").size() < 2)
    throw UsageError(fmt::format("--resume {}: {} has no 'argv' list", dir, path.string()));
  std::vector<std::string> argv;
  for (const auto& a : j.at("argv")) {
    if (!a.is_string()) throw UsageError(fmt::format("--resume {}: {}: 'argv' holds a non-string", dir, path.string()));
    argv.push_back(a.get<std::string>());
  }
  if (argv[0] != "eoslab" || argv[1] != "train")
    throw UsageError(fmt::format("--resume {}: {} is not an `eoslab train` command", dir, path.string()));
  RunConfig c;
  try {
    c = parse_train_args(std::vector<std::string>(argv.begin() + 2, argv.end()));
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--resume {}: the recorded command no longer parses: {}", dir, e.what()));
  }
  // A run started with --threads 0 took the machine's cores: resume on as
  // many threads, so that a machine with other cores sums in the same order
  // and the resumed run stays bit for bit the uninterrupted one.
  if (c.threads == 0 && j.contains("threads_per_rank")) {
    const auto& t = j.at("threads_per_rank");
    if (!t.is_number_unsigned() || t.get<std::size_t>() == 0)
      throw UsageError(fmt::format("--resume {}: {}: 'threads_per_rank' is not a positive integer", dir, path.string()));
    c.threads = t.get<std::size_t>();
  }
  c.command = argv;
  c.out = dir;  // the directory may have moved since
  c.resume = true;
  return c;
}

namespace {

void add_analyze_flags(CLI::App& analyze, AnalyzeArgs& aa, TrainFlags& objective) {
  analyze.add_option("dir", aa.dir, "a run directory (with trajectory/) or a trajectory directory");
  analyze.add_option("--plugin", aa.plugins, "SPEC, repeatable: plugins to run at every recorded step")->required();
  auto* files = analyze.add_option_group("θ files trained elsewhere (instead of DIR)");
  files->add_option("--theta", aa.theta,
                    "FILE, GLOB or a comma-separated LIST (repeatable): θ as flat .npy (float64 or float32), 2-D .npy "
                    "[steps, d] (a θ per row) or .npz (an array per step, in the archive's order); a glob's matches "
                    "in natural order (theta_2 before theta_10); the objective comes from the Data and Model flags");
  files->add_option("--steps", aa.steps,
                    "the step of each θ, e.g. 0,10,20 or every:10 (default: numbered 0, 1, 2, … by position, and no "
                    "two taken as consecutive steps)");
  files->add_option("--lr", aa.lr, "the step size η the θs were trained with: a number or a fraction such as 2/15")
      ->capture_default_str();
  files->add_option("--batch-size", aa.batch_size, "the minibatch size they were trained with (0: full batch, GD)")
      ->capture_default_str();
  add_data_flags(analyze, objective);
  add_model_flags(analyze, objective, /*training=*/false);
  analyze.add_option("--out", aa.out, "output directory (default DIR/analysis; with --theta, eoslab-analysis)");
  analyze.add_option("--threads", aa.threads, kThreadsHelp)->capture_default_str();
  analyze.add_flag("--quiet", aa.quiet, "no progress line");
  analyze.add_flag("--force", aa.force,
                   "replace the analysis of another trajectory that --out holds (only the files eoslab wrote "
                   "there are removed); an earlier analysis of this trajectory is always replaced");
}

void add_reproduce_flags(CLI::App& reproduce, ReproduceArgs& ra) {
  reproduce.add_option("name", ra.name, "a preset (see --list) or 'all'");
  reproduce.add_flag("--list", ra.list, "list the presets");
  reproduce.add_flag("--quick", ra.quick, "shorter runs that finish in minutes");
  reproduce.add_option("--out", ra.out, "output directory (default eoslab-reproduce)");
  reproduce.add_option("--data", ra.data, "dataset of the network presets (default fashion-mnist)");
  reproduce.add_option("--threads", ra.threads, kThreadsHelp)->capture_default_str();
  reproduce.add_flag("--quiet", ra.quiet, "no progress lines");
  reproduce.add_flag("--force", ra.force, "rerun runs whose finished outputs exist in --out");
  reproduce.add_flag("--dry-run", ra.dry_run, "check and print every run's `eoslab train` command, run nothing");
}

// `eoslab train --resume DIR`: the run continues as it was started, its
// flags from DIR/command.json; no other flag but --quiet.
RunConfig resumed_train(CLI::App& train, const TrainFlags& tf) {
  for (const CLI::App* group : train.get_subcommands([](CLI::App*) { return true; }))  // the option groups
    for (const CLI::Option* opt : group->get_options())
      if (opt->count() > 0 && opt->get_name() != "--resume" && opt->get_name() != "--quiet")
        throw UsageError(fmt::format("--resume {}: {} cannot be combined with it (the run continues with the flags it "
                                     "was started with, recorded in {}/command.json); only --quiet can",
                                     tf.resume, opt->get_name(), tf.resume));
  RunConfig c = resume_config(tf.resume);
  c.quiet = tf.quiet;
  return c;
}

// `eoslab analyze`: DIR, or --theta with the objective from the Data and
// Model flags; those flags mean nothing beside DIR (its manifest says).
AnalyzeArgs analyze_args(CLI::App& analyze, AnalyzeArgs a, const TrainFlags& objective) {
  std::vector<std::string> given;  // Data, Model and θ-file flags on the command line
  for (const CLI::App* group : analyze.get_subcommands([](CLI::App*) { return true; }))
    for (const CLI::Option* opt : group->get_options())
      if (opt->count() > 0 && opt->get_name() != "--theta") given.push_back(opt->get_name());
  if (a.theta.empty()) {
    if (a.dir.empty())
      throw UsageError("eoslab analyze: give a run directory (DIR, written by `eoslab train --save-every K`) or θ "
                       "files with --theta FILE|GLOB|LIST");
    if (!given.empty())
      throw UsageError(fmt::format("{} with {}: a run directory's objective, step size and steps come from its "
                                   "manifest; the Data, Model and θ-file flags are for --theta",
                                   a.dir, given.front()));
    return a;
  }
  if (!a.dir.empty())
    throw UsageError(fmt::format("{} and --theta: give a run directory or θ files, not both", a.dir));
  RunConfig c;
  objective_flags(objective, c);
  a.objective = c.objective;
  a.lr_value = parse_step_size("--lr", a.lr);
  a.batch_size_value = parse_count("--batch-size", a.batch_size, 0);
  a.seed = c.objective.model.data.seed;
  if (a.steps.starts_with("every:")) {
    a.steps_every = parse_count("--steps every:K", a.steps.substr(6), 1);
  } else if (!a.steps.empty()) {
    std::vector<std::size_t> steps;
    std::size_t start = 0;
    while (start <= a.steps.size()) {
      const std::size_t comma = std::min(a.steps.find(',', start), a.steps.size());
      steps.push_back(parse_count("--steps", a.steps.substr(start, comma - start), 0));
      start = comma + 1;
    }
    a.step_list = std::move(steps);
  }
  return a;
}

int print_defaults() {
  fmt::print("# Defaults of `eoslab train`\n\nFrom core/defaults.hpp, the one table that the flags, the library's specs "
             "(data::DataSpec, nn::ObjectiveSpec, analysis::TrainerOptions) and this page read: an omitted flag and "
             "an omitted field of an objective spec mean the same. Made by `eoslab defaults`.\n{}",
             train_defaults_markdown());
  return 0;
}

}  // namespace

int run_command_line(int argc, char** argv, const Commands& commands) {
  CLI::App app("eoslab: why gradient descent converges past the 2/L step size — train, analyse, reproduce "
               "Ahn, Zhang & Sra (2022), and plot",
               "eoslab");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");
  app.footer("Exit codes: 0 success (a diverged run is a result, not an error), 1 runtime failure, 2 bad input.");
  TrainFlags tf, analyze_objective, spec_flags;
  AnalyzeArgs aa;
  ReproduceArgs ra;
  PlotArgs pa;
  std::string plugin_name;
  auto* train = app.add_subcommand("train", "train a model (or a toy) with analysis plugins attached");
  add_train_flags(*train, tf);
  auto* analyze = app.add_subcommand("analyze", "run plugins offline on a recorded trajectory, or on θ files trained elsewhere (--theta)");
  add_analyze_flags(*analyze, aa, analyze_objective);
  auto* spec = app.add_subcommand("spec", "print the objective spec JSON that `eoslab train` flags mean (what a "
                                          "trajectory's manifest records as objective_spec); writes nothing");
  add_train_flags(*spec, spec_flags);
  auto* reproduce = app.add_subcommand("reproduce", "run a preset that reproduces one result of the paper, or all");
  add_reproduce_flags(*reproduce, ra);
  auto* plot = app.add_subcommand("plot", "draw a run's figures (PNG + SVG + the gnuplot script) with gnuplot");
  plot->add_option("dir", pa.dir, "a run directory (with metrics.csv)")->required();
  plot->add_option("--out", pa.out, "where the figures go (default DIR/figures)");
  auto* defaults = app.add_subcommand("defaults", "the default of every `eoslab train` flag (= of every omitted "
                                                 "field of an objective spec), as a markdown table");
  auto* plugins = app.add_subcommand("plugins", "list the analysis plugins, their options and columns");
  plugins->add_option("name", plugin_name, "one plugin");

  const std::vector<std::string> known = {"train", "analyze", "spec", "reproduce", "plot", "plugins", "defaults"};
  if (argc > 1 && argv[1][0] != '-' && std::find(known.begin(), known.end(), argv[1]) == known.end()) {
    fmt::print(stderr, "eoslab: unknown command '{}' (expected train, analyze, spec, reproduce, plot, plugins or "
                       "defaults; see 'eoslab --help')\n", argv[1]);
    return 2;
  }
  refuse_empty_arguments(std::vector<std::string>(argv + 1, argv + argc));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "eoslab: {}\nRun 'eoslab --help' or 'eoslab <command> --help' for usage.\n", e.what());
    return 2;
  }
  if (train->parsed() && !tf.resume.empty()) return commands.train(resumed_train(*train, tf));
  if (train->parsed()) {
    RunConfig c = to_config(tf);
    c.command = std::vector<std::string>(argv, argv + argc);
    c.command[0] = "eoslab";
    return commands.train(c);
  }
  if (analyze->parsed()) {
    aa.command = std::vector<std::string>(argv, argv + argc);
    aa.command[0] = "eoslab";
    return commands.analyze(analyze_args(*analyze, aa, analyze_objective));
  }
  if (spec->parsed()) {
    const RunConfig c = to_config(spec_flags);
    fmt::print("{}\n", nlohmann::json::parse(c.objective.manifest_json()).dump(2));
    return 0;
  }
  if (reproduce->parsed()) return commands.reproduce(ra);
  if (plot->parsed()) return commands.plot(pa);
  if (plugins->parsed()) return commands.plugins(plugin_name);
  if (defaults->parsed()) return print_defaults();
  return 2;
}

}  // namespace eos::cli
