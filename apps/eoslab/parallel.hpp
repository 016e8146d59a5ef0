// The command line under mpirun: one process per rank, each running the same
// `eoslab train`; the model objective is data-parallel (distributed/), rank 0
// alone writes files and progress, and an error on any rank ends the job
// with a message naming the rank. Without mpirun (or in a build without
// MPI) this is a job of one process and nothing changes.
#pragma once

#include <optional>
#include <string>

#include "run.hpp"

namespace eos::cli {

struct Job {
  int rank = 0, size = 1;
  bool parallel() const { return size > 1; }
  bool writes() const { return rank == 0; }  // files, progress, messages
};

// Called first in main(): initializes MPI when launched by mpirun/mpiexec
// (Open MPI, MPICH, PMIx or Slurm variables), not otherwise.
void start_job(int* argc, char*** argv);
const Job& job();

// The model objective sharded over the job's ranks; nullopt when the job
// has one process or the recipe is a toy (a toy runs whole on every rank).
std::optional<BuiltRun> build_parallel(const ObjectiveRecipe& recipe);

// The threads each rank computes on: `flag` when positive, else the
// machine's cores shared among the job's ranks (at least 1).
std::size_t threads_per_rank(std::size_t flag);

// The largest of the ranks' values (a job of one: the value itself): every
// rank stops at the same step when any received a signal.
int max_over_ranks(int value);

// In a parallel job: print "eoslab (rank R of P): MESSAGE" and end every
// rank with `code`. Returns only in a job of one process.
void abort_job(const std::string& message, int code);

}  // namespace eos::cli
