#include "loaders.hpp"

#include <zlib.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace eos::data {
namespace {

// The whole file, decompressed if it is gzip (zlib reads plain files as is).
std::vector<unsigned char> read_all(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw DataError(fmt::format("{}: no such file", path));
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw DataError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  for (;;) {
    const int got = gzread(f, buf, sizeof buf);
    if (got < 0) {
      int err = 0;
      const std::string msg = gzerror(f, &err);
      gzclose(f);
      throw DataError(fmt::format("{}: corrupt or truncated gzip data ({})", path, msg));
    }
    if (got == 0) break;
    out.insert(out.end(), buf, buf + got);
  }
  gzclose(f);
  return out;
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// Parses an idx header; returns the dims, checking magic and exact length.
std::vector<std::size_t> idx_dims(const std::string& path, const std::vector<unsigned char>& b,
                                  std::uint32_t magic, const char* what) {
  if (b.size() < 4) throw DataError(fmt::format("{}: too short for an idx file ({} bytes)", path, b.size()));
  const std::uint32_t m = be32(b.data());
  if (m != magic)
    throw DataError(fmt::format("{}: magic number 0x{:08x}, expected 0x{:08x} ({})", path, m, magic, what));
  const std::size_t ndim = m & 0xff;
  if (b.size() < 4 + 4 * ndim) throw DataError(fmt::format("{}: truncated idx header", path));
  std::vector<std::size_t> dims;
  std::size_t count = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    dims.push_back(be32(b.data() + 4 + 4 * i));
    count *= dims.back();
  }
  const std::size_t expected = 4 + 4 * ndim + count;
  if (b.size() != expected) {
    std::string shape;
    for (std::size_t i = 0; i < ndim; ++i) shape += (i ? "×" : "") + std::to_string(dims[i]);
    throw DataError(fmt::format("{}: header says {} ({} bytes with the header) but the file holds {} bytes{}",
                                path, shape, expected, b.size(), b.size() < expected ? " (truncated)" : ""));
  }
  return dims;
}

std::size_t take(const std::string& what, std::size_t available, std::optional<std::size_t> limit) {
  if (!limit) return available;
  if (*limit > available)
    throw DataError(fmt::format("{}: {} examples requested, the file has {}", what, *limit, available));
  return *limit;
}

}  // namespace

Tensor read_idx_images(const std::string& path, std::optional<std::size_t> limit, std::size_t* total) {
  const auto b = read_all(path);
  const auto dims = idx_dims(path, b, 0x00000803, "idx3 unsigned-byte images");
  if (total) *total = dims[0];
  // Only the first n images become doubles: peak memory stays at the subset's size.
  const std::size_t n = take(path, dims[0], limit), d = dims[1] * dims[2];
  Tensor X = Tensor::from_shape({n, d});
  const unsigned char* p = b.data() + 16;
  for (std::size_t i = 0; i < n * d; ++i) X.data()[i] = p[i];
  return X;
}

std::vector<std::int64_t> read_idx_labels(const std::string& path) {
  const auto b = read_all(path);
  const auto dims = idx_dims(path, b, 0x00000801, "idx1 unsigned-byte labels");
  return std::vector<std::int64_t>(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(dims[0]));
}

Dataset load_idx_dataset(const std::string& images, const std::string& labels, std::size_t num_classes,
                         std::optional<std::size_t> limit) {
  Dataset ds;
  std::size_t total = 0;
  ds.X = read_idx_images(images, limit, &total);
  ds.labels = read_idx_labels(labels);
  ds.num_classes = num_classes;
  ds.source = images;
  if (ds.labels.size() != total)
    throw DataError(fmt::format("{} has {} images but {} has {} labels", images, total, labels, ds.labels.size()));
  for (std::size_t i = 0; i < ds.labels.size(); ++i)
    if (ds.labels[i] < 0 || static_cast<std::size_t>(ds.labels[i]) >= num_classes)
      throw DataError(fmt::format("{}: label {} of example {} is outside [0, {})", labels, ds.labels[i], i, num_classes));
  ds.labels.resize(ds.size());
  return ds;
}

Dataset load_idx_directory(Split split, const std::string& dir, std::optional<std::size_t> limit) {
  const std::string stem = split == Split::Train ? "train" : "t10k";
  if (!std::filesystem::is_directory(dir)) throw DataError(fmt::format("{}: no such directory", dir));
  auto find = [&](const std::string& name) {
    const std::string gz = dir + "/" + name + ".gz", raw = dir + "/" + name;
    if (std::filesystem::exists(gz)) return gz;
    if (std::filesystem::exists(raw)) return raw;
    throw DataError(fmt::format("{}: has neither {}.gz nor {} (idx files named as MNIST's)", dir, name, name));
  };
  Dataset ds = load_idx_dataset(find(stem + "-images-idx3-ubyte"), find(stem + "-labels-idx1-ubyte"), 10, limit);
  ds.source = fmt::format("idx {} ({})", stem, dir);
  return ds;
}

