// The .npy reader against hostile headers (issue 9's probe): each case is the
// offending bytes, written to a file, and the error it must produce — never a
// crash, an out_of_range from stoull, or memory committed for what the file
// cannot hold.
#include <filesystem>
#include <fstream>

#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;

namespace {

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "eoslab-tests-npy";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// A version-1 (or 2) .npy file with the given header dict and `data_bytes` zero bytes of data.
std::string npy_file(const std::string& name, const std::string& dict, std::size_t data_bytes, int major = 1,
                     std::uint32_t claimed_len = 0) {
  const std::string path = temp_path(name);
  std::string header = dict;
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write("\x93NUMPY", 6);
  out.put(static_cast<char>(major));
  out.put(0);
  const std::uint32_t len = claimed_len ? claimed_len : static_cast<std::uint32_t>(header.size());
  const int len_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
  out << header;
  out << std::string(data_bytes, '\0');
  return path;
}

std::string error_of(const std::string& path) {
  try {
    read_npy(path);
  } catch (const NpyError& e) {
    return e.what();
  }
  return "no error";
}

std::string dict_with_shape(const std::string& shape) {
  return "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(npy)

BOOST_AUTO_TEST_CASE(shapes_whose_product_overflows_are_refused) {
  // 2³² · 2³² · 16 elements wraps to 0 in 64 bits: it used to yield an empty
  // tensor with a huge shape, and a later read crashed.
  const auto m = error_of(npy_file("overflow.npy", dict_with_shape("(4294967296, 4294967296, 16)"), 64));
  BOOST_TEST(m.find("needs more bytes than the file's 64") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(negative_fractional_and_named_dimensions_are_refused) {
  for (const auto& [shape, token] : std::vector<std::pair<std::string, std::string>>{
           {"(-3,)", "-3"}, {"(2.5,)", "2.5"}, {"(n,)", "n"}, {"(3, -1)", "-1"}}) {
    const auto m = error_of(npy_file("bad_dim.npy", dict_with_shape(shape), 24));
    BOOST_TEST(m.find("shape entry '" + token + "' is not a non-negative integer") != std::string::npos, m);
  }
}

BOOST_AUTO_TEST_CASE(a_dimension_past_2_64_is_an_npy_error_not_out_of_range) {
  const auto m = error_of(npy_file("huge_dim.npy", dict_with_shape("(99999999999999999999999,)"), 8));
  BOOST_TEST(m.find("shape entry 99999999999999999999999 is too large") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(a_header_length_past_the_file_is_refused_before_allocating) {
  // format 2: a 4-byte header length of 4 GB in a ~100-byte file
  const auto path = npy_file("long_header.npy", dict_with_shape("(1,)"), 8, 2, 0xfffffff0u);
  BOOST_TEST(std::filesystem::file_size(path) < 200u);
  const auto m = error_of(path);
  BOOST_TEST(m.find("claims 4294967280 bytes but the file has only") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(truncated_and_trailing_data_are_named) {
  BOOST_TEST(error_of(npy_file("short.npy", dict_with_shape("(3,)"), 16)).find("truncated data") != std::string::npos);
  BOOST_TEST(error_of(npy_file("long.npy", dict_with_shape("(3,)"), 32)).find("trailing bytes") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(valid_shapes_still_read) {
  BOOST_TEST(read_npy(npy_file("scalar.npy", dict_with_shape("()"), 8)).size() == 1u);
  BOOST_TEST(read_npy(npy_file("empty.npy", dict_with_shape("(0,)"), 0)).size() == 0u);
  const Tensor t = read_npy(npy_file("spaces.npy", dict_with_shape("( 2 , 3 )"), 48));
  BOOST_TEST((t.shape()[0] == 2 && t.shape()[1] == 3));
  BOOST_TEST(read_npy(npy_file("py2.npy", dict_with_shape("(4L,)"), 32)).size() == 4u);
  const Tensor M = {{1.0, 2.0}, {3.0, 4.0}};
  const auto path = temp_path("roundtrip.npy");
  write_npy(path, M);
  BOOST_TEST(test::close(read_npy(path), M, 0.0));
}

// θ files and manifests are written to PATH.tmp, fsynced and renamed: a
// reader never sees a partial file, and nothing is left behind.
BOOST_AUTO_TEST_CASE(files_are_written_atomically) {
  const auto path = temp_path("atomic.npy");
  write_npy(path, Tensor{1.0, 2.0, 3.0});
  write_npy(path, Tensor{4.0, 5.0});  // replaces the old file whole
  BOOST_TEST(test::close(read_npy(path), Tensor{4.0, 5.0}, 0.0));
  BOOST_TEST(!std::filesystem::exists(path + ".tmp"));
  const std::string missing = temp_path("no-such-dir") + "/x/theta.npy";
  try {
    write_npy(missing, Tensor{1.0});
    BOOST_FAIL("writing into a missing directory must throw");
  } catch (const NpyError& e) {
    BOOST_TEST(std::string(e.what()).find(missing + ".tmp: cannot open for writing") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()
