// State files (checkpoints): every entry type round-trips bit for bit, and
// the reader refuses damaged or hostile bytes by name — a flipped bit, a cut
// file, a header whose sizes the file cannot hold — before allocating.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include <zlib.h>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;

namespace {

StateDict sample_state() {
  StateDict s;
  Tensor m = zeros({2, 3});
  for (std::size_t i = 0; i < m.size(); ++i) m.data()[i] = 0.1 * double(i) - 0.25;
  s.put("optimizer.m", m);
  s.put("sampler.perm", StateDict::Integers{3, 0, 2, 1, std::numeric_limits<std::uint64_t>::max()});
  using namespace std::string_literals;
  s.put("argv", "eoslab train --lr 2/15\n\xce\xb7 and a \0 byte"s);  // ""s keeps the NUL
  s.put_number("nan", std::nan("0x7"));
  s.put_number("negative_zero", -0.0);
  s.put_number("subnormal", 4.9e-324);
  s.put("empty", Tensor(zeros({0})));
  s.put("no_integers", StateDict::Integers{});
  return s;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The file with its CRC recomputed, so that only the header's lies are tested.
std::string with_valid_crc(std::string bytes) {
  bytes.resize(bytes.size() - 4);
  const std::uint32_t crc = std::uint32_t(::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
                                                  uInt(bytes.size())));
  bytes.append(reinterpret_cast<const char*>(&crc), 4);
  return bytes;
}

// A file with this header text and these payload bytes, correctly framed.
std::string framed(const std::string& header, const std::string& payload) {
  std::string b = "EOSSTATE";
  const std::uint64_t n = header.size();
  b.append(reinterpret_cast<const char*>(&n), 8);
  b += header + payload + "CRC!";
  return with_valid_crc(b);
}

std::string parse_error(std::string_view bytes) {
  try {
    StateDict::parse(bytes, "ck.eos");
  } catch (const StateError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_entry_round_trips_bit_for_bit) {
  const StateDict s = sample_state();
  const auto dir = eos::test::scratch_dir("state");
  const std::string path = (dir / "state.eos").string();
  write_state(path, s);
  BOOST_TEST(!std::filesystem::exists(path + ".tmp"));
  const StateDict r = read_state(path);
  BOOST_TEST(r.size() == s.size());
  BOOST_TEST(r.tensor("optimizer.m", {2, 3}) == s.tensor("optimizer.m"));
  BOOST_TEST(r.integers("sampler.perm") == s.integers("sampler.perm"), boost::test_tools::per_element());
  BOOST_TEST(r.text("argv") == s.text("argv"));
  BOOST_TEST(r.text("argv").size() == 38u);
  for (const char* k : {"nan", "negative_zero", "subnormal"}) BOOST_TEST(same_bits(r.number(k), s.number(k)), k);
  BOOST_TEST(r.tensor("empty").size() == 0u);
  BOOST_TEST(r.integers("no_integers").empty());
  BOOST_TEST(r.serialize() == s.serialize());
}

BOOST_AUTO_TEST_CASE(prefixes_nest_and_come_back_out) {
  StateDict part;
  part.put_integer("t", 7);
  StateDict all;
  all.merge("optimizer", part);
  all.merge("optimizer2", part);
  all.put_integer("optimizerX", 1);
  BOOST_TEST(all.integer("optimizer.t") == 7u);
  const StateDict back = all.extract("optimizer");
  BOOST_TEST(back.size() == 1u);  // not optimizer2.t, not optimizerX
  BOOST_TEST(back.integer("t") == 7u);
}

BOOST_AUTO_TEST_CASE(getters_name_the_key_and_the_type) {
  const StateDict s = sample_state();
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const StateError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  BOOST_TEST(message([&] { s.tensor("missing"); }) == "state: no entry 'missing'");
  BOOST_TEST(message([&] { s.integers("argv"); }) == "state: entry 'argv' is text, expected integers");
  BOOST_TEST(message([&] { s.tensor("optimizer.m", {6}); }) ==
             "state: entry 'optimizer.m' has shape [2, 3], expected [6]");
  BOOST_TEST(message([&] { s.integer("sampler.perm"); }) == "state: entry 'sampler.perm' holds 5 integers, expected one");
}

BOOST_AUTO_TEST_CASE(damaged_files_are_refused_by_the_checksum) {
  const std::string good = sample_state().serialize();
  // Every single flipped bit past the signature, in a sample of positions.
  for (std::size_t at = 8; at < good.size(); at += 7) {
    std::string bad = good;
    bad[at] ^= 0x10;
    const std::string e = parse_error(bad);
    BOOST_TEST((e.find("checksum mismatch") != std::string::npos || e.find("header length") != std::string::npos),
               "byte " << at << ": " << e);
  }
  // Every cut.
  for (std::size_t n = 0; n < good.size(); n += 5) {
    const std::string e = parse_error(std::string_view(good).substr(0, n));
    BOOST_TEST(e != "(no error)", "cut at " << n);
  }
  BOOST_TEST(parse_error("EOSSTATX" + good.substr(8)) == "ck.eos: not an eoslab state file (no EOSSTATE signature)");
}

BOOST_AUTO_TEST_CASE(hostile_headers_are_refused_before_allocating) {
  auto entry = [](const std::string& key, const std::string& type, const std::string& shape) {
    return R"({"format":"eoslab-state/1","entries":[{"key":")" + key + R"(","type":")" + type + R"(","shape":)" +
           shape + "}]}";
  };
  // 2⁶⁴-overflowing and merely huge shapes: no allocation, an error naming the entry.
  BOOST_TEST(parse_error(framed(entry("theta", "f64", "[4294967296,4294967296,16]"), "")) ==
             "ck.eos: entry 'theta': shape [4294967296,4294967296,16] is larger than the file");
  BOOST_TEST(parse_error(framed(entry("theta", "f64", "[1000000000]"), std::string(16, '\0'))) ==
             "ck.eos: entry 'theta': shape [1000000000] is larger than the file");
  BOOST_TEST(parse_error(framed(entry("theta", "f64", "[3]"), std::string(16, '\0'))) ==
             "ck.eos: entry 'theta': 3 × 8 bytes do not fit the 16 bytes left");
  BOOST_TEST(parse_error(framed(entry("theta", "f64", "[-1]"), "")) ==
             "ck.eos: entry 'theta': a dimension is not a non-negative integer");
  BOOST_TEST(parse_error(framed(entry("theta", "f64", "[1.5]"), "")) ==
             "ck.eos: entry 'theta': a dimension is not a non-negative integer");
  BOOST_TEST(parse_error(framed(entry("theta", "f32", "[1]"), std::string(8, '\0'))) ==
             "ck.eos: entry 'theta': type 'f32' (expected f64, u64 or text)");
  BOOST_TEST(parse_error(framed(entry("argv", "text", "[2,2]"), "abcd")) ==
             "ck.eos: entry 'argv': text entries have one dimension, not 2");
  BOOST_TEST(parse_error(framed(entry("t", "u64", "[1]"), std::string(9, '\0'))) ==
             "ck.eos: 1 bytes after the last entry");
  BOOST_TEST(parse_error(framed(R"({"format":"eoslab-state/1","entries":[{"key":"a","type":"u64","shape":[0]},)"
                                R"({"key":"a","type":"u64","shape":[0]}]})",
                                "")) == "ck.eos: entry key 'a' is empty or repeated");
  BOOST_TEST(parse_error(framed(R"({"format":"eoslab-state/1","entries":[],"extra":1})", "")) ==
             "ck.eos: header is not an eoslab-state/1 header {format, entries}");
  BOOST_TEST(parse_error(framed("[[[[", "")).find("ck.eos: header is not JSON") == 0u);
  // A header length past the file.
  std::string b = "EOSSTATE";
  const std::uint64_t huge = std::uint64_t(1) << 62;
  b.append(reinterpret_cast<const char*>(&huge), 8);
  b += "CRC!";
  BOOST_TEST(parse_error(with_valid_crc(b)) == "ck.eos: header length 4611686018427387904 does not fit a file of 20 bytes");
}
