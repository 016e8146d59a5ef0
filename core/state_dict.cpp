#include "state_dict.hpp"

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "npy.hpp"

namespace eos {

static_assert(std::endian::native == std::endian::little, "state files are little-endian");

namespace {

constexpr char kMagic[8] = {'E', 'O', 'S', 'S', 'T', 'A', 'T', 'E'};
constexpr std::size_t kMaxHeaderBytes = 1u << 24;  // 16 MiB of JSON is far beyond any real state
constexpr std::size_t kMaxRank = 32;

const char* type_name(const StateDict::Entry& e) {
  if (std::holds_alternative<Tensor>(e)) return "a tensor";
  if (std::holds_alternative<StateDict::Integers>(e)) return "integers";
  return "text";
}

std::uint32_t crc32_of(std::string_view bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed it in pieces.
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t n = std::min<std::size_t>(bytes.size() - at, 1u << 30);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), uInt(n));
    at += n;
  }
  return std::uint32_t(crc);
}

template <class T>
void append_raw(std::string& out, const T* data, std::size_t count) {
  out.append(reinterpret_cast<const char*>(data), count * sizeof(T));
}

}  // namespace

void StateDict::put_number(const std::string& key, double v) {
  Tensor t = zeros({});
  t() = v;
  entries_[key] = std::move(t);
}

namespace {
template <class T>
const T& get_as(const std::map<std::string, StateDict::Entry>& entries, const std::string& key, const char* what) {
  const auto it = entries.find(key);
  if (it == entries.end()) throw StateError(fmt::format("state: no entry '{}'", key));
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  throw StateError(fmt::format("state: entry '{}' is {}, expected {}", key, type_name(it->second), what));
}
}  // namespace

const Tensor& StateDict::tensor(const std::string& key) const { return get_as<Tensor>(entries_, key, "a tensor"); }

const Tensor& StateDict::tensor(const std::string& key, const std::vector<std::size_t>& shape) const {
  const Tensor& t = tensor(key);
  if (Shape(t.shape().begin(), t.shape().end()) != shape)
    throw StateError(fmt::format("state: entry '{}' has shape {}, expected {}", key, shape_str_of(t.shape()),
                                 shape_str(shape)));
  return t;
}

const StateDict::Integers& StateDict::integers(const std::string& key) const {
  return get_as<Integers>(entries_, key, "integers");
}

std::uint64_t StateDict::integer(const std::string& key) const {
  const Integers& v = integers(key);
  if (v.size() != 1) throw StateError(fmt::format("state: entry '{}' holds {} integers, expected one", key, v.size()));
  return v[0];
}

double StateDict::number(const std::string& key) const {
  const Tensor& t = tensor(key);
  if (t.size() != 1) throw StateError(fmt::format("state: entry '{}' holds {} numbers, expected one", key, t.size()));
  return *t.begin();
}

const std::string& StateDict::text(const std::string& key) const { return get_as<std::string>(entries_, key, "text"); }

void StateDict::merge(const std::string& prefix, const StateDict& part) {
  for (const auto& [k, v] : part.entries_) entries_[prefix + "." + k] = v;
}

StateDict StateDict::extract(const std::string& prefix) const {
  StateDict out;
  const std::string p = prefix + ".";
  for (auto it = entries_.lower_bound(p); it != entries_.end() && it->first.compare(0, p.size(), p) == 0; ++it)
    out.entries_[it->first.substr(p.size())] = it->second;
  return out;
}

std::string StateDict::serialize() const {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& [key, e] : entries_) {
    nlohmann::json j{{"key", key}};
    if (const auto* t = std::get_if<Tensor>(&e)) {
      j["type"] = "f64";
      j["shape"] = std::vector<std::size_t>(t->shape().begin(), t->shape().end());
    } else if (const auto* v = std::get_if<Integers>(&e)) {
      j["type"] = "u64";
      j["shape"] = {v->size()};
    } else {
      j["type"] = "text";
      j["shape"] = {std::get<std::string>(e).size()};
    }
    entries.push_back(std::move(j));
  }
  const std::string header = nlohmann::json{{"format", "eoslab-state/1"}, {"entries", entries}}.dump();
  std::string out(kMagic, sizeof kMagic);
  const std::uint64_t header_len = header.size();
  append_raw(out, &header_len, 1);
  out += header;
  for (const auto& [key, e] : entries_) {
    if (const auto* t = std::get_if<Tensor>(&e)) append_raw(out, t->data(), t->size());
    else if (const auto* v = std::get_if<Integers>(&e)) append_raw(out, v->data(), v->size());
    else out += std::get<std::string>(e);
  }
  const std::uint32_t crc = crc32_of(out);
  append_raw(out, &crc, 1);
  return out;
}

