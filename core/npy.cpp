#include "npy.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include <fmt/format.h>

#include "files.hpp"

namespace eos {

namespace {

// The dimensions inside 'shape': (…): non-negative integer literals separated
// by commas (a trailing comma allowed). Anything else — a sign, a fraction, a
// name, a number past 2⁶⁴ — is refused by name.
Shape parse_npy_shape(const std::string& path, const std::string& dims) {
  Shape shape;
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == '\t')) ++i;
  };
  skip_space();
  while (i < dims.size()) {
    const std::size_t start = i;
    std::size_t value = 0;
    bool overflow = false;
    while (i < dims.size() && dims[i] >= '0' && dims[i] <= '9') {
      const std::size_t digit = std::size_t(dims[i] - '0');
      if (value > (SIZE_MAX - digit) / 10) overflow = true;
      else value = value * 10 + digit;
      ++i;
    }
    if (i < dims.size() && dims[i] == 'L') ++i;  // Python 2 writers: 3L
    std::size_t end = i;
    skip_space();
    const bool separator = i == dims.size() || dims[i] == ',';
    if (end == start || !separator) {
      std::size_t stop = dims.find(',', start);
      throw NpyError(fmt::format("{}: .npy shape entry '{}' is not a non-negative integer", path,
                                 dims.substr(start, stop == std::string::npos ? std::string::npos : stop - start)));
    }
    if (overflow)
      throw NpyError(fmt::format("{}: .npy shape entry {} is too large", path, dims.substr(start, end - start)));
    shape.push_back(value);
    if (i < dims.size()) ++i;  // the comma
    skip_space();
  }
  return shape;
}

}  // namespace

Tensor read_npy(const std::string& path) {
  // A FIFO or a device would block or stream forever: only a regular file is opened.
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    throw NpyError(fmt::format("{}: not a regular file (a directory, FIFO or device), expected a .npy file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NpyError(fmt::format("{}: cannot open .npy file ({})", path, std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0, std::ios::beg);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw NpyError(fmt::format("{}: not a .npy file (missing the \\x93NUMPY magic)", path));
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t header_len = 0;
  std::uint64_t prefix = 8;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) throw NpyError(fmt::format("{}: truncated .npy header", path));
    header_len = b[0] | (b[1] << 8);
    prefix += 2;
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) throw NpyError(fmt::format("{}: truncated .npy header", path));
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
    prefix += 4;
  } else {
    throw NpyError(fmt::format("{}: unsupported .npy format version {}", path, major));
  }
  // Sizes read from the file are checked against the file before any memory is committed.
  if (header_len > file_size - prefix)
    throw NpyError(fmt::format("{}: the .npy header claims {} bytes but the file has only {} after its prefix", path,
                               header_len, file_size - prefix));
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) throw NpyError(fmt::format("{}: truncated .npy header", path));
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    throw NpyError(fmt::format("{}: .npy header has no 'descr': {}", path, header));
  const std::string descr = m[1];
  if (descr != "<f8" && descr != "=f8")
    throw NpyError(fmt::format("{}: dtype is '{}', expected float64 ('<f8')", path, descr));
  if (std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*True)")))
    throw NpyError(fmt::format("{}: Fortran-ordered arrays are not supported (save with C order)", path));
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    throw NpyError(fmt::format("{}: .npy header has no 'shape': {}", path, header));
  const Shape shape = parse_npy_shape(path, m[1]);
  const std::uint64_t data_bytes = file_size - prefix - header_len;
  std::uint64_t n = 1;
  for (const std::size_t d : shape) {
    if (d != 0 && n > data_bytes / sizeof(double) / d) {  // more elements than the file holds (or than 2⁶⁴)
      n = UINT64_MAX;
      break;
    }
    n *= d;
  }
  if (n == UINT64_MAX || n * sizeof(double) > data_bytes)
    throw NpyError(fmt::format("{}: truncated data: shape {} needs more bytes than the file's {}", path,
                               shape_str(shape), data_bytes));
  if (n * sizeof(double) < data_bytes)
    throw NpyError(fmt::format("{}: trailing bytes after the {} elements of shape {}", path, n, shape_str(shape)));
  Tensor t = Tensor::from_shape(shape);
  in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(n * sizeof(double)));
  if (static_cast<std::uint64_t>(in.gcount()) != n * sizeof(double))
    throw NpyError(fmt::format("{}: truncated data: shape {} needs {} bytes, read {}", path, shape_str(shape),
                               n * sizeof(double), in.gcount()));
  return t;
}

Tensor read_npy_vector(const std::string& path, std::optional<std::size_t> expected_size) {
  Tensor t = read_npy(path);
  if (t.dimension() != 1)
    throw NpyError(fmt::format("{}: expected a flat vector (1-D), got shape {}", path, shape_str_of(t.shape())));
  if (expected_size && t.size() != *expected_size)
    throw NpyError(fmt::format("{}: expected {} entries, got {}", path, *expected_size, t.size()));
  return t;
}

std::string npy_bytes(const Tensor& t) {
  std::string shape = "(";
  for (std::size_t i = 0; i < t.dimension(); ++i) shape += std::to_string(t.shape()[i]) + (t.dimension() == 1 ? "," : i + 1 < t.dimension() ? ", " : "");
  shape += ")";
  std::string header = fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}", shape);
  // Pad with spaces so that magic + len + header + '\n' is a multiple of 64.
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = static_cast<std::uint16_t>(header.size());
  bytes += static_cast<char>(len & 0xff);
  bytes += static_cast<char>(len >> 8);
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(t.data()), t.size() * sizeof(double));
  return bytes;
}

void write_npy(const std::string& path, const Tensor& t) {
  try {
    write_file_atomically(path, npy_bytes(t));  // a θ file of a trajectory is complete or absent
  } catch (const std::runtime_error& e) {
    throw NpyError(e.what());
  }
}

}  // namespace eos
