#include "communicator.hpp"

#include <climits>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace eos::mpi {

namespace {
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw std::runtime_error(fmt::format("MPI: {} failed (error {})", what, rc));
}
// MPI counts are ints: long vectors go in pieces.
constexpr std::size_t kPiece = std::size_t(INT_MAX) / 2;
}  // namespace

Session::Session(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // SERIALIZED: the parts of a split batch (nn/batch.hpp) run on threads,
    // and whichever finishes a reduction last calls MPI, one at a time.
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    (void)provided;  // Debian's Open MPI provides MULTIPLE
    owns_ = true;
  }
}

Session::~Session() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

Communicator::Communicator(MPI_Comm comm) : comm_(comm) {
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

void Communicator::sum(double* data, std::size_t n) const {
  if (size_ == 1) return;
  std::vector<double> total(rank_ == 0 ? std::min(n, kPiece) : 0);
  for (std::size_t at = 0; at < n; at += kPiece) {
    const int m = int(std::min(n - at, kPiece));
    check(MPI_Reduce(data + at, rank_ == 0 ? total.data() : nullptr, m, MPI_DOUBLE, MPI_SUM, 0, comm_), "MPI_Reduce");
    if (rank_ == 0) std::copy(total.begin(), total.begin() + m, data + at);
  }
  broadcast(data, n, 0);
}

double Communicator::sum(double value) const {
  sum(&value, 1);
  return value;
}

std::size_t Communicator::max(std::size_t value) const {
  unsigned long long v = value, out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm_), "MPI_Allreduce");
  return std::size_t(out);
}

void Communicator::broadcast(double* data, std::size_t n, int root) const {
  if (size_ == 1) return;
  for (std::size_t at = 0; at < n; at += kPiece)
    check(MPI_Bcast(data + at, int(std::min(n - at, kPiece)), MPI_DOUBLE, root, comm_), "MPI_Bcast");
}

std::string Communicator::broadcast(const std::string& text, int root) const {
  if (size_ == 1) return text;
  unsigned long long n = text.size();
  check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm_), "MPI_Bcast");
  std::string out = rank_ == root ? text : std::string(std::size_t(n), '\0');
  for (std::size_t at = 0; at < out.size(); at += kPiece)
    check(MPI_Bcast(out.data() + at, int(std::min(out.size() - at, kPiece)), MPI_CHAR, root, comm_), "MPI_Bcast");
  return out;
}

void Communicator::abort(const std::string& message, int code) const {
  std::fflush(stdout);
  fmt::print(stderr, "eoslab (rank {} of {}): {}\n", rank_, size_, message);
  std::fflush(stderr);
  MPI_Abort(comm_, code);
  std::abort();  // MPI_Abort does not return; in case an implementation does
}

Shard shard_of(std::size_t n, int rank, int size) {
  const std::size_t p = std::size_t(size), r = std::size_t(rank), base = n / p, extra = n % p;
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

}  // namespace eos::mpi
