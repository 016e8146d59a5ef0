// Fingerprints (core/hash.hpp): what a checkpoint and a manifest record of
// the data, θ₀ and each θ file. The same bytes give the same value however
// they are split into add() calls; any one flipped bit, a swap of two words,
// an appended zero byte or a cut changes it. Data fingerprints are a sum over
// rows with their global positions: the shards of an MPI run sum to the
// whole data set's value, and a changed row changes it.

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;

namespace {

std::string random_bytes(std::size_t n, std::mt19937_64& rng) {
  std::string s(n, '\0');
  for (char& c : s) c = char(rng() & 0xff);
  return s;
}

std::uint64_t of(const std::string& s) { return Fingerprint().add(s).value(); }

}  // namespace

BOOST_AUTO_TEST_CASE(the_same_bytes_in_any_pieces_give_one_fingerprint) {
  std::mt19937_64 rng(1);
  for (const std::size_t n : {0u, 1u, 7u, 8u, 31u, 32u, 33u, 100u, 1000u}) {
    const std::string s = random_bytes(n, rng);
    const std::uint64_t whole = of(s);
    for (int trial = 0; trial < 50; ++trial) {
      Fingerprint f;
      std::size_t at = 0;
      while (at < n) {
        const std::size_t piece = std::min<std::size_t>(n - at, rng() % 40);
        f.add(s.data() + at, piece);
        at += piece;
      }
      BOOST_TEST(f.value() == whole, "n " << n << " trial " << trial);
    }
    BOOST_TEST(Fingerprint().add(s).hex().size() == 16u);
  }
}

BOOST_AUTO_TEST_CASE(any_change_of_the_bytes_changes_the_fingerprint) {
  std::mt19937_64 rng(2);
  for (const std::size_t n : {1u, 9u, 40u, 257u}) {
    const std::string s = random_bytes(n, rng);
    std::set<std::uint64_t> seen = {of(s)};
    for (std::size_t bit = 0; bit < 8 * n; ++bit) {  // every single-bit flip: a new value
      std::string t = s;
      t[bit / 8] = char(t[bit / 8] ^ (1 << (bit % 8)));
      BOOST_TEST(seen.insert(of(t)).second, "n " << n << " bit " << bit);
    }
    BOOST_TEST(of(s + '\0') != of(s), "n " << n << ": an appended zero byte");
    BOOST_TEST(of(s.substr(0, n - 1)) != of(s), "n " << n << ": cut by one byte");
  }
  // Two 8-byte words swapped (in one lane's block or across blocks), and two
  // whole θ files swapped in order.
  const std::string s = random_bytes(96, rng);
  for (const auto& [a, b] : std::vector<std::pair<int, int>>{{0, 1}, {0, 4}, {3, 9}}) {
    std::string t = s;
    std::swap_ranges(t.begin() + 8 * a, t.begin() + 8 * a + 8, t.begin() + 8 * b);
    BOOST_TEST(of(t) != of(s), a << "↔" << b);
  }
  const Tensor x = {1.0, 2.0, 3.0}, y = {1.0, 2.0, 3.5};
  BOOST_TEST(Fingerprint().add(x).value() != Fingerprint().add(y).value());
  BOOST_TEST(Fingerprint().add(Tensor{{1.0, 2.0, 3.0}}).value() != Fingerprint().add(x).value());  // shape counts
  BOOST_TEST(Fingerprint().add(x).add(y).value() != Fingerprint().add(y).add(x).value());
}

BOOST_AUTO_TEST_CASE(a_files_fingerprint_is_that_of_its_bytes) {
  std::mt19937_64 rng(3);
  const std::string bytes = random_bytes(3'000'001, rng);  // past the 1 MiB read buffer, not a multiple of it
  const auto path = eos::test::scratch_file("fingerprint");
  { std::ofstream(path, std::ios::binary) << bytes; }
  BOOST_TEST(file_fingerprint(path.string()) == Fingerprint().add(bytes).hex());
  std::filesystem::remove(path);
  try {
    file_fingerprint(path.string());
    BOOST_FAIL("a missing file was fingerprinted");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find(path.string()) != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(a_data_sets_fingerprint_is_the_sum_of_its_shards) {
  std::mt19937_64 rng(4);
  data::Dataset ds;
  ds.X = test::random_normal({101, 6}, rng);
  for (std::size_t i = 0; i < 101; ++i) ds.labels.push_back(std::int64_t(i % 4));
  ds.num_classes = 4;
  const std::uint64_t whole = data::rows_fingerprint(ds);
  for (const std::size_t cut : {1u, 34u, 50u, 100u}) {
    const data::Dataset a = data::rows_of(ds, 0, cut), b = data::rows_of(ds, cut, 101 - cut);
    BOOST_TEST(data::rows_fingerprint(a, 0) + data::rows_fingerprint(b, cut) == whole, "cut at " << cut);
    BOOST_TEST(data::rows_fingerprint(a, 0) + data::rows_fingerprint(b, 0) != whole, "positions count, cut " << cut);
  }
  data::Dataset changed = ds;
  changed.X(57, 3) = std::nextafter(changed.X(57, 3), 1e9);
  BOOST_TEST(data::rows_fingerprint(changed) != whole);
  changed = ds;
  changed.labels[9] = 3 - changed.labels[9] % 4;
  BOOST_TEST(data::rows_fingerprint(changed) != whole);
  changed = ds;  // two rows swapped: the same multiset of rows, other positions
  for (std::size_t j = 0; j < 6; ++j) std::swap(changed.X(3, j), changed.X(4, j));
  std::swap(changed.labels[3], changed.labels[4]);
  BOOST_TEST(data::rows_fingerprint(changed) != whole);
  BOOST_TEST(data::fingerprint_text(whole, 101, 6) != data::fingerprint_text(whole, 100, 6));
}
