#include "npy.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <regex>
#include <vector>

#include <zlib.h>

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

namespace {

// Bytes to read from: a file (read where asked, never whole) or an .npz
// member already inflated into memory.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const = 0;
  virtual bool read(std::uint64_t offset, void* into, std::size_t n) const = 0;  // false: fewer bytes were there
};

class FileBytes : public ByteSource {
 public:
  explicit FileBytes(const std::string& path) : in_(open_regular(path)) {
    in_.seekg(0, std::ios::end);
    size_ = static_cast<std::uint64_t>(in_.tellg());
  }
  std::uint64_t size() const override { return size_; }
  bool read(std::uint64_t offset, void* into, std::size_t n) const override {
    if (offset > size_ || n > size_ - offset) return false;
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(static_cast<char*>(into), static_cast<std::streamsize>(n));
    return static_cast<std::size_t>(in_.gcount()) == n;
  }

 private:
  // A FIFO or a device would block or stream forever: only a regular file is opened.
  static std::ifstream open_regular(const std::string& path) {
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
      throw NpyError(fmt::format("{}: not a regular file (a directory, FIFO or device), expected a .npy file", path));
    std::ifstream in(path, std::ios::binary);
    if (!in) throw NpyError(fmt::format("{}: cannot open the file ({})", path, std::strerror(errno)));
    return in;
  }
  mutable std::ifstream in_;
  std::uint64_t size_ = 0;
};

class MemoryBytes : public ByteSource {
 public:
  explicit MemoryBytes(std::string bytes) : bytes_(std::move(bytes)) {}
  std::uint64_t size() const override { return bytes_.size(); }
  bool read(std::uint64_t offset, void* into, std::size_t n) const override {
    if (offset > bytes_.size() || n > bytes_.size() - offset) return false;
    std::memcpy(into, bytes_.data() + offset, n);
    return true;
  }

 private:
  std::string bytes_;
};

struct Header {
  NpyInfo info;
  std::uint64_t data_offset = 0;
  std::size_t item_bytes = 8;
};

