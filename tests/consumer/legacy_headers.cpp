// The headers that moved from autodiff/ to core/ in eoslab 0.2 forward from
// their old place for one release: code written against 0.1 still builds.
#include <eoslab/autodiff/npy.hpp>
#include <eoslab/autodiff/objective.hpp>
#include <eoslab/autodiff/random.hpp>
#include <eoslab/autodiff/state_dict.hpp>
#include <eoslab/autodiff/tensor.hpp>

// Uses one name from each: the value type, Rng, StateDict, the npy reader,
// FunctionObjective (now autodiff/function_objective.hpp).
double legacy_headers_work() {
  eos::Rng rng(1);
  eos::StateDict state;
  state.put_integer("n", 1);
  eos::FunctionObjective f("x²", 1, [](eos::ad::Var th) { return eos::ad::sum(eos::ad::square(th)); });
  const eos::Tensor theta = {rng.uniform()};
  (void)&eos::read_npy;
  return f.value(theta) + double(state.integer("n"));
}