Dataset load_fashion_mnist(Split split, const std::string& dir, std::optional<std::size_t> limit) {
  if (!std::filesystem::is_directory(dir))
    throw DataError(fmt::format("Fashion-MNIST: {} does not exist (install Debian's dataset-fashion-mnist package, "
                                "or pass the directory that holds the idx files)", dir));
  Dataset ds = load_idx_directory(split, dir, limit);
  ds.source = fmt::format("fashion-mnist {} ({})", split == Split::Train ? "train" : "t10k", dir);
  return ds;
}

Dataset load_cifar10_files(const std::vector<std::string>& files) {
  constexpr std::size_t kRecord = 3073, kPixels = 3072;
  Dataset ds;
  ds.num_classes = 10;
  std::vector<unsigned char> all;
  std::size_t n = 0;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(fmt::format("{}: no such file or not readable", path));
    std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (b.empty() || b.size() % kRecord != 0)
      throw DataError(fmt::format("{}: {} bytes is not a whole number of 3073-byte CIFAR-10 records", path, b.size()));
    for (std::size_t r = 0; r < b.size() / kRecord; ++r)
      if (b[r * kRecord] > 9)
        throw DataError(fmt::format("{}: record {} has label {}, outside [0, 10)", path, r, int(b[r * kRecord])));
    all.insert(all.end(), b.begin(), b.end());
    n += b.size() / kRecord;
  }
  ds.X = Tensor::from_shape({n, kPixels});
  for (std::size_t r = 0; r < n; ++r) {
    ds.labels.push_back(all[r * kRecord]);
    for (std::size_t j = 0; j < kPixels; ++j) ds.X(r, j) = all[r * kRecord + 1 + j];
  }
  ds.source = files.size() == 1 ? files[0] : fmt::format("{} CIFAR-10 batch files", files.size());
  return ds;
}

Dataset load_cifar10(Split split, const std::string& dir) {
  std::vector<std::string> files;
  if (split == Split::Test) files.push_back(dir + "/test_batch.bin");
  else
    for (int i = 1; i <= 5; ++i) files.push_back(fmt::format("{}/data_batch_{}.bin", dir, i));
  Dataset ds = load_cifar10_files(files);
  ds.source = fmt::format("cifar-10 {} ({})", split == Split::Train ? "train" : "test", dir);
  return ds;
}

namespace {
bool parse_fields(const std::string& line, char delim, std::vector<double>& out) {
  out.clear();
  std::size_t start = 0;
  for (;;) {
    std::size_t end = line.find(delim, start);
    if (end == std::string::npos) end = line.size();
    std::string_view f(line.data() + start, end - start);
    while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.remove_prefix(1);
    while (!f.empty() && (f.back() == ' ' || f.back() == '\t' || f.back() == '\r')) f.remove_suffix(1);
    double v = 0;
    const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (f.empty() || ec != std::errc() || p != f.data() + f.size()) return false;
    out.push_back(v);
    if (end == line.size()) return true;
    start = end + 1;
  }
}
}  // namespace

Dataset load_csv(const std::string& path, const CsvOptions& opt) {
  std::ifstream in(path);
  if (!in) throw DataError(fmt::format("{}: no such file or not readable", path));
  std::vector<std::vector<double>> rows;
  std::string line;
  std::vector<double> fields;
  std::size_t lineno = 0, width = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line == "\r") continue;
    const bool numeric = parse_fields(line, opt.delimiter, fields);
    if (first) {
      first = false;
      if (opt.header.value_or(!numeric)) continue;  // header: given, or detected
    }
    if (!numeric) throw DataError(fmt::format("{}:{}: a field is not a number: '{}'", path, lineno, line));
    if (width == 0) width = fields.size();
    if (fields.size() != width)
      throw DataError(fmt::format("{}:{}: {} fields, the first data line had {}", path, lineno, fields.size(), width));
    rows.push_back(fields);
  }
  if (rows.empty()) throw DataError(fmt::format("{}: no data lines", path));
  Dataset ds;
  ds.source = path;
  const bool labelled = opt.label_column.has_value();
  if (labelled && *opt.label_column >= width)
    throw DataError(fmt::format("{}: label column {} does not exist (lines have {} fields)", path, *opt.label_column, width));
  const std::size_t d = width - (labelled ? 1 : 0);
  ds.X = Tensor::from_shape({rows.size(), d});
  std::int64_t max_label = -1;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::size_t j = 0;
    for (std::size_t c = 0; c < width; ++c) {
      if (labelled && c == *opt.label_column) {
        const double v = rows[r][c];
        if (v < 0 || v != std::floor(v))
          throw DataError(fmt::format("{}: data line {}: label {} is not a non-negative integer", path, r + 1, v));
        ds.labels.push_back(static_cast<std::int64_t>(v));
        max_label = std::max(max_label, ds.labels.back());
      } else {
        ds.X(r, j++) = rows[r][c];
      }
    }
  }
  ds.num_classes = labelled ? static_cast<std::size_t>(max_label + 1) : 0;
  return ds;
}

}  // namespace eos::data
