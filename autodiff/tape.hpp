// The tape: a flat vector of nodes in topological order (creation order), and
// the Var handle that user code composes. Ops run eagerly when a Var is made;
// the sweeps (tangents forward, adjoints and adjoint-tangents backward) are
// loops over the vector.
//
// clear() keeps every node and its buffers, so a training loop that rebuilds
// the same graph each step reuses the same memory.
#pragma once

#include <cstdint>
#include <vector>

#include "../core/tensor.hpp"
#include "op.hpp"

namespace eos {
// A Var used with the wrong tape, after clear(), or a call on the tape that
// its current state does not allow (e.g. grad of a non-scalar output).
struct TapeError : std::logic_error {
  using std::logic_error::logic_error;
};
}  // namespace eos

namespace eos::ad {

class Tape;
class Float32Products;  // float32_products.hpp

// A handle to a node: (tape, index, generation). A Var outlives clear() only
// as a stale handle; using it throws TapeError.
class Var {
 public:
  Var() = default;
  Tape* tape() const { return tape_; }
  std::uint32_t index() const { return index_; }
  std::uint32_t generation() const { return gen_; }
  bool valid() const { return tape_ != nullptr; }
  // Convenience accessors (checked).
  const Tensor& value() const;
  Shape shape() const;
  double item() const;  // the value of a one-element Var

 private:
  friend class Tape;
  Var(Tape* t, std::uint32_t i, std::uint32_t g) : tape_(t), index_(i), gen_(g) {}
  Tape* tape_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint32_t gen_ = 0;
};

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // ---- leaves
  Var variable(const Tensor& value);        // differentiable input (copied)
  Var constant(const Tensor& value);        // non-differentiable input (copied)
  // Non-differentiable input referenced, not copied (e.g. a 5000×784 data
  // matrix each step). `value` must stay alive and unchanged while used.
  Var constant_view(const Tensor& value);
  // Differentiable input referenced, not copied (θ for one gradient): the
  // same lifetime rule as constant_view.
  Var variable_view(const Tensor& value);

  // ---- building: used by the op functions in ops.hpp. Runs forward now.
  // `set_params` fills the node's parameters of type P (kept from the node's
  // last use when it held a P: no allocation in a loop).
  template <class P, class SetParams>
  Var apply(const OpDef& op, Var a, Var b, SetParams&& set_params) {
    std::uint32_t i = begin_node(op, a, b);
    try {
      P* p = std::get_if<P>(&nodes_[i].params);
      if (p == nullptr) p = &nodes_[i].params.template emplace<P>();
      set_params(*p);
      run_forward(i);
    } catch (...) {
      --size_;
      throw;
    }
    return Var(this, i, generation_);
  }
  Var apply(const OpDef& op, Var a, Var b = Var()) {
    return apply<std::monostate>(op, a, b, [](std::monostate&) {});
  }

  // ---- reading
  const Tensor& value(Var v) const;
  const Tensor& tangent(Var v) const;          // after propagate_tangents
  const Tensor& adjoint(Var v) const;          // after backward
  const Tensor& adjoint_tangent(Var v) const;  // after backward with tangents
  // Moves v's adjoint into `into` by swapping buffers (no copy; the tape
  // keeps `into`'s old buffer, and v's adjoint is unspecified until the next
  // backward).
  void take_adjoint(Var v, Tensor& into);
  bool requires_grad(Var v) const;
  bool has_tangent(Var v) const;
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return nodes_.size(); }

  // ---- sweeps
  // Forget all tangents (seeded or propagated).
  void reset_tangents();
  // Set the tangent of a variable leaf (shape must match its value).
  void seed_tangent(Var leaf, const Tensor& t);
  // ẏ for every node from the seeded leaf tangents (unseeded leaves: zero).
  void propagate_tangents();
  // Adjoints of every node that `out` depends on, for ȳ_out = seed.
  void backward(Var out, const Tensor& seed);
  void backward(Var out);  // out must have one element; seed 1
  // Adjoint-tangents for ȳ̇_out = seed_tangent, after propagate_tangents. With
  // with_adjoints the adjoints are computed in the same sweep (seed `seed`);
  // without, those of the last backward() are reused (linearized HVPs).
  void backward_tangents(Var out, const Tensor& seed, const Tensor& seed_tangent,
                         bool with_adjoints);

  // Registers with `f32` every live node's value and adjoint: the buffers a
  // tangent sweep reads but never writes (op caches are scratch there).
  void keep_fixed_buffers(Float32Products& f32) const;

  // Drop all nodes but keep their memory. Every existing Var becomes stale.
  void clear();

  // Throws TapeError unless v belongs to this tape's current generation.
  void check(Var v, const char* what) const;

 private:
  struct Node {
    const OpDef* op = nullptr;  // null: leaf
    std::uint32_t in[2] = {0, 0};
    bool needs_grad = false;    // depends on a variable leaf
    bool has_tangent = false;
    OpParams params;
    Tensor value, cache, tangent, adjoint, adjoint_tangent;
    const Tensor* external = nullptr;  // constant_view storage
    const Tensor& val() const { return external ? *external : value; }
  };

  std::uint32_t begin_node(const OpDef& op, Var a, Var b);
  std::uint32_t new_leaf(bool differentiable);
  void run_forward(std::uint32_t i);
  OpCall call_for(std::uint32_t i);
  void vjp_tangent(std::uint32_t i, OpCall& c);
  // The reverse sweep from `root`, whose adjoint is already seeded.
  void sweep_adjoints(std::uint32_t root);
  // Before the first write to an input's adjoint (or adjoint-tangent) buffer
  // in a sweep: shape it, and zero it unless `op` assigns fresh buffers.
  void prepare_input(std::uint32_t input, const OpDef& op, Tensor& buf, std::vector<char>& written, bool& fresh);
  void check_seed(Var out, const Tensor& seed, const char* what) const;

  std::vector<Node> nodes_;  // nodes_[0, size_) are live
  std::uint32_t size_ = 0;
  std::uint32_t generation_ = 1;
  std::uint32_t adjoint_root_ = UINT32_MAX;  // `out` of the last backward
  std::vector<char> written_, written_tangent_;  // per node: buffer written in this sweep
};

// The tape a Var lives on, for an op about to record on it; TapeError naming
// `op` for an empty (default-constructed) Var. Every op builder starts here.
Tape& tape_of(Var v, const char* op);

}  // namespace eos::ad