// The header of the .npy in `src` (named `name` in messages), checked against
// the bytes that follow it: exactly the shape's elements, no more, no fewer.
Header read_header(const ByteSource& src, const std::string& name) {
  const std::uint64_t file_size = src.size();
  char magic[8];
  if (!src.read(0, magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw NpyError(fmt::format("{}: not a .npy file (missing the \\x93NUMPY magic)", name));
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t header_len = 0;
  std::uint64_t prefix = 8;
  if (major == 1) {
    unsigned char b[2];
    if (!src.read(8, b, 2)) throw NpyError(fmt::format("{}: truncated .npy header", name));
    header_len = b[0] | (b[1] << 8);
    prefix += 2;
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!src.read(8, b, 4)) throw NpyError(fmt::format("{}: truncated .npy header", name));
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
    prefix += 4;
  } else {
    throw NpyError(fmt::format("{}: unsupported .npy format version {}", name, major));
  }
  // Sizes read from the file are checked against the file before any memory is committed.
  if (header_len > file_size - prefix)
    throw NpyError(fmt::format("{}: the .npy header claims {} bytes but the file has only {} after its prefix", name,
                               header_len, file_size - prefix));
  std::string header(header_len, '\0');
  if (!src.read(prefix, header.data(), header_len)) throw NpyError(fmt::format("{}: truncated .npy header", name));
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    throw NpyError(fmt::format("{}: .npy header has no 'descr': {}", name, header));
  const std::string descr = m[1];
  Header h;
  if (descr == "<f8" || descr == "=f8") {
    h.info.dtype = "float64";
  } else if (descr == "<f4" || descr == "=f4") {
    h.info.dtype = "float32";
    h.item_bytes = 4;
  } else {
    throw NpyError(fmt::format("{}: dtype is '{}', expected float64 ('<f8') or float32 ('<f4', widened to float64)",
                               name, descr));
  }
  if (std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*True)")))
    throw NpyError(fmt::format("{}: Fortran-ordered arrays are not supported (save with C order)", name));
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    throw NpyError(fmt::format("{}: .npy header has no 'shape': {}", name, header));
  h.info.shape = parse_npy_shape(name, m[1]);
  const std::uint64_t data_bytes = file_size - prefix - header_len;
  std::uint64_t n = 1;
  for (const std::size_t d : h.info.shape) {
    if (d != 0 && n > data_bytes / h.item_bytes / d) {  // more elements than the file holds (or than 2⁶⁴)
      n = UINT64_MAX;
      break;
    }
    n *= d;
  }
  if (n == UINT64_MAX || n * h.item_bytes > data_bytes)
    throw NpyError(fmt::format("{}: truncated data: shape {} of {} needs more bytes than the file's {}", name,
                               shape_str(h.info.shape), h.info.dtype, data_bytes));
  if (n * h.item_bytes < data_bytes)
    throw NpyError(fmt::format("{}: trailing bytes after the {} elements of shape {}", name, n, shape_str(h.info.shape)));
  h.data_offset = prefix + header_len;
  return h;
}

// `count` elements from element `first` on, as float64 (float32 widened exactly).
void read_elements(const ByteSource& src, const Header& h, std::uint64_t first, std::size_t count, double* out,
                   const std::string& name) {
  const std::uint64_t offset = h.data_offset + first * h.item_bytes;
  bool ok;
  if (h.item_bytes == 8) {
    ok = src.read(offset, out, count * 8);
  } else {
    std::vector<float> narrow(count);
    ok = src.read(offset, narrow.data(), count * 4);
    for (std::size_t i = 0; ok && i < count; ++i) out[i] = static_cast<double>(narrow[i]);
  }
  if (!ok) throw NpyError(fmt::format("{}: truncated data: shape {} of {}", name, shape_str(h.info.shape), h.info.dtype));
}

Tensor read_all(const ByteSource& src, const std::string& name, NpyInfo* info) {
  const Header h = read_header(src, name);
  Tensor t = Tensor::from_shape(h.info.shape);
  read_elements(src, h, 0, t.size(), t.data(), name);
  if (info) *info = h.info;
  return t;
}

// ---- .npz: a zip archive of .npy files (numpy's savez, stored, and
// savez_compressed, deflated; numpy writes every member with zip64 fields).

std::uint64_t le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct ZipMember {
  std::string name;  // as stored, e.g. "arr_0.npy"
  std::uint16_t method = 0, flags = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed = 0, uncompressed = 0, local_offset = 0;
};

std::vector<ZipMember> zip_directory(const FileBytes& f, const std::string& path) {
  const std::uint64_t size = f.size();
  auto bad = [&](const std::string& what) { return NpyError(fmt::format("{}: not a readable .npz (zip) archive: {}", path, what)); };
  // The end-of-central-directory record: the last 22 bytes plus a comment of up to 65535.
  const std::uint64_t tail = std::min<std::uint64_t>(size, 22 + 65535);
  std::vector<unsigned char> end(tail);
  if (tail < 22 || !f.read(size - tail, end.data(), tail)) throw bad("shorter than a zip's end record");
  std::optional<std::uint64_t> at;
  for (std::uint64_t i = tail - 22 + 1; i-- > 0;)
    if (le(&end[i], 4) == 0x06054b50) {
      at = i;
      break;
    }
  if (!at) throw bad("no end-of-central-directory record");
  const unsigned char* e = &end[*at];
  std::uint64_t entries = le(e + 10, 2), cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {  // zip64
    const std::uint64_t locator = size - tail + *at;
    unsigned char loc[20], z[56];
    if (locator < 20 || !f.read(locator - 20, loc, 20) || le(loc, 4) != 0x07064b50) throw bad("no zip64 locator");
    const std::uint64_t z_at = le(loc + 8, 8);
    if (!f.read(z_at, z, 56) || le(z, 4) != 0x06064b50) throw bad("no zip64 end record");
    entries = le(z + 32, 8);
    cd_size = le(z + 40, 8);
    cd_offset = le(z + 48, 8);
  }
  if (cd_offset > size || cd_size > size - cd_offset) throw bad("the central directory lies outside the file");
  std::vector<unsigned char> cd(cd_size);
  if (!f.read(cd_offset, cd.data(), cd_size)) throw bad("truncated central directory");
  std::vector<ZipMember> members;
  std::uint64_t p = 0;
  for (std::uint64_t k = 0; k < entries; ++k) {
    if (p + 46 > cd_size || le(&cd[p], 4) != 0x02014b50) throw bad(fmt::format("central directory entry {} is damaged", k));
    const unsigned char* c = &cd[p];
    ZipMember m;
    m.flags = std::uint16_t(le(c + 8, 2));
    m.method = std::uint16_t(le(c + 10, 2));
    m.crc = std::uint32_t(le(c + 16, 4));
    m.compressed = le(c + 20, 4);
    m.uncompressed = le(c + 24, 4);
    m.local_offset = le(c + 42, 4);
    const std::uint64_t name_len = le(c + 28, 2), extra_len = le(c + 30, 2), comment_len = le(c + 32, 2);
    if (p + 46 + name_len + extra_len + comment_len > cd_size) throw bad(fmt::format("central directory entry {} is cut", k));
    m.name.assign(reinterpret_cast<const char*>(c + 46), name_len);
    // zip64 extra field (id 1): the 8-byte values of the fields saturated above, in this order.
    for (std::uint64_t x = 0; x + 4 <= extra_len;) {
      const unsigned char* xf = c + 46 + name_len + x;
      const std::uint64_t id = le(xf, 2), len = le(xf + 2, 2);
      if (x + 4 + len > extra_len) throw bad(fmt::format("member '{}': damaged extra field", m.name));
      if (id == 1) {
        std::uint64_t q = 0;
        for (std::uint64_t* field : {&m.uncompressed, &m.compressed, &m.local_offset})
          if (*field == 0xFFFFFFFF) {
            if (q + 8 > len) throw bad(fmt::format("member '{}': short zip64 field", m.name));
            *field = le(xf + 4 + q, 8);
            q += 8;
          }
      }
      x += 4 + len;
    }
    members.push_back(std::move(m));
    p += 46 + name_len + extra_len + comment_len;
  }
  return members;
}

// A member's bytes, inflated and checked against its CRC-32.
std::string zip_member_bytes(const FileBytes& f, const ZipMember& m, const std::string& path) {
  const std::string where = fmt::format("{}: member '{}'", path, m.name);
  if (m.flags & 1) throw NpyError(where + ": encrypted");
  unsigned char local[30];
  if (!f.read(m.local_offset, local, 30) || le(local, 4) != 0x04034b50)
    throw NpyError(where + ": its local header is missing or damaged");
  const std::uint64_t data = m.local_offset + 30 + le(local + 26, 2) + le(local + 28, 2);
  if (data > f.size() || m.compressed > f.size() - data) throw NpyError(where + ": its data lie outside the file");
  std::string packed(m.compressed, '\0');
  if (!f.read(data, packed.data(), packed.size())) throw NpyError(where + ": truncated");
  std::string out;
  if (m.method == 0) {
    if (m.uncompressed != m.compressed) throw NpyError(where + ": stored with two different sizes");
    out = std::move(packed);
  } else if (m.method == 8) {
    // Deflate expands at most ~1032:1: a larger claimed size is damage, not data (and would be a huge allocation).
    if (m.uncompressed > m.compressed * 1100 + 1024) throw NpyError(where + ": its claimed size cannot be inflated from its data");
    if (packed.size() > std::numeric_limits<uInt>::max() || m.uncompressed > std::numeric_limits<uInt>::max())
      throw NpyError(where + ": over 4 GiB compressed (one inflate call); save it with np.save or np.savez instead");
    out.assign(m.uncompressed, '\0');
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw NpyError(where + ": zlib failed to start");
    z.next_in = reinterpret_cast<Bytef*>(packed.data());
    z.avail_in = static_cast<uInt>(packed.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&z, Z_FINISH);
    const std::uint64_t produced = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != m.uncompressed)
      throw NpyError(where + ": its deflated data are damaged");
  } else {
    throw NpyError(fmt::format("{}: compression method {} (only stored and deflate, as numpy writes)", where, m.method));
  }
  if (crc32_z(0L, reinterpret_cast<const Bytef*>(out.data()), out.size()) != m.crc)
    throw NpyError(where + ": CRC mismatch (damaged)");
  return out;
}

