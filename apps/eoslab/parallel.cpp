#include "parallel.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <thread>

#include <fmt/format.h>

#ifdef EOS_WITH_MPI
#include "distributed/objective.hpp"
#endif

namespace eos::cli {

namespace {
Job the_job;
#ifdef EOS_WITH_MPI
std::unique_ptr<mpi::Session> the_session;
std::unique_ptr<mpi::Communicator> the_comm;
#endif
}  // namespace

void start_job(int* argc, char*** argv) {
#ifdef EOS_WITH_MPI
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") ||
                        std::getenv("PMIX_RANK") || std::getenv("SLURM_PROCID");
  if (!launched) return;
  the_session = std::make_unique<mpi::Session>(argc, argv);
  the_comm = std::make_unique<mpi::Communicator>();
  the_job = {the_comm->rank(), the_comm->size()};
#else
  (void)argc;
  (void)argv;
#endif
}

const Job& job() { return the_job; }

std::optional<BuiltRun> build_parallel(const ObjectiveRecipe& r) {
#ifdef EOS_WITH_MPI
  if (!the_job.parallel() || !r.toy.empty()) return std::nullopt;
  mpi::DistributedBuild d;
  const std::string what = r.model.data.path.empty() ? r.model.data.source : r.model.data.source + ":" + r.model.data.path;
  try {
    d = mpi::build_distributed_objective(r.model, *the_comm);
  } catch (const data::DataError& e) {
    throw UsageError(fmt::format("--data {}: {}", what, e.what()));
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--data {}: {}", what, e.what()));
  }
  BuiltRun b;
  b.theta0 = std::move(d.theta0);
  b.objective = std::move(d.objective);
  return b;
#else
  (void)r;
  return std::nullopt;
#endif
}

std::size_t threads_per_rank(std::size_t flag) {
  if (flag > 0) return flag;
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, cores / std::size_t(the_job.size));
}

int max_over_ranks(int value) {
#ifdef EOS_WITH_MPI
  if (the_job.parallel()) return int(the_comm->max(std::size_t(value)));
#endif
  return value;
}

void abort_job(const std::string& message, int code) {
#ifdef EOS_WITH_MPI
  if (the_job.parallel()) the_comm->abort(message, code);
#endif
  (void)message;
  (void)code;
}

}  // namespace eos::cli
