// Under mpirun -np 2: rank 1 is given a data directory that does not exist.
// The job must end at once with a message naming rank 1 and the path — not
// hang with rank 0 waiting in a reduction (ctest checks the message and a
// timeout).
#include <exception>

#include <eoslab.hpp>

#include "distributed/objective.hpp"

int main(int argc, char** argv) {
  eos::mpi::Session session(&argc, &argv);
  const eos::mpi::Communicator comm;
  try {
    eos::nn::ObjectiveSpec s;
    s.data = {.source = "gaussian_clusters", .n = 100, .dim = 4, .classes = 2};
    s.hidden = {3};
    if (comm.rank() == 1) {  // this rank alone is given a directory that does not exist
      s.data.source = "idx";
      s.data.path = "/nonexistent/eoslab-data";
    }
    auto built = eos::mpi::build_distributed_objective(s, comm);
    eos::Tensor g;
    built.objective->value_and_grad(built.theta0, g);  // rank 0 would wait here forever
  } catch (const std::exception& e) {
    comm.abort(e.what());
  }
  return 0;
}