std::string npz_key(const std::string& member) {  // np.load's key: the name without ".npy"
  return member.size() > 4 && member.ends_with(".npy") ? member.substr(0, member.size() - 4) : member;
}

}  // namespace

Tensor read_npy(const std::string& path, NpyInfo* info) { return read_all(FileBytes(path), path, info); }

NpyInfo read_npy_info(const std::string& path) { return read_header(FileBytes(path), path).info; }

Tensor read_npy_row(const std::string& path, std::size_t row) {
  const FileBytes f(path);
  const Header h = read_header(f, path);
  if (h.info.shape.size() != 2)
    throw NpyError(fmt::format("{}: expected a 2-D array [steps, d], got shape {}", path, shape_str(h.info.shape)));
  if (row >= h.info.shape[0])
    throw NpyError(fmt::format("{}: row {} of an array with {} rows", path, row, h.info.shape[0]));
  Tensor t = Tensor::from_shape({h.info.shape[1]});
  read_elements(f, h, std::uint64_t(row) * h.info.shape[1], t.size(), t.data(), path);
  return t;
}

std::vector<std::string> npz_keys(const std::string& path) {
  std::vector<std::string> keys;
  for (const auto& m : zip_directory(FileBytes(path), path)) keys.push_back(npz_key(m.name));
  return keys;
}

Tensor read_npz_array(const std::string& path, const std::string& key, NpyInfo* info) {
  const FileBytes f(path);
  for (const auto& m : zip_directory(f, path))
    if (npz_key(m.name) == key)
      return read_all(MemoryBytes(zip_member_bytes(f, m, path)), fmt::format("{}['{}']", path, key), info);
  throw NpyError(fmt::format("{}: no array '{}' in this .npz", path, key));
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
