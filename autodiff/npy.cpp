#include "npy.hpp"

#include <cstring>
#include <fstream>
#include <regex>

#include <fmt/format.h>

namespace eos {

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NpyError(fmt::format("{}: cannot open .npy file ({})", path, std::strerror(errno)));
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw NpyError(fmt::format("{}: not a .npy file (missing the \\x93NUMPY magic)", path));
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) throw NpyError(fmt::format("{}: truncated .npy header", path));
    header_len = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) throw NpyError(fmt::format("{}: truncated .npy header", path));
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  } else {
    throw NpyError(fmt::format("{}: unsupported .npy format version {}", path, major));
  }
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
  Shape shape;
  const std::string dims = m[1];
  std::regex num(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    shape.push_back(std::stoull(it->str()));
  const std::size_t n = shape_size(shape);
  Tensor t = Tensor::from_shape(shape);
  in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(n * sizeof(double)));
  if (static_cast<std::size_t>(in.gcount()) != n * sizeof(double))
    throw NpyError(fmt::format("{}: truncated data: shape {} needs {} bytes, file has {}", path,
                               shape_str(shape), n * sizeof(double), in.gcount()));
  if (in.peek() != std::char_traits<char>::eof())
    throw NpyError(fmt::format("{}: trailing bytes after the {} elements of shape {}", path, n, shape_str(shape)));
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

void write_npy(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (std::size_t i = 0; i < t.dimension(); ++i) shape += std::to_string(t.shape()[i]) + (t.dimension() == 1 ? "," : i + 1 < t.dimension() ? ", " : "");
  shape += ")";
  std::string header = fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}", shape);
  // Pad with spaces so that magic + len + header + '\n' is a multiple of 64.
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw NpyError(fmt::format("{}: cannot open for writing ({})", path, std::strerror(errno)));
  out.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = static_cast<std::uint16_t>(header.size());
  const char lb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(lb, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.size() * sizeof(double)));
  if (!out) throw NpyError(fmt::format("{}: write failed ({})", path, std::strerror(errno)));
}

}  // namespace eos
