// The Python module `eoslab`: the library's objective, exact HVPs, Lanczos
// eigenvalues, trace and spectral density, and its analysis plugins over θ
// from numpy (analyze) or a training run (train). Keywords are `eoslab
// train`'s flags (widths=[200, 200] is --widths 200,200), parsed by the
// command line's own parser, so defaults and error messages are the same.
// Arrays: θ and v are read as float64 (copied into the library's tensor);
// results are returned as numpy arrays that own the library's buffers (no
// copy). Every computation releases the GIL; train and analyze check for
// Ctrl-C after each step and raise KeyboardInterrupt.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include <eoslab.hpp>

#include "eoslab/flags.hpp"
#include "eoslab/parallel.hpp"
#include "eoslab/run.hpp"

namespace py = pybind11;
using namespace eos;

namespace {

using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

// A 1-D float64 array of `dim` entries (any float dtype is converted).
Tensor to_tensor(const py::handle& obj, const char* what, std::optional<std::size_t> dim = {}) {
  const Array a = Array::ensure(obj);
  if (!a) throw py::type_error(fmt::format("{}: expected a 1-D array of numbers", what));
  if (a.ndim() != 1) throw py::value_error(fmt::format("{}: expected a 1-D array, got {} dimensions", what, a.ndim()));
  if (dim && std::size_t(a.shape(0)) != *dim)
    throw py::value_error(fmt::format("{}: {} entries, the objective has {}", what, a.shape(0), *dim));
  Tensor t = Tensor::from_shape({std::size_t(a.shape(0))});
  std::copy(a.data(), a.data() + a.shape(0), t.data());
  return t;
}

// A numpy array that owns the tensor (moved to the heap, freed with the array).
py::array to_numpy(Tensor&& t) {
  auto* owned = new Tensor(std::move(t));
  py::capsule free_it(owned, [](void* p) { delete static_cast<Tensor*>(p); });
  std::vector<py::ssize_t> shape(owned->shape().begin(), owned->shape().end());
  return py::array_t<double>(shape, owned->data(), free_it);
}

py::array to_numpy(const std::vector<double>& v) {
  py::array_t<double> a(py::ssize_t(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

// Python keyword → `eoslab train` flag: n=5000 → --n 5000, widths=[200, 200]
// → --widths 200,200, no_bias=True → --no-bias; None is omitted.
void append_flag(std::vector<std::string>& args, const std::string& key, const py::handle& value) {
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  if (value.is_none()) return;
  if (py::isinstance<py::bool_>(value)) {
    if (key != "no_bias") throw py::type_error(fmt::format("{}: expected a number or text, got a bool", key));
    if (value.cast<bool>()) args.push_back(flag);
    return;
  }
  std::string text;
  if (py::isinstance<py::str>(value)) {
    text = value.cast<std::string>();
  } else if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    for (const auto& item : value) text += (text.empty() ? "" : ",") + py::str(item).cast<std::string>();
    if (text.empty()) text = "none";  // widths=[]: a linear model
  } else {
    text = py::str(value).cast<std::string>();  // numbers: repr-exact
  }
  args.insert(args.end(), {flag, text});
}

// The Data and Model flags an Objective takes (and threads).
const std::vector<std::string>& objective_keys() {
  static const std::vector<std::string> keys = {
      "data", "split", "n", "standardize", "widths", "activation", "no_bias", "arch", "model", "input_shape",
      "loss", "weight_decay", "init", "seed", "init_params", "toy", "theta0", "threads"};
  return keys;
}

// Raises KeyboardInterrupt (or whatever a signal handler raised) in the
// calling thread: called with the GIL released, between steps.
void check_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

class PyObjective {
 public:
  explicit PyObjective(const py::kwargs& kwargs) {
    std::vector<std::string> args;
    std::size_t threads = 0;
    for (const auto& [k, v] : kwargs) {
      const std::string key = k.cast<std::string>();
      if (std::find(objective_keys().begin(), objective_keys().end(), key) == objective_keys().end()) {
        std::string known;
        for (const auto& name : objective_keys()) known += (known.empty() ? "" : ", ") + name;
        throw py::type_error(fmt::format("Objective: no keyword '{}' (the keywords are eoslab train's Data and Model "
                                         "flags: {})",
                                         key, known));
      }
      if (key == "threads") {
        threads = v.cast<std::size_t>();
        continue;
      }
      append_flag(args, key, v);
    }
    const cli::RunConfig c = cli::parse_train_args(args);
    recipe_ = c.objective;
    recipe_.model.threads = cli::threads_per_rank(threads);
    cli::check_memory(recipe_, "gd", {});
    py::gil_scoped_release release;
    built_ = cli::build(recipe_);
  }

  Objective& objective() { return *built_.objective; }
  std::size_t dim() const { return built_.objective->dim(); }
  Tensor theta(const py::handle& obj, const char* what) const { return to_tensor(obj, what, dim()); }
  std::string spec() const { return recipe_.manifest_json(); }
  std::string describe() const { return built_.objective->describe(); }
  py::array theta0() const { return to_numpy(Tensor(built_.theta0)); }
  // (X [n, d], labels [n]) exactly as the objective sees them (loaded,
  // scaled, standardized by the same code): to train on them elsewhere.
  py::tuple data() const {
    if (!recipe_.toy.empty()) throw py::value_error("data(): a toy has no data");
    data::Dataset ds = data::build_dataset(recipe_.model.data);
    py::array_t<std::int64_t> labels(py::ssize_t(ds.labels.size()));
    std::copy(ds.labels.begin(), ds.labels.end(), labels.mutable_data());
    return py::make_tuple(to_numpy(std::move(ds.X)), labels);
  }

  double value(const py::handle& th) {
    const Tensor t = theta(th, "theta");
    py::gil_scoped_release release;
    return objective().value(t);
  }
  py::tuple value_and_grad(const py::handle& th) {
    const Tensor t = theta(th, "theta");
    ValueGrad vg;
    {
      py::gil_scoped_release release;
      vg = objective().value_and_grad(t);
    }
    return py::make_tuple(vg.value, to_numpy(std::move(vg.grad)));
  }
  py::array hvp(const py::handle& th, const py::handle& v) {
    const Tensor t = theta(th, "theta"), u = theta(v, "v");
    Tensor hv;
    {
      py::gil_scoped_release release;
      hv = objective().hvp(t, u);
    }
    return to_numpy(std::move(hv));
  }

 private:
  cli::ObjectiveRecipe recipe_;
  cli::BuiltRun built_;
};

// ∇²f at one θ, linearized once: eigenvalues, trace and density as PyHessian
// users call them, each HVP exact.
class PyHessian {
 public:
  PyHessian(PyObjective& f, const py::handle& th) {
    const Tensor t = f.theta(th, "theta");
    py::gil_scoped_release release;
    H_ = f.objective().hessian_at(t);
  }
  std::size_t dim() const { return H_->dim(); }
  double value() const { return H_->value(); }
  py::array grad() const { return to_numpy(Tensor(H_->grad())); }
  py::array apply(const py::handle& v) {
    const Tensor u = to_tensor(v, "v", dim());
    Tensor out;
    {
      py::gil_scoped_release release;
      H_->apply(u, out);
    }
    return to_numpy(std::move(out));
  }
  std::size_t hvps() const { return H_->applications(); }

  // The top_n largest eigenvalues (descending) and their unit eigenvectors
  // (rows), by Lanczos to relative tolerance tol.
  py::tuple eigenvalues(std::size_t top_n, double tol, std::size_t max_iter, std::uint64_t seed) {
    if (top_n == 0 || top_n > dim()) throw py::value_error(fmt::format("top_n = {}: expected 1 … {}", top_n, dim()));
    if (!(tol > 0)) throw py::value_error(fmt::format("tol = {}: expected a positive tolerance", tol));
    analysis::EigenResult r;
    {
      py::gil_scoped_release release;
      analysis::LanczosOptions o;
      o.k = top_n;
      o.tol = tol;
      o.max_iter = std::max(max_iter, top_n + 2);
      o.seed = seed;
      r = analysis::lanczos_top(*H_, o);
    }
    if (!r.converged)
      throw std::runtime_error(fmt::format("eigenvalues: Lanczos did not reach tol = {} in {} HVPs (residuals {}); "
                                           "raise max_iter",
                                           tol, r.hvps, fmt::join(r.residuals, ", ")));
    py::array_t<double> vectors({py::ssize_t(top_n), py::ssize_t(dim())});
    for (std::size_t i = 0; i < top_n; ++i)
      std::copy(r.vectors[i].begin(), r.vectors[i].end(), vectors.mutable_data() + i * dim());
    return py::make_tuple(to_numpy(r.values), vectors);
  }

  // Hutchinson's estimate of tr ∇²f with Rademacher probes, and its standard error.
  py::tuple trace(std::size_t probes, std::uint64_t seed) {
    if (probes == 0) throw py::value_error("trace: probes must be at least 1");
    std::vector<double> samples;
    {
      py::gil_scoped_release release;
      Rng rng(seed);
      Tensor z = Tensor::from_shape({dim()}), hz;
      for (std::size_t j = 0; j < probes; ++j) {
        for (auto& x : z) x = (rng.next_u64() >> 63) ? 1.0 : -1.0;
        H_->apply(z, hz);
        samples.push_back(inner(z, hz));
      }
    }
    double mean = 0.0, ss = 0.0;
    for (double s : samples) mean += s / double(probes);
    for (double s : samples) ss += (s - mean) * (s - mean);
    const double se = probes > 1 ? std::sqrt(ss / double(probes - 1) / double(probes)) : NAN;
    return py::make_tuple(mean, se);
  }

  // Stochastic Lanczos quadrature (PyHessian's density): per probe, the
  // Ritz nodes and Gauss weights of `steps` Lanczos steps from a Rademacher
  // vector; the density is Σ_probes Σ_k w N(λ; node, σ²) / probes.
  py::tuple density(std::size_t steps, std::size_t probes, std::uint64_t seed) {
    if (probes == 0 || steps == 0) throw py::value_error("density: steps and probes must be at least 1");
    std::vector<analysis::Quadrature1D> q;
    {
      py::gil_scoped_release release;
      Rng rng(seed);
      Tensor z = Tensor::from_shape({dim()});
      for (std::size_t j = 0; j < probes; ++j) {
        for (auto& x : z) x = (rng.next_u64() >> 63) ? 1.0 : -1.0;
        q.push_back(analysis::lanczos_quadrature(*H_, z, std::min(steps, dim())));
      }
    }
    py::list nodes, weights;
    for (const auto& p : q) {
      nodes.append(to_numpy(p.nodes));
      weights.append(to_numpy(p.weights));
    }
    return py::make_tuple(nodes, weights);
  }

 private:
  std::unique_ptr<HessianOperator> H_;
};

py::dict columns_of(const analysis::MetricsTable& t) {
  py::dict out;
  for (const auto& name : t.columns) out[py::str(name)] = to_numpy(t.column(name));
  return out;
}

std::vector<std::unique_ptr<analysis::Plugin>> plugins_of(const std::vector<std::string>& specs, std::size_t batch) {
  std::vector<std::unique_ptr<analysis::Plugin>> plugins;
  for (const auto& text : specs) {
    try {
      plugins.push_back(analysis::PluginRegistry::global().create_from_spec(text));
      plugins.back()->check_run(batch, nullptr);
    } catch (const std::exception& e) {
      throw py::value_error(fmt::format("plugin '{}': {}", text, e.what()));
    }
  }
  return plugins;
}

// The θ of analyze: a 2-D array [steps, d] or a sequence of 1-D arrays.
std::vector<Tensor> thetas_of(const py::handle& obj, std::size_t dim) {
  std::vector<Tensor> out;
  if (py::isinstance<py::array>(obj) && py::array(py::reinterpret_borrow<py::array>(obj)).ndim() == 2) {
    const Array a = Array::ensure(obj);
    if (std::size_t(a.shape(1)) != dim)
      throw py::value_error(fmt::format("thetas: rows of {} entries, the objective has {}", a.shape(1), dim));
    for (py::ssize_t i = 0; i < a.shape(0); ++i) {
      Tensor t = Tensor::from_shape({dim});
      std::copy(a.data(i, 0), a.data(i, 0) + dim, t.data());
      out.push_back(std::move(t));
    }
    return out;
  }
  if (!py::isinstance<py::sequence>(obj))
    throw py::type_error("thetas: expected a 2-D array [steps, d] or a sequence of 1-D arrays");
  std::size_t i = 0;
  for (const auto& item : obj) out.push_back(to_tensor(item, fmt::format("thetas[{}]", i++).c_str(), dim));
  return out;
}

// Every θ finite before any plugin runs (bad input, not a diverged run).
void check_finite(const std::vector<Tensor>& thetas) {
  for (std::size_t i = 0; i < thetas.size(); ++i)
    if (const auto bad = first_non_finite(thetas[i]))
      throw py::value_error(fmt::format("thetas[{}] has a non-finite entry ({} at index {})", i,
                                        thetas[i].data()[*bad], *bad));
}

py::dict analyze(const py::handle& thetas, PyObjective& f, const std::vector<std::string>& plugins,
                 std::optional<std::vector<std::size_t>> steps, const py::handle& lr, std::size_t batch_size,
                 std::uint64_t seed) {
  const double eta = cli::parse_step_size("lr", py::str(lr).cast<std::string>());
  auto ps = plugins_of(plugins, batch_size);
  std::vector<Tensor> all = thetas_of(thetas, f.dim());
  check_finite(all);
  analysis::Trajectory traj;
  try {
    traj = analysis::trajectory_of_thetas(std::move(all), steps, eta, batch_size, seed, f.spec());
  } catch (const std::runtime_error& e) {  // steps that do not fit the θ
    throw py::value_error(e.what());
  }
  analysis::MetricsTable table;
  {
    py::gil_scoped_release release;
    table = analysis::analyze_trajectory(traj, f.objective(), ps, nullptr, "", [](std::size_t) { check_signals(); });
  }
  return columns_of(table);
}

// A training run's result: its columns (r["lambda_max"], r.columns) and how it ended.
struct PyRun {
  py::dict columns;
  std::string outcome, describe;
  std::optional<std::size_t> diverged_at_step;
  std::size_t steps = 0;
  double seconds = 0.0;
  py::array theta;
};

PyRun train(PyObjective& f, const py::handle& lr, std::size_t steps, const std::vector<std::string>& plugins,
            std::optional<std::string> out, const std::string& optimizer, std::size_t batch_size, double momentum,
            std::size_t save_every, std::optional<py::handle> theta0, std::uint64_t seed) {
  cli::OptimizerConfig oc;
  oc.name = optimizer;
  oc.lr_text = py::str(lr).cast<std::string>();
  oc.lr = cli::parse_step_size("lr", oc.lr_text);
  oc.momentum = momentum;
  auto opt = cli::make_optimizer(oc, steps);
  std::vector<std::unique_ptr<analysis::Plugin>> attached;
  std::vector<analysis::When> when;
  for (const auto& text : plugins) {
    const cli::PluginRequest r = cli::parse_plugin("plugin", text);
    auto p = plugins_of({r.spec}, batch_size);
    attached.push_back(std::move(p.front()));
    when.push_back(r.when);
  }
  const Tensor start = theta0 ? f.theta(*theta0, "theta0") : to_tensor(f.theta0(), "theta0");
  // A folder of its own: refused when it holds anything (eoslab never
  // overwrites or deletes a file it did not write; `eoslab train` has --force).
  namespace fs = std::filesystem;
  if (out) {
    std::error_code ec;
    if (fs::exists(*out, ec) && !(fs::is_directory(*out, ec) && fs::is_empty(*out, ec)))
      throw py::value_error(fmt::format("out = {}: exists and is not an empty folder (choose a new one)", *out));
    if (save_every > 0 && f.spec().empty()) throw py::value_error("save_every: the objective has no spec to record");
  }
  analysis::TrainerOptions o;
  o.max_steps = steps;
  o.batch_size = batch_size;
  o.seed = seed;
  if (out) o.plugin_output_dir = *out;
  bool interrupted = false;
  o.stop_requested = [&interrupted] {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) interrupted = true;  // the error stays set: raised after the run's sinks finish
    return interrupted;
  };
  analysis::Trainer trainer(f.objective(), *opt, o);
  for (std::size_t i = 0; i < attached.size(); ++i) trainer.attach(std::move(attached[i]), when[i]);
  std::optional<analysis::MetricsCsvSink> csv;
  std::optional<analysis::SummarySink> summary;
  std::optional<analysis::TrajectorySink> trajectory;
  if (out) {
    fs::create_directories(*out);
    csv.emplace((fs::path(*out) / "metrics.csv").string());
    summary.emplace((fs::path(*out) / "summary.json").string(),
                    nlohmann::json{{"objective_spec", nlohmann::json::parse(f.spec())}, {"from", "eoslab.train (Python)"}});
    trainer.record_to(*csv).record_to(*summary);
    if (save_every > 0) {
      trajectory.emplace((fs::path(*out) / "trajectory").string(), save_every, f.spec());
      trainer.record_to(*trajectory);
    }
  }
  analysis::RunResult r;
  {
    py::gil_scoped_release release;
    r = trainer.run(start);
  }
  if (interrupted) throw py::error_already_set();  // KeyboardInterrupt, with the rows so far in `out`
  PyRun run;
  run.columns = columns_of(r.metrics);
  run.outcome = analysis::to_string(r.outcome);
  run.describe = r.describe();
  run.diverged_at_step = r.diverged_at;
  run.steps = r.steps;
  run.seconds = r.seconds;
  run.theta = to_numpy(std::move(r.theta));
  return run;
}

void bind_objective(py::module_& m) {
  py::class_<PyObjective>(m, "Objective",
                          "f(θ) = mean loss of a model on a data set, as `eoslab train`'s Data and Model flags build "
                          "it: Objective(data='fashion-mnist', n=5000, widths=[200, 200], activation='tanh', "
                          "loss='ce', …); omitted keywords take the flags' defaults (`eoslab defaults`).")
      .def(py::init<const py::kwargs&>())
      .def_property_readonly("dim", &PyObjective::dim, "the number of parameters d")
      .def_property_readonly("theta0", &PyObjective::theta0, "θ₀ of the init (init, seed) or init_params")
      .def_property_readonly("spec", &PyObjective::spec, "the objective spec JSON (what a trajectory manifest records)")
      .def("data", &PyObjective::data, "(X [n, d], labels [n]) as the objective sees them: loaded, scaled, standardized")
      .def("__repr__", [](const PyObjective& f) { return fmt::format("<eoslab.Objective: {}; d = {}>", f.describe(), f.dim()); })
      .def("value", &PyObjective::value, py::arg("theta"), "f(θ)")
      .def("value_and_grad", &PyObjective::value_and_grad, py::arg("theta"), "(f(θ), ∇f(θ))")
      .def("hvp", &PyObjective::hvp, py::arg("theta"), py::arg("v"), "∇²f(θ)·v, exact (forward over reverse)")
      .def(
          "lambda_max",
          [](PyObjective& f, const py::handle& th, std::size_t k, double tol, std::size_t max_iter) -> py::object {
            PyHessian H(f, th);
            const py::tuple r = H.eigenvalues(k, tol, max_iter, 0);
            const py::array values = r[0].cast<py::array>();
            if (k == 1) return py::float_(values.cast<py::array_t<double>>().at(0));
            return values;
          },
          py::arg("theta"), py::arg("k") = 1, py::arg("tol") = 1e-6, py::arg("max_iter") = 300,
          "the largest eigenvalue of ∇²f(θ) (k > 1: the k largest, descending), by Lanczos to relative tol")
      .def(
          "hessian", [](PyObjective& f, const py::handle& th) { return std::make_unique<PyHessian>(f, th); },
          py::arg("theta"), py::keep_alive<0, 1>(), "∇²f at θ, linearized once for many exact HVPs");
}

void bind_hessian(py::module_& m) {
  py::class_<PyHessian>(m, "Hessian", "∇²f at one θ (Objective.hessian(θ)); every HVP exact")
      .def_property_readonly("dim", &PyHessian::dim)
      .def_property_readonly("value", &PyHessian::value, "f(θ)")
      .def_property_readonly("grad", &PyHessian::grad, "∇f(θ)")
      .def_property_readonly("hvps", &PyHessian::hvps, "HVPs applied so far")
      .def("hvp", &PyHessian::apply, py::arg("v"), "∇²f(θ)·v")
      .def("eigenvalues", &PyHessian::eigenvalues, py::arg("top_n") = 1, py::arg("tol") = 1e-6,
           py::arg("max_iter") = 300, py::arg("seed") = 0,
           "(eigenvalues, eigenvectors): the top_n largest, descending, eigenvectors as rows [top_n, d]")
      .def("trace", &PyHessian::trace, py::arg("probes") = 100, py::arg("seed") = 0,
           "(estimate, standard error) of tr ∇²f by Hutchinson with Rademacher probes (standard error NaN for one probe)")
      .def("density", &PyHessian::density, py::arg("steps") = 100, py::arg("probes") = 1, py::arg("seed") = 0,
           "(nodes, weights): per probe, the Ritz values and Gauss weights of stochastic Lanczos quadrature");
}

void bind_runs(py::module_& m) {
  py::class_<PyRun>(m, "Run", "a training run: its columns (run['loss'], run.columns) and how it ended")
      .def_readonly("columns", &PyRun::columns)
      .def_readonly("outcome", &PyRun::outcome)
      .def_readonly("diverged_at_step", &PyRun::diverged_at_step)
      .def_readonly("steps", &PyRun::steps)
      .def_readonly("seconds", &PyRun::seconds)
      .def_readonly("theta", &PyRun::theta, "the last iterate")
      .def("__getitem__", [](const PyRun& r, const std::string& c) -> py::object {
        if (!r.columns.contains(c)) throw py::key_error(fmt::format("no column '{}'", c));
        return r.columns[py::str(c)];
      })
      .def("keys", [](const PyRun& r) { return r.columns.attr("keys")(); })
      .def("__repr__", [](const PyRun& r) { return fmt::format("<eoslab.Run: {}>", r.describe); });

  m.def("analyze", &analyze, py::arg("thetas"), py::arg("objective"),
        py::arg("plugins") = std::vector<std::string>{"sharpness", "rp"}, py::arg("steps") = py::none(),
        py::arg("lr") = py::str(defaults::lr), py::arg("batch_size") = 0, py::arg("seed") = 0,
        "Run analysis plugins (`eoslab plugins` lists them) on θ trained anywhere: thetas is a 2-D array [steps, d] "
        "or a sequence of 1-D arrays in the objective's flat parameter order; steps names their steps (default 0, 1, "
        "2, … with no two taken as consecutive), lr the step size they were trained with. Returns a dict of numpy "
        "columns, one row per θ (NaN where a plugin computed nothing).");
  m.def("train", &train, py::arg("objective"), py::arg("lr") = py::str(defaults::lr),
        py::arg("steps") = defaults::steps, py::arg("plugins") = std::vector<std::string>{},
        py::arg("out") = py::none(), py::arg("optimizer") = std::string(defaults::optimizer),
        py::arg("batch_size") = defaults::batch_size, py::arg("momentum") = defaults::momentum,
        py::arg("save_every") = 0, py::arg("theta0") = py::none(), py::arg("seed") = defaults::seed,
        "Train from objective.theta0 (or theta0) with plugins ('sharpness@10' as on the command line); out: a new "
        "folder for metrics.csv, summary.json and, with save_every, trajectory/. Returns a Run; divergence is an "
        "outcome, not an error. Ctrl-C stops after the step in flight and raises KeyboardInterrupt.");
}

}  // namespace

PYBIND11_MODULE(eoslab, m) {
  m.doc() = "eoslab: exact Hessian-vector products, sharpness, relative progress and directional smoothness along "
            "gradient-descent trajectories (Ahn, Zhang & Sra 2022). Keywords are `eoslab train`'s flags.";
  // The library's bad-input errors are ValueError with its message (pybind11
  // already maps std::invalid_argument so); everything else RuntimeError.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const cli::UsageError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const NpyError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  bind_objective(m);
  bind_hessian(m);
  bind_runs(m);
  m.def(
      "blas",
      [] {
        const BlasKernel b = blas_kernel();
        py::dict d;
        d["kernel"] = b.kernel;
        d["chosen_by"] = b.chosen_by;
        d["cpu_supports"] = b.cpu_supports;
        d["config"] = b.config;
        return d;
      },
      "Which OpenBLAS kernel runs the matrix products (kernel; chosen_by: OpenBLAS, OPENBLAS_CORETYPE or eoslab), "
      "the one this CPU supports best (cpu_supports), and OpenBLAS's build (config); as in a run's summary.json.");
  // A running interpreter cannot be restarted as `eoslab` restarts itself
  // (core/blas_kernel.hpp): say what to set instead.
  if (const auto faster = faster_blas_kernel())
    if (PyErr_WarnEx(PyExc_RuntimeWarning,
                 fmt::format("eoslab: OpenBLAS runs its slow Prescott kernel on this CPU, which it does not know; "
                             "the CPU supports its {0} kernel, several times faster: set OPENBLAS_CORETYPE={0} "
                             "before starting Python",
                             *faster)
                         .c_str(),
                     1) != 0)
      throw py::error_already_set();  // warnings as errors (python -W error)
}