StateDict StateDict::parse(std::string_view bytes, const std::string& name) {
  auto fail = [&](const std::string& why) { return StateError(fmt::format("{}: {}", name, why)); };
  constexpr std::size_t fixed = sizeof kMagic + 8 + 4;
  if (bytes.size() < fixed || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw fail("not an eoslab state file (no EOSSTATE signature)");
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  if (crc32_of(bytes.substr(0, bytes.size() - 4)) != stored_crc)
    throw fail("checksum mismatch: the file is damaged or was cut short");
  std::uint64_t header_len;
  std::memcpy(&header_len, bytes.data() + sizeof kMagic, 8);
  if (header_len > bytes.size() - fixed || header_len > kMaxHeaderBytes)
    throw fail(fmt::format("header length {} does not fit a file of {} bytes", header_len, bytes.size()));
  const std::string_view header = bytes.substr(sizeof kMagic + 8, header_len);
  std::string_view payload = bytes.substr(sizeof kMagic + 8 + header_len, bytes.size() - fixed - header_len);

  nlohmann::json h;
  try {
    h = nlohmann::json::parse(header);
  } catch (const std::exception& e) {
    throw fail(fmt::format("header is not JSON ({})", e.what()));
  }
  if (!h.is_object() || !h.contains("format") || h.at("format") != "eoslab-state/1" || !h.contains("entries") ||
      !h.at("entries").is_array() || h.size() != 2)
    throw fail("header is not an eoslab-state/1 header {format, entries}");

  StateDict out;
  std::size_t at = 0;
  for (const auto& j : h.at("entries")) {
    if (!j.is_object() || j.size() != 3 || !j.contains("key") || !j.contains("type") || !j.contains("shape") ||
        !j.at("key").is_string() || !j.at("type").is_string() || !j.at("shape").is_array())
      throw fail("an entry of the header is not {key, type, shape}");
    const std::string key = j.at("key").get<std::string>();
    const std::string type = j.at("type").get<std::string>();
    if (key.empty() || out.contains(key)) throw fail(fmt::format("entry key '{}' is empty or repeated", key));
    const auto& sh = j.at("shape");
    if (sh.size() > kMaxRank) throw fail(fmt::format("entry '{}': rank {} is above {}", key, sh.size(), kMaxRank));
    Shape shape;
    std::size_t count = 1;
    for (const auto& d : sh) {
      if (!d.is_number_unsigned()) throw fail(fmt::format("entry '{}': a dimension is not a non-negative integer", key));
      const std::size_t n = d.get<std::size_t>();
      // Every size is checked against the bytes left before any allocation.
      if (n != 0 && count > payload.size() / n)
        throw fail(fmt::format("entry '{}': shape {} is larger than the file", key, sh.dump()));
      count *= n;
      shape.push_back(n);
    }
    const std::size_t width = type == "text" ? 1 : 8;
    if (type != "f64" && type != "u64" && type != "text")
      throw fail(fmt::format("entry '{}': type '{}' (expected f64, u64 or text)", key, type));
    if (type != "f64" && shape.size() != 1)
      throw fail(fmt::format("entry '{}': {} entries have one dimension, not {}", key, type, shape.size()));
    if (count > (payload.size() - at) / width)
      throw fail(fmt::format("entry '{}': {} × {} bytes do not fit the {} bytes left", key, count, width,
                             payload.size() - at));
    const char* src = payload.data() + at;
    if (type == "f64") {
      Tensor t = zeros(shape);
      if (count) std::memcpy(t.data(), src, count * 8);
      out.entries_[key] = std::move(t);
    } else if (type == "u64") {
      Integers v(count);
      if (count) std::memcpy(v.data(), src, count * 8);
      out.entries_[key] = std::move(v);
    } else {
      out.entries_[key] = std::string(src, count);
    }
    at += count * width;
  }
  if (at != payload.size())
    throw fail(fmt::format("{} bytes after the last entry", payload.size() - at));
  return out;
}

void write_state(const std::string& path, const StateDict& state) {
  try {
    write_file_atomically(path, state.serialize());
  } catch (const std::runtime_error& e) {
    throw StateError(e.what());
  }
}

StateDict read_state(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StateError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw StateError(fmt::format("{}: read failed", path));
  return StateDict::parse(bytes, path);
}

}  // namespace eos
