// Strict reading of JSON objects that rebuild something exactly (an
// objective spec, a manifest): every key must be a known field of the right
// type, or the error names the field, what it holds and what was expected —
// never a silent default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace eos {

class StrictJsonObject {
 public:
  // `where` names the object in errors ("spec", "data"); `what` the document ("objective spec").
  StrictJsonObject(const nlohmann::json& obj, std::string where, std::string what);
  // Calls read(value, "where.key") when the key is present.
  template <class Fn>
  void field(const char* key, Fn&& read) {
    known_.push_back(key);
    if (obj_.contains(key)) read(obj_.at(key), where_ + "." + key);
  }
  void text(const char* key, std::string& into);
  void flag(const char* key, bool& into);
  void number(const char* key, double& into);  // finite
  void count(const char* key, std::uint64_t& into);
  void counts(const char* key, std::vector<std::size_t>& into);
  // Every key present must be one this reader asked for.
  void finish() const;
  [[noreturn]] void fail(const std::string& name, const nlohmann::json& v, const char* expected) const;

 private:
  std::uint64_t unsigned_of(const nlohmann::json& v, const std::string& name) const;
  const nlohmann::json& obj_;
  std::string where_, what_;
  std::vector<std::string> known_;
};

}  // namespace eos
