// The one place eoslab talks MPI: a communicator whose reductions give every
// rank the same bits, contiguous shards of the examples, and an abort that
// names the rank. (Open MPI from Debian; the library proper never includes
// <mpi.h>.)
#pragma once

#include <mpi.h>

#include <cstddef>
#include <string>

namespace eos::mpi {

// MPI_Init for the lifetime of main() (MPI_Finalize at the end), or nothing
// when MPI is already initialized.
class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  bool owns_ = false;
};

class Communicator {
 public:
  explicit Communicator(MPI_Comm comm = MPI_COMM_WORLD);
  int rank() const { return rank_; }
  int size() const { return size_; }
  // data ← Σ over ranks, in place. The sum is formed on rank 0 and broadcast
  // from there, so every rank holds identical bits (MPI_Allreduce does not
  // promise that) and ranks running the same optimizer never drift apart.
  void sum(double* data, std::size_t n) const;
  double sum(double value) const;
  std::size_t max(std::size_t value) const;
  void broadcast(double* data, std::size_t n, int root = 0) const;
  // The root's text, on every rank.
  std::string broadcast(const std::string& text, int root = 0) const;
  // Ends the whole job after printing "eoslab (rank R of P): MESSAGE" on
  // stderr: the other ranks are killed, not left waiting in a collective.
  [[noreturn]] void abort(const std::string& message, int code = 1) const;
  MPI_Comm handle() const { return comm_; }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

// Rows [first, first + count) of n examples held by `rank` of `size`:
// contiguous blocks, the first n mod size ranks one row longer.
struct Shard {
  std::size_t first = 0, count = 0;
};
Shard shard_of(std::size_t n, int rank, int size);

}  // namespace eos::mpi
