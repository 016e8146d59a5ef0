// The .npy reader against hostile headers (issue 9's probe): each case is the
// offending bytes, written to a file, and the error it must produce — never a
// crash, an out_of_range from stoull, or memory committed for what the file
// cannot hold.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <eoslab.hpp>

#include "support/check.hpp"
#include "support/scratch.hpp"

using namespace eos;

namespace {

std::string temp_path(const std::string& name) {
  return eos::test::scratch_file("npy/" + name).string();
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


// numpy's own files (tests/data/theta, written by np.save, np.savez and
// np.savez_compressed): θ_k[i] = k + i/8, exact in float32 too.
const std::string kTheta = std::string(EOS_TEST_DATA) + "/theta/";
Tensor theta_k(double k) {
  Tensor t = Tensor::from_shape({5});
  for (std::size_t i = 0; i < 5; ++i) t[i] = k + double(i) / 8;
  return t;
}
template <class F>
std::string npy_error_of(F&& f) {
  try {
    f();
  } catch (const NpyError& e) {
    return e.what();
  }
  return "no error";
}
std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
std::string file_with(const std::string& name, const std::string& bytes) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

BOOST_AUTO_TEST_CASE(float32_is_widened_exactly_and_said) {
  NpyInfo info;
  const Tensor t = read_npy(kTheta + "theta_f32.npy", &info);
  BOOST_TEST(info.dtype == "float32");
  BOOST_TEST(test::close(t, theta_k(7), 0.0));
  BOOST_TEST(read_npy_info(kTheta + "theta_f32.npy").shape == Shape{5});
  BOOST_TEST(test::close(read_npy_vector(kTheta + "theta_f32.npy", 5), theta_k(7), 0.0));
  const std::string e = error_of(npy_file("int.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 24));
  BOOST_TEST(e.find("dtype is '<i8', expected float64 ('<f8') or float32 ('<f4'") != std::string::npos, e);
  BOOST_TEST(error_of(npy_file("short32.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8))
                 .find("truncated data") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_row_of_a_2d_array_reads_alone) {
  for (std::size_t k = 0; k < 3; ++k) BOOST_TEST(test::close(read_npy_row(kTheta + "rows_f32.npy", k), theta_k(double(k)), 0.0));
  BOOST_TEST(npy_error_of([] { read_npy_row(kTheta + "rows_f32.npy", 3); }).find("row 3 of an array with 3 rows") !=
             std::string::npos);
  BOOST_TEST(npy_error_of([] { read_npy_row(kTheta + "theta_f32.npy", 0); }).find("expected a 2-D array [steps, d], got shape") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(npz_archives_stored_and_deflated_read_as_numpy_does) {
  BOOST_TEST(npz_keys(kTheta + "savez.npz") == std::vector<std::string>({"arr_0", "arr_1", "arr_2"}),
             boost::test_tools::per_element());
  for (int k = 0; k < 3; ++k) {
    NpyInfo info;
    BOOST_TEST(test::close(read_npz_array(kTheta + "savez.npz", "arr_" + std::to_string(k), &info), theta_k(k), 0.0));
    BOOST_TEST(info.dtype == "float64");
  }
  BOOST_TEST(npz_keys(kTheta + "named_f32.npz") == std::vector<std::string>({"theta_10", "theta_0"}),  // archive order
             boost::test_tools::per_element());
  NpyInfo info;
  BOOST_TEST(test::close(read_npz_array(kTheta + "named_f32.npz", "theta_10", &info), theta_k(10), 0.0));
  BOOST_TEST(info.dtype == "float32");
  const std::string e = npy_error_of([] { read_npz_array(kTheta + "mixed.npz", "ints"); });
  BOOST_TEST(e.find("mixed.npz['ints']: dtype is '<i8'") != std::string::npos, e);
  BOOST_TEST(npy_error_of([] { read_npz_array(kTheta + "savez.npz", "arr_9"); }).find("no array 'arr_9' in this .npz") !=
             std::string::npos);
}

// A damaged archive is an NpyError naming the file (and the member), never a
// crash or a wrong array: a flipped data byte fails the CRC, a cut file loses
// its directory, a deflate stream cut short is named.
BOOST_AUTO_TEST_CASE(damaged_npz_archives_are_named) {
  const std::string stored = bytes_of(kTheta + "savez.npz");
  std::string flipped = stored;
  const std::size_t data_at = stored.find("\x93NUMPY", stored.find("arr_1.npy"));
  flipped[data_at + 128 + 3] ^= 0x40;  // inside arr_1's float64 data
  const std::string f = file_with("flipped.npz", flipped);
  BOOST_TEST(test::close(read_npz_array(f, "arr_0"), theta_k(0), 0.0));  // the other members still read
  const std::string crc = npy_error_of([&] { read_npz_array(f, "arr_1"); });
  BOOST_TEST(crc.find("member 'arr_1.npy': CRC mismatch") != std::string::npos, crc);
  const std::string cut = file_with("cut.npz", stored.substr(0, stored.size() - 30));
  BOOST_TEST(npy_error_of([&] { npz_keys(cut); }).find("not a readable .npz (zip) archive") != std::string::npos);
  const std::string not_zip = file_with("not-zip.npz", std::string(100, 'x'));
  BOOST_TEST(npy_error_of([&] { npz_keys(not_zip); }).find("no end-of-central-directory record") != std::string::npos);
  std::string deflated = bytes_of(kTheta + "named_f32.npz");
  const std::size_t first = deflated.find("theta_10.npy") + 12;  // the local header's name ends; data follow
  for (std::size_t i = first + 10; i < first + 40; ++i) deflated[i] = '\xff';
  const std::string d = file_with("bad-deflate.npz", deflated);
  const std::string de = npy_error_of([&] { read_npz_array(d, "theta_10"); });
  BOOST_TEST((de.find("deflated data are damaged") != std::string::npos || de.find("CRC mismatch") != std::string::npos), de);
}

BOOST_AUTO_TEST_SUITE_END()
