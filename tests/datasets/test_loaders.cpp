// Loaders on files the tests write (idx raw and gzip, CIFAR-10, CSV), every
// bad-input case, the real Fashion-MNIST files, transforms and the sampler.
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <xtensor/xview.hpp>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;
using namespace eos::data;
using eos::test::close;

namespace {

std::string temp(const std::string& name) {
  return eos::test::scratch_file("data/" + name).string();
}
void put_be32(std::vector<unsigned char>& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
}
std::vector<unsigned char> idx_images(std::uint32_t n, std::uint32_t r, std::uint32_t c, std::uint32_t magic = 0x803) {
  std::vector<unsigned char> b;
  put_be32(b, magic);
  put_be32(b, n);
  put_be32(b, r);
  put_be32(b, c);
  for (std::uint32_t i = 0; i < n * r * c; ++i) b.push_back(static_cast<unsigned char>((i * 7) % 256));
  return b;
}
std::vector<unsigned char> idx_labels(const std::vector<unsigned char>& labels) {
  std::vector<unsigned char> b;
  put_be32(b, 0x801);
  put_be32(b, static_cast<std::uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}
void write_raw(const std::string& path, const std::vector<unsigned char>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
void write_gz(const std::string& path, const std::vector<unsigned char>& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
  gzclose(f);
}
// The message of the DataError that f throws (fails the test if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  BOOST_ERROR("expected a DataError");
  return "";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(loaders)

BOOST_AUTO_TEST_CASE(idx_round_trip_raw_and_gzip) {
  const auto img = idx_images(5, 2, 3);
  const std::vector<unsigned char> lab = {3, 1, 4, 1, 5};
  for (bool gz : {false, true}) {
    const std::string ip = temp(gz ? "img.gz" : "img.raw"), lp = temp(gz ? "lab.gz" : "lab.raw");
    (gz ? write_gz : write_raw)(ip, img);
    (gz ? write_gz : write_raw)(lp, idx_labels(lab));
    const Dataset ds = load_idx_dataset(ip, lp, 10);
    BOOST_TEST(ds.size() == 5u);
    BOOST_TEST(ds.dim() == 6u);
    for (std::size_t i = 0; i < 30; ++i) BOOST_TEST(ds.X.data()[i] == double((i * 7) % 256));
    BOOST_TEST(ds.labels == (std::vector<std::int64_t>{3, 1, 4, 1, 5}));
    const Dataset first = load_idx_dataset(ip, lp, 10, 2);
    BOOST_TEST(first.size() == 2u);
    BOOST_TEST(first.labels == (std::vector<std::int64_t>{3, 1}));
    // A shard: rows [2, 5) only, streamed past the others.
    const Dataset shard = load_idx_dataset(ip, lp, 10, 3, 2);
    BOOST_TEST(shard.size() == 3u);
    BOOST_TEST(shard.labels == (std::vector<std::int64_t>{4, 1, 5}));
    for (std::size_t i = 0; i < 18; ++i) BOOST_TEST(shard.X.data()[i] == ds.X.data()[12 + i]);
    BOOST_TEST(has(error_of([&] { load_idx_dataset(ip, lp, 10, 4, 2); }), "4 examples requested, the file has 3"));
    BOOST_TEST(has(error_of([&] { read_idx_images(ip, 1, nullptr, 6); }), "images from 6 on requested, the file has 5"));
  }
}

BOOST_AUTO_TEST_CASE(idx_bad_inputs_name_the_file_and_the_problem) {
  const std::string ip = temp("bad_img"), lp = temp("bad_lab");
  write_raw(lp, idx_labels({0, 1, 2}));
  // truncated image data
  auto img = idx_images(3, 2, 2);
  img.resize(img.size() - 1);
  write_raw(ip, img);
  std::string m = error_of([&] { read_idx_images(ip); });
  BOOST_TEST(has(m, ip), m);
  BOOST_TEST(has(m, "truncated"), m);
  // wrong magic (a labels file given as images)
  write_raw(ip, idx_labels({0, 1}));
  m = error_of([&] { read_idx_images(ip); });
  BOOST_TEST(has(m, "magic number 0x00000801, expected 0x00000803"), m);
  // label out of range for the class count
  write_raw(ip, idx_images(3, 2, 2));
  write_raw(lp, idx_labels({0, 12, 2}));
  m = error_of([&] { load_idx_dataset(ip, lp, 10); });
  BOOST_TEST(has(m, "label 12 of example 1"), m);
  // more examples asked for than the file has
  write_raw(lp, idx_labels({0, 1, 2}));
  m = error_of([&] { load_idx_dataset(ip, lp, 10, 4); });
  BOOST_TEST(has(m, "4 examples requested, the file has 3"), m);
  // images and labels disagree in n
  write_raw(lp, idx_labels({0, 1}));
  m = error_of([&] { load_idx_dataset(ip, lp, 10); });
  BOOST_TEST(has(m, "3 images"), m);
  // a missing file
  m = error_of([&] { read_idx_labels(temp("nope")); });
  BOOST_TEST(has(m, "no such file"), m);
  // corrupt gzip
  auto gz = temp("corrupt.gz");
  write_gz(gz, idx_images(50, 4, 4));
  std::filesystem::resize_file(gz, std::filesystem::file_size(gz) / 2);
  m = error_of([&] { read_idx_images(gz); });
  BOOST_TEST(has(m, gz), m);
  // extra bytes after the data
  img = idx_images(3, 2, 2);
  img.push_back(0);
  write_raw(ip, img);
  m = error_of([&] { read_idx_images(ip); });
  BOOST_TEST(has(m, "(28 bytes with the header) but the file holds more"), m);
  // a missing Fashion-MNIST directory says how to get the data
  m = error_of([&] { load_fashion_mnist(Split::Train, temp("empty-dir")); });
  BOOST_TEST(has(m, "dataset-fashion-mnist"), m);
}

// Sizes an idx header promises are not trusted (issue 9's probe): reading
// streams, keeps only what arrived and was asked for, and stops at the first
// byte past the promise.
BOOST_AUTO_TEST_CASE(idx_headers_are_not_trusted) {
  // a gzip bomb: the header promises 3 images of 2×2, the stream inflates to 64 MiB
  auto bomb = idx_images(3, 2, 2);
  bomb.resize(bomb.size() + (64u << 20), 0);
  const std::string gz = temp("bomb.gz");
  write_gz(gz, bomb);
  BOOST_TEST(std::filesystem::file_size(gz) < (1u << 20));
  std::string m = error_of([&] { read_idx_images(gz); });
  BOOST_TEST(has(m, "(28 bytes with the header) but the file holds more"), m);
  // dims whose product overflows 64 bits: (2³²−1)³
  std::vector<unsigned char> huge = {0, 0, 8, 3};
  for (int i = 0; i < 12; ++i) huge.push_back(0xff);
  const std::string hp = temp("huge_dims");
  write_raw(hp, huge);
  m = error_of([&] { read_idx_images(hp); });
  BOOST_TEST(has(m, "more than 2⁴⁸ bytes"), m);
  // a header promising 60000 28×28 images in a 16-byte file: truncated, and
  // nothing of the promised 47 MB was allocated on its word
  std::vector<unsigned char> promise = {0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28};
  write_raw(hp, promise);
  m = error_of([&] { read_idx_images(hp); });
  BOOST_TEST(has(m, "holds 16 bytes (truncated)"), m);
  // labels: a promise of 2³²−1 labels in a 10-byte file
  write_raw(hp, {0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff, 1, 2});
  m = error_of([&] { read_idx_labels(hp); });
  BOOST_TEST(has(m, "holds 10 bytes (truncated)"), m);
}

BOOST_AUTO_TEST_CASE(cifar10_round_trip_and_errors) {
  std::vector<unsigned char> b;
  for (int r = 0; r < 3; ++r) {
    b.push_back(static_cast<unsigned char>(r * 3));
    for (int j = 0; j < 3072; ++j) b.push_back(static_cast<unsigned char>((r + j) % 256));
  }
  const std::string p = temp("data_batch_1.bin");
  write_raw(p, b);
  const Dataset ds = load_cifar10_files({p, p});
  BOOST_TEST(ds.size() == 6u);
  BOOST_TEST(ds.dim() == 3072u);
  BOOST_TEST(ds.labels[4] == 3);
  BOOST_TEST(ds.X(2, 5) == 7.0);
  // Records [2, 5) across the two files, read by seeking to them.
  const Dataset shard = load_cifar10_files({p, p}, 2, 3);
  BOOST_TEST(shard.size() == 3u);
  BOOST_TEST(shard.labels == (std::vector<std::int64_t>{6, 0, 3}));
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t j = 0; j < 3072; j += 511) BOOST_TEST(shard.X(r, j) == ds.X(2 + r, j));
  BOOST_TEST(has(error_of([&] { load_cifar10_files({p, p}, 5, 2); }), "records [5, 7) requested, the files hold 6"));
  auto bad = b;
  bad.pop_back();
  write_raw(p, bad);
  std::string m = error_of([&] { load_cifar10_files({p}); });
  BOOST_TEST(has(m, "3073-byte"), m);
  bad = b;
  bad[3073] = 11;
  write_raw(p, bad);
  m = error_of([&] { load_cifar10_files({p}); });
  BOOST_TEST(has(m, "record 1 has label 11"), m);
  m = error_of([&] { load_cifar10(Split::Test, temp("no-cifar")); });
  BOOST_TEST(has(m, "test_batch.bin"), m);
  // A batch cut exactly on a record boundary is still cut: with the batch
  // size known (10000 for the official files), 2 records where 3 belong are
  // refused, not read on into the next file.
  write_raw(p, b);
  const std::string cut = temp("data_batch_2.bin");
  write_raw(cut, std::vector<unsigned char>(b.begin(), b.begin() + 2 * 3073));
  m = error_of([&] { load_cifar10_files({cut, p}, 0, 4, 3); });
  BOOST_TEST(has(m, "data_batch_2.bin: 2 records (6146 bytes); a CIFAR-10 batch file holds 3 (9219 bytes)"), m);
  BOOST_TEST(load_cifar10_files({p, p}, 0, 4, 3).size() == 4u);
}

BOOST_AUTO_TEST_CASE(csv_with_header_and_labels) {
  const std::string p = temp("d.csv");
  std::ofstream(p) << "a,b,label\n1.5,2,0\n-3,4e1,2\n\n5, 6 ,1\n";
  CsvOptions o;
  o.label_column = 2;
  const Dataset ds = load_csv(p, o);
  BOOST_TEST(ds.size() == 3u);
  BOOST_TEST(ds.dim() == 2u);
  BOOST_TEST(close(ds.X, Tensor{{1.5, 2.0}, {-3.0, 40.0}, {5.0, 6.0}}, 0.0));
  BOOST_TEST(ds.labels == (std::vector<std::int64_t>{0, 2, 1}));
  BOOST_TEST(ds.num_classes == 3u);
  std::ofstream(p) << "1,2\n3,x\n";
  std::string m = error_of([&] { load_csv(p); });
  BOOST_TEST(has(m, p + ":2"), m);
  std::ofstream(p) << "1,2\n3\n";
  m = error_of([&] { load_csv(p); });
  BOOST_TEST(has(m, "1 fields, the first data line had 2"), m);
  std::ofstream(p) << "1,2.5\n";
  m = error_of([&] { load_csv(p, o); });
  BOOST_TEST(has(m, "label column 2 does not exist"), m);
  o.label_column = 1;
  m = error_of([&] { load_csv(p, o); });
  BOOST_TEST(has(m, "label 2.5 is not an integer in [0, 100000)"), m);
}

// Issue 9's probe: rows that used to vanish as a "header" or change silently.
BOOST_AUTO_TEST_CASE(csv_rows_do_not_vanish_or_change) {
  const std::string p = temp("probe.csv");
  CsvOptions o;
  o.label_column = 0;
  // a UTF-8 BOM before a numeric first row: data, not a header
  std::ofstream(p, std::ios::binary) << "\xEF\xBB\xBF" << "1,2\n0,3\n";
  BOOST_TEST(load_csv(p, o).size() == 2u);
  // '+1' and "1" are numbers: the first row is data
  std::ofstream(p) << "+1,2\n0,3\n";
  BOOST_TEST(load_csv(p, o).size() == 2u);
  std::ofstream(p) << "\"1\",2\n0,3\n";
  BOOST_TEST(load_csv(p, o).size() == 2u);
  // a first row mixing numbers and something else is an error, not a dropped header
  for (const std::string first : {"1e999,2", "0x10,2", "1,abc"}) {
    std::ofstream(p) << first << "\n0,3\n";
    const std::string m = error_of([&] { load_csv(p, o); });
    BOOST_TEST(has(m, p + ":1: the first line mixes numbers and text"), first << ": " << m);
  }
  // a header of names is still detected
  std::ofstream(p) << "label,x\n1,2\n";
  BOOST_TEST(load_csv(p, o).size() == 1u);
  // out-of-range and non-finite values are refused, by line and field
  std::ofstream(p) << "1,2\n0,1e999\n";
  BOOST_TEST(has(error_of([&] { load_csv(p, o); }), p + ":2: field 2 '1e999' is outside the range of a double"));
  std::ofstream(p) << "1,2\n0,nan\n";
  BOOST_TEST(has(error_of([&] { load_csv(p, o); }), p + ":2: field 2 'nan' is not a finite number"));
  std::ofstream(p) << "1,2\n0,-inf\n";
  BOOST_TEST(has(error_of([&] { load_csv(p, o); }), "field 2 '-inf' is not a finite number"));
  // labels: inf (before: cast to −2⁶³), 1e300, 1e15 (before: a 10¹⁵-class objective)
  for (const std::string label : {"inf", "1e300", "1e15"}) {
    std::ofstream(p) << "1,2\n" << label << ",3\n";
    const std::string m = error_of([&] { load_csv(p, o); });
    BOOST_TEST((has(m, "is not a finite number") || has(m, "is not an integer in [0, 100000)")), label << ": " << m);
  }
}

BOOST_AUTO_TEST_CASE(fashion_mnist_from_the_debian_package) {
  const Dataset ds = load_fashion_mnist(Split::Train, kFashionMnistDir, 5000);
  BOOST_TEST(ds.size() == 5000u);
  BOOST_TEST(ds.dim() == 784u);
  BOOST_TEST(ds.num_classes == 10u);
  // The first training label of Fashion-MNIST is 9 (ankle boot), then 0, 0, 3.
  BOOST_TEST((ds.labels[0] == 9 && ds.labels[1] == 0 && ds.labels[2] == 0 && ds.labels[3] == 3));
  BOOST_TEST(xt::amax(ds.X)() == 255.0);
  const Dataset test = load_fashion_mnist(Split::Test);
  BOOST_TEST(test.size() == 10000u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(transforms)

BOOST_AUTO_TEST_CASE(subsets_scaling_standardization_one_hot) {
  Dataset ds = gaussian_clusters(60, 4, 3, 3.0, 9);
  const Dataset f = first_n(ds, 10);
  BOOST_TEST(f.size() == 10u);
  BOOST_TEST(close(f.X, Tensor(xt::view(ds.X, xt::range(0, 10), xt::all())), 0.0));
  BOOST_CHECK_THROW(first_n(ds, 61), DataError);
  const Dataset s = stratified_subset(ds, 31, 1);
  std::vector<int> counts(3, 0);
  for (auto l : s.labels) counts[l]++;
  BOOST_TEST((counts == std::vector<int>{11, 10, 10}));
  BOOST_CHECK_THROW(stratified_subset(ds, 61, 1), DataError);

  // statistics from one set applied to another; a constant feature keeps std 1
  Tensor A = {{1.0, 5.0}, {3.0, 5.0}};
  const auto st = Standardizer::fit(A);
  BOOST_TEST(close(st.mean, Tensor{2.0, 5.0}, 0.0));
  BOOST_TEST(close(st.std, Tensor{1.0, 1.0}, 0.0));
  Tensor B = {{2.0, 7.0}};
  st.apply(B);
  BOOST_TEST(close(B, Tensor{{0.0, 2.0}}, 0.0));
  st.apply(A);
  BOOST_TEST(close(A, Tensor{{-1.0, 0.0}, {1.0, 0.0}}, 0.0));
  Tensor wrong = {{1.0, 2.0, 3.0}};
  BOOST_CHECK_THROW(st.apply(wrong), DataError);

  BOOST_TEST(close(one_hot({2, 0}, 3), Tensor{{0, 0, 1}, {1, 0, 0}}, 0.0));
  BOOST_CHECK_THROW(one_hot({3}, 3), DataError);
  Dataset img = f;
  scale_features(img, 0.5);
  BOOST_TEST(close(img.X, Tensor(0.5 * f.X), 0.0));
  img.X.reshape({10, 2, 2});
  flatten(img);
  BOOST_TEST(img.X.shape()[1] == 4u);
}

BOOST_AUTO_TEST_CASE(minibatch_sampler) {
  using R = MinibatchSampler::Replacement;
  MinibatchSampler without(10, 4, R::Without, 3);
  BOOST_TEST(without.batches_per_epoch() == 3u);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::multiset<std::size_t> seen;
    for (int b = 0; b < 3; ++b) {
      const auto& idx = without.next();
      BOOST_TEST(idx.size() == (b < 2 ? 4u : 2u));
      seen.insert(idx.begin(), idx.end());
      BOOST_TEST(without.epoch_ended() == (b == 2));
    }
    BOOST_TEST(seen.size() == 10u);
    BOOST_TEST(std::set<std::size_t>(seen.begin(), seen.end()).size() == 10u);  // each once
  }
  BOOST_TEST(without.epoch() == 2u);
  MinibatchSampler a(100, 7, R::With, 5), b(100, 7, R::With, 5), c(100, 7, R::With, 6);
  bool differs = false;
  for (int i = 0; i < 5; ++i) {
    const auto x = a.next(), y = b.next(), z = c.next();
    BOOST_TEST(x == y);
    differs |= x != z;
    for (auto v : x) BOOST_TEST(v < 100u);
  }
  BOOST_TEST(differs);
  MinibatchSampler dropping(10, 4, R::Without, 3, true);
  BOOST_TEST(dropping.batches_per_epoch() == 2u);
  dropping.next();
  dropping.next();
  BOOST_TEST(dropping.epoch_ended());
  BOOST_CHECK_THROW(MinibatchSampler(5, 6, R::Without, 1), DataError);
}

// Checkpoints: a sampler restored mid-epoch, at an epoch's end or with
// replacement draws the same batches as one that never stopped (the rest of
// the permutation and the generator, normal spare included, are state).
BOOST_AUTO_TEST_CASE(minibatch_sampler_state_continues_the_same_batches) {
  using R = MinibatchSampler::Replacement;
  for (const auto replacement : {R::Without, R::With})
    for (const bool drop_last : {false, true})
      for (std::size_t cut : {0, 1, 2, 3, 5}) {
        MinibatchSampler straight(10, 4, replacement, 9, drop_last), first(10, 4, replacement, 9, drop_last);
        std::vector<std::vector<std::size_t>> expected;
        std::vector<bool> ended;
        for (int i = 0; i < 8; ++i) {
          expected.push_back(straight.next());
          ended.push_back(straight.epoch_ended());
        }
        for (std::size_t i = 0; i < cut; ++i) first.next();
        StateDict saved;
        first.save_state(saved);
        MinibatchSampler second(10, 4, replacement, 12345, drop_last);  // another seed: the state decides
        second.load_state(StateDict::parse(saved.serialize()));
        BOOST_TEST(second.epoch() == first.epoch());
        for (std::size_t i = cut; i < 8; ++i) {
          BOOST_TEST(second.next() == expected[i], "cut " << cut << ", batch " << i);
          BOOST_TEST(second.epoch_ended() == ended[i]);
        }
      }
  // A state for another data size, or a damaged permutation, is refused.
  MinibatchSampler s(10, 4, R::Without, 1);
  s.next();
  StateDict saved;
  s.save_state(saved);
  BOOST_CHECK_THROW(MinibatchSampler(11, 4, R::Without, 1).load_state(saved), StateError);
  StateDict bad = saved;
  StateDict::Integers perm = saved.integers("perm");
  perm[0] = perm[1];
  bad.put("perm", perm);
  try {
    MinibatchSampler(10, 4, R::Without, 1).load_state(bad);
    BOOST_ERROR("a permutation with a repeated index was accepted");
  } catch (const StateError& e) {
    BOOST_TEST(std::string(e.what()) == "state: sampler permutation is not a permutation of 0..n−1");
  }
}

BOOST_AUTO_TEST_CASE(synthetic_sets_are_reproducible) {
  const Dataset a = gaussian_clusters(20, 3, 4, 1.0, 42), b = gaussian_clusters(20, 3, 4, 1.0, 42);
  BOOST_TEST(close(a.X, b.X, 0.0));
  BOOST_TEST(a.labels == b.labels);
  const Dataset t = teacher_student(15, 4, 6, 2, 0.0, 1);
  BOOST_TEST(t.has_targets());
  BOOST_TEST(t.targets.shape()[1] == 2u);
  BOOST_TEST(!t.has_labels());
  t.validate();
}

BOOST_AUTO_TEST_SUITE_END()
