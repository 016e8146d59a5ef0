#include "tape.hpp"

#include "float32_products.hpp"

#include <utility>

#include <fmt/format.h>

namespace eos::ad {

// ---- Var -------------------------------------------------------------------

const Tensor& Var::value() const {
  if (!tape_) throw TapeError("Var::value: the Var is empty (default-constructed)");
  return tape_->value(*this);
}
Shape Var::shape() const {
  const Tensor& v = value();
  return Shape(v.shape().begin(), v.shape().end());
}
double Var::item() const {
  const Tensor& v = value();
  if (v.size() != 1)
    throw ShapeError(fmt::format("Var::item: value has shape {}, expected one element",
                                 shape_str_of(v.shape())));
  return v.data()[0];
}

// ---- Tape: validity ----------------------------------------------------------

void Tape::check(Var v, const char* what) const {
  if (v.tape_ == nullptr)
    throw TapeError(fmt::format("{}: the Var is empty (default-constructed)", what));
  if (v.tape_ != this)
    throw TapeError(fmt::format("{}: the Var belongs to a different tape", what));
  if (v.gen_ != generation_ || v.index_ >= size_)
    throw TapeError(fmt::format(
        "{}: the Var (node {}) is stale: its tape was cleared after it was made", what,
        v.index_));
}

// ---- Tape: building ----------------------------------------------------------

std::uint32_t Tape::new_leaf(bool differentiable) {
  if (size_ == nodes_.size()) nodes_.emplace_back();
  Node& n = nodes_[size_];
  n.op = nullptr;
  n.needs_grad = differentiable;
  n.has_tangent = false;
  n.external = nullptr;
  return size_++;
}

Var Tape::variable(const Tensor& value) {
  std::uint32_t i = new_leaf(true);
  copy_into(nodes_[i].value, value);
  return Var(this, i, generation_);
}

Var Tape::constant(const Tensor& value) {
  std::uint32_t i = new_leaf(false);
  copy_into(nodes_[i].value, value);
  return Var(this, i, generation_);
}

Var Tape::variable_view(const Tensor& value) {
  std::uint32_t i = new_leaf(true);
  nodes_[i].external = &value;
  return Var(this, i, generation_);
}

Var Tape::constant_view(const Tensor& value) {
  std::uint32_t i = new_leaf(false);
  nodes_[i].external = &value;
  return Var(this, i, generation_);
}

std::uint32_t Tape::begin_node(const OpDef& op, Var a, Var b) {
  check(a, op.name);
  if (op.arity == 2) check(b, op.name);
  std::uint32_t i = new_leaf(false);
  Node& n = nodes_[i];
  n.op = &op;
  n.in[0] = a.index_;
  n.in[1] = op.arity == 2 ? b.index_ : a.index_;
  n.needs_grad = nodes_[n.in[0]].needs_grad || (op.arity == 2 && nodes_[n.in[1]].needs_grad);
  return i;
}

OpCall Tape::call_for(std::uint32_t i) {
  Node& n = nodes_[i];
  OpCall c{n.params};
  for (int k = 0; k < n.op->arity; ++k) c.x[k] = &nodes_[n.in[k]].val();
  c.y = &n.value;
  c.cache = &n.cache;
  return c;
}

void Tape::run_forward(std::uint32_t i) {
  OpCall c = call_for(i);
  c.y = nullptr;
  c.out = &nodes_[i].value;
  nodes_[i].op->forward(c);
}

// ---- Tape: reading -------------------------------------------------------------

const Tensor& Tape::value(Var v) const {
  check(v, "Tape::value");
  return nodes_[v.index_].val();
}
const Tensor& Tape::tangent(Var v) const {
  check(v, "Tape::tangent");
  const Node& n = nodes_[v.index_];
  if (!n.has_tangent)
    throw TapeError(fmt::format("Tape::tangent: node {} has no tangent (it does not depend on "
                                "a seeded variable, or propagate_tangents was not run)",
                                v.index_));
  return n.tangent;
}
const Tensor& Tape::adjoint(Var v) const {
  check(v, "Tape::adjoint");
  const Node& n = nodes_[v.index_];
  if (adjoint_root_ == UINT32_MAX || v.index_ > adjoint_root_ || !n.needs_grad)
    throw TapeError(fmt::format("Tape::adjoint: node {} has no adjoint (not differentiable, or "
                                "not an ancestor of the last backward output)",
                                v.index_));
  return n.adjoint;
}
const Tensor& Tape::adjoint_tangent(Var v) const {
  adjoint(v);  // same validity conditions
  return nodes_[v.index_].adjoint_tangent;
}
void Tape::take_adjoint(Var v, Tensor& into) {
  adjoint(v);  // same validity conditions
  std::swap(into, nodes_[v.index_].adjoint);
}
bool Tape::requires_grad(Var v) const {
  check(v, "Tape::requires_grad");
  return nodes_[v.index_].needs_grad;
}
bool Tape::has_tangent(Var v) const {
  check(v, "Tape::has_tangent");
  return nodes_[v.index_].has_tangent;
}

// ---- Tape: sweeps ----------------------------------------------------------------

void Tape::reset_tangents() {
  for (std::uint32_t i = 0; i < size_; ++i) nodes_[i].has_tangent = false;
}

void Tape::seed_tangent(Var leaf, const Tensor& t) {
  check(leaf, "Tape::seed_tangent");
  Node& n = nodes_[leaf.index_];
  if (n.op != nullptr || !n.needs_grad)
    throw TapeError(fmt::format("Tape::seed_tangent: node {} is not a variable leaf", leaf.index_));
  if (t.shape() != n.val().shape())
    throw ShapeError(fmt::format("Tape::seed_tangent: tangent shape {} != variable shape {}",
                                 shape_str_of(t.shape()), shape_str_of(n.val().shape())));
  copy_into(n.tangent, t);
  n.has_tangent = true;
}

void Tape::propagate_tangents() {
  for (std::uint32_t i = 0; i < size_; ++i) {
    Node& n = nodes_[i];
    if (n.op == nullptr) continue;  // leaves keep their seeds
    bool any = false;
    OpCall c = call_for(i);
    for (int k = 0; k < n.op->arity; ++k) {
      const Node& in = nodes_[n.in[k]];
      if (in.has_tangent) {
        c.dx[k] = &in.tangent;
        any = true;
      }
    }
    n.has_tangent = any;
    if (!any) continue;
    c.out = &n.tangent;
    if (n.op->kind == RuleKind::LinearUnary) {  // ẏ = A ẋ: the forward map itself
      c.x[0] = c.dx[0];
      n.op->forward(c);
    } else {
      n.op->jvp(c);
    }
  }
}

void Tape::check_seed(Var out, const Tensor& seed, const char* what) const {
  check(out, what);
  const Tensor& v = nodes_[out.index_].val();
  if (seed.shape() != v.shape())
    throw ShapeError(fmt::format("{}: seed shape {} != output shape {}", what,
                                 shape_str_of(seed.shape()), shape_str_of(v.shape())));
  if (!nodes_[out.index_].needs_grad)
    throw TapeError(fmt::format("{}: the output (node {}) does not depend on any variable", what,
                                out.index_));
}

// Adjoint buffers are not zero-filled up front. The first write to an
// input's buffer in a sweep either assigns (ops with writes_fresh, told by
// OpCall::fresh_*) or lands on a buffer zeroed just then. A node nobody wrote
// to by the time the reverse loop reaches it has a zero adjoint: it is zeroed
// then, and its rule is skipped (its contribution would be zero).
namespace {
void zero_like(Tensor& buf, const Tensor& like) {
  buf.resize(like.shape());
  buf.fill(0.0);
}
}  // namespace

void Tape::prepare_input(std::uint32_t input, const OpDef& op, Tensor& buf, std::vector<char>& written,
                         bool& fresh) {
  fresh = false;
  if (written[input]) return;
  written[input] = 1;
  const Tensor& like = nodes_[input].val();
  if (op.writes_fresh) {
    buf.resize(like.shape());
    fresh = true;
  } else {
    zero_like(buf, like);
  }
}

void Tape::backward(Var out) {
  check(out, "Tape::backward");
  const Tensor& v = nodes_[out.index_].val();
  if (v.size() != 1)
    throw TapeError(fmt::format(
        "Tape::backward: output (node {}) has shape {}; a gradient needs a scalar output "
        "(reduce it explicitly, e.g. with sum or mean, or pass a seed)",
        out.index_, shape_str_of(v.shape())));
  Tensor& seed = nodes_[out.index_].adjoint;  // ȳ = 1, in place (no allocation per step)
  seed.resize(v.shape());
  seed.fill(1.0);
  sweep_adjoints(out.index_);
}

void Tape::backward(Var out, const Tensor& seed) {
  check_seed(out, seed, "Tape::backward");
  copy_into(nodes_[out.index_].adjoint, seed);
  sweep_adjoints(out.index_);
}

void Tape::sweep_adjoints(std::uint32_t root) {
  written_.assign(root + 1, 0);
  written_[root] = 1;
  for (std::uint32_t i = root + 1; i-- > 0;) {
    Node& n = nodes_[i];
    if (!n.needs_grad) continue;
    if (!written_[i]) {
      zero_like(n.adjoint, n.val());
      written_[i] = 1;
      continue;
    }
    if (n.op == nullptr) continue;
    OpCall c = call_for(i);
    c.gy = &n.adjoint;
    for (int k = 0; k < n.op->arity; ++k) {
      Node& in = nodes_[n.in[k]];
      if (!in.needs_grad) continue;
      c.gx[k] = &in.adjoint;
      prepare_input(n.in[k], *n.op, in.adjoint, written_, c.fresh_gx[k]);
    }
    n.op->vjp(c);
  }
  adjoint_root_ = root;
}

void Tape::backward_tangents(Var out, const Tensor& seed, const Tensor& seed_tangent,
                             bool with_adjoints) {
  check_seed(out, seed, "Tape::backward_tangents");
  check_seed(out, seed_tangent, "Tape::backward_tangents");
  const std::uint32_t root = out.index_;
  if (!with_adjoints && adjoint_root_ != root)
    throw TapeError("Tape::backward_tangents: reusing adjoints needs a backward() from the "
                    "same output first");
  if (with_adjoints) {
    written_.assign(root + 1, 0);
    copy_into(nodes_[root].adjoint, seed);
    written_[root] = 1;
  }
  written_tangent_.assign(root + 1, 0);
  copy_into(nodes_[root].adjoint_tangent, seed_tangent);
  written_tangent_[root] = 1;
  for (std::uint32_t i = root + 1; i-- > 0;) {
    Node& n = nodes_[i];
    if (!n.needs_grad) continue;
    const bool zero_adjoint = with_adjoints && !written_[i];
    if (zero_adjoint) {
      zero_like(n.adjoint, n.val());
      written_[i] = 1;
    }
    const bool zero_tangent = !written_tangent_[i];
    if (zero_tangent) {
      zero_like(n.adjoint_tangent, n.val());
      written_tangent_[i] = 1;
    }
    if (n.op == nullptr || (zero_adjoint && zero_tangent)) continue;
    OpCall c = call_for(i);
    c.gy = &n.adjoint;
    c.gdy = &n.adjoint_tangent;
    if (n.has_tangent) c.dy = &n.tangent;
    for (int k = 0; k < n.op->arity; ++k) {
      Node& in = nodes_[n.in[k]];
      if (in.has_tangent) c.dx[k] = &in.tangent;
      if (!in.needs_grad) continue;
      if (with_adjoints) {
        c.gx[k] = &in.adjoint;
        prepare_input(n.in[k], *n.op, in.adjoint, written_, c.fresh_gx[k]);
      }
      c.gdx[k] = &in.adjoint_tangent;
      prepare_input(n.in[k], *n.op, in.adjoint_tangent, written_tangent_, c.fresh_gdx[k]);
    }
    if (with_adjoints) n.op->vjp(c);
    vjp_tangent(i, c);
  }
  adjoint_root_ = root;
}

// x̄̇ for node i: the op's own rule, or the one its structure implies.
void Tape::vjp_tangent(std::uint32_t i, OpCall& c) {
  const OpDef& op = *nodes_[i].op;
  if (op.kind == RuleKind::General) {
    op.vjp_tangent(c);
    return;
  }
  // Jᵀ ȳ̇: the vjp with ȳ̇ in place of ȳ, accumulated into x̄̇.
  OpCall t{c.p};
  t.x[0] = c.x[0];
  t.x[1] = c.x[1];
  t.y = c.y;
  t.cache = c.cache;
  t.gy = c.gdy;
  t.gx[0] = c.gdx[0];
  t.gx[1] = c.gdx[1];
  t.fresh_gx[0] = c.fresh_gdx[0];
  t.fresh_gx[1] = c.fresh_gdx[1];
  op.vjp(t);
  if (op.kind != RuleKind::Bilinear) return;
  // (d/dε Jᵀ) ȳ: J in x₀ is linear in x₁ and vice versa, so the derivative of
  // x̄₀ = J₀(x₁)ᵀ ȳ along ẋ is J₀(ẋ₁)ᵀ ȳ: the vjp with x₁ replaced by ẋ₁.
  for (int k = 0; k < 2; ++k) {
    const int other = 1 - k;
    if (c.gdx[k] == nullptr || c.dx[other] == nullptr) continue;
    OpCall cross{c.p};
    cross.x[k] = c.x[k];
    cross.x[other] = c.dx[other];
    cross.cache = c.cache;
    cross.gy = c.gy;
    cross.gx[k] = c.gdx[k];
    op.vjp(cross);
  }
}

void Tape::keep_fixed_buffers(Float32Products& f32) const {
  for (std::uint32_t i = 0; i < size_; ++i) {
    const Node& n = nodes_[i];
    f32.keep(n.val().data(), n.val().size());
    if (n.needs_grad && adjoint_root_ != UINT32_MAX) f32.keep(n.adjoint.data(), n.adjoint.size());
  }
}

void Tape::clear() {
  size_ = 0;
  ++generation_;
  adjoint_root_ = UINT32_MAX;
}

Tape& tape_of(Var v, const char* op) {
  if (!v.tape()) throw TapeError(fmt::format("{}: the Var is empty (default-constructed)", op));
  return *v.tape();
}

}  // namespace eos::ad
