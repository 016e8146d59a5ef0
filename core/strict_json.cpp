#include "strict_json.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace eos {

StrictJsonObject::StrictJsonObject(const nlohmann::json& obj, std::string where, std::string what)
    : obj_(obj), where_(std::move(where)), what_(std::move(what)) {
  if (!obj.is_object())
    throw std::invalid_argument(fmt::format("{}: {} must be a JSON object, got {}", what_, where_, obj.dump()));
}

void StrictJsonObject::fail(const std::string& name, const nlohmann::json& v, const char* expected) const {
  throw std::invalid_argument(fmt::format("{}: field '{}' = {}: expected {}", what_, name, v.dump(), expected));
}

std::uint64_t StrictJsonObject::unsigned_of(const nlohmann::json& v, const std::string& name) const {
  if (!v.is_number_unsigned()) fail(name, v, "a non-negative integer");
  return v.get<std::uint64_t>();
}

void StrictJsonObject::text(const char* key, std::string& into) {
  field(key, [&](const nlohmann::json& v, const std::string& name) {
    if (!v.is_string()) fail(name, v, "a string");
    into = v.get<std::string>();
  });
}
void StrictJsonObject::flag(const char* key, bool& into) {
  field(key, [&](const nlohmann::json& v, const std::string& name) {
    if (!v.is_boolean()) fail(name, v, "true or false");
    into = v.get<bool>();
  });
}
void StrictJsonObject::number(const char* key, double& into) {
  field(key, [&](const nlohmann::json& v, const std::string& name) {
    if (!v.is_number() || !std::isfinite(v.get<double>())) fail(name, v, "a finite number");
    into = v.get<double>();
  });
}
void StrictJsonObject::count(const char* key, std::uint64_t& into) {
  field(key, [&](const nlohmann::json& v, const std::string& name) { into = unsigned_of(v, name); });
}
void StrictJsonObject::counts(const char* key, std::vector<std::size_t>& into) {
  field(key, [&](const nlohmann::json& v, const std::string& name) {
    if (!v.is_array()) fail(name, v, "an array of non-negative integers");
    into.clear();
    for (const auto& e : v) into.push_back(unsigned_of(e, name));
  });
}
void StrictJsonObject::finish() const {
  for (const auto& [k, v] : obj_.items())
    if (std::find(known_.begin(), known_.end(), k) == known_.end())
      throw std::invalid_argument(fmt::format("{}: unknown field '{}.{}'", what_, where_, k));
}

}  // namespace eos
