// Named state for checkpoints: float64 tensors, unsigned 64-bit integer
// arrays and text, keyed by dotted names ("optimizer.m", "sampler.perm").
// Optimizers, samplers, plugins and the Trainer each save what they carry
// from step to step into one, and a resumed run restores it bit for bit.
//
// On disk (one file, written atomically: complete or absent):
//   "EOSSTATE"  u64 header length  header (JSON: key, type, shape per entry)
//   payload (each entry's raw little-endian bytes, in header order)  u32 CRC-32
// The reader trusts nothing: every size is checked against the file before
// anything is allocated, the checksum before anything is parsed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "tensor.hpp"

namespace eos {

struct StateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class StateDict {
 public:
  using Integers = std::vector<std::uint64_t>;
  using Entry = std::variant<Tensor, Integers, std::string>;

  void put(const std::string& key, const Tensor& t) { entries_[key] = t; }
  void put(const std::string& key, Integers v) { entries_[key] = std::move(v); }
  void put(const std::string& key, std::string text) { entries_[key] = std::move(text); }
  void put_integer(const std::string& key, std::uint64_t v) { entries_[key] = Integers{v}; }
  void put_number(const std::string& key, double v);  // kept by its bits (NaN and −0 survive)

  bool contains(const std::string& key) const { return entries_.count(key) != 0; }
  // Each getter throws StateError naming the key when it is missing or of another type.
  const Tensor& tensor(const std::string& key) const;
  // A tensor that must have exactly this shape (e.g. a buffer the size of θ).
  const Tensor& tensor(const std::string& key, const std::vector<std::size_t>& shape) const;
  const Integers& integers(const std::string& key) const;
  std::uint64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  const std::string& text(const std::string& key) const;

  // Every entry of `part` under "prefix.", and the entries under "prefix." back out.
  void merge(const std::string& prefix, const StateDict& part);
  StateDict extract(const std::string& prefix) const;

  std::size_t size() const { return entries_.size(); }
  const std::map<std::string, Entry>& entries() const { return entries_; }

  std::string serialize() const;
  // `name` only labels errors ("FILE: …").
  static StateDict parse(std::string_view bytes, const std::string& name = "state");

 private:
  std::map<std::string, Entry> entries_;
};

// Written to PATH.tmp, fsynced, renamed over PATH.
void write_state(const std::string& path, const StateDict& state);
StateDict read_state(const std::string& path);

}  // namespace eos
