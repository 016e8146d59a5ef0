#include "loaders.hpp"

#include "../core/text.hpp"

#include <zlib.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <numeric>
#include <sstream>

#include <fmt/format.h>

namespace eos::data {
namespace {

// An idx file (raw or gzip: zlib reads plain files as is) read as a stream:
// the header, then exactly the payload its dims promise. Nothing is inflated
// or allocated beyond what has actually arrived and was asked for: the first
// `keep(dims)` rows go to `out`, the rest is read through a small buffer to
// check that it is there, and reading stops at the first byte past the
// promise (a gzip bomb is refused there, not inflated whole).
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw DataError(fmt::format("{}: no such file", path));
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) throw DataError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  }
  ~IdxStream() { gzclose(f_); }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  // Up to n bytes into p; returns how many arrived (fewer only at the end).
  std::size_t read(unsigned char* p, std::size_t n) {
    std::size_t got_total = 0;
    while (got_total < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got_total, 1u << 20));
      const int got = gzread(f_, p + got_total, chunk);
      if (got < 0) {
        int err = 0;
        throw DataError(fmt::format("{}: corrupt or truncated gzip data ({})", path_, gzerror(f_, &err)));
      }
      if (got == 0) break;
      got_total += std::size_t(got);
    }
    return got_total;
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// Rows [first, first + count) of an idx payload.
struct RowRange {
  std::size_t first = 0, count = 0;
};

// Reads an idx file: checks the magic, returns the dims, and stores the rows
// keep_rows(dims) of the payload in `out` (row = product of dims[1:]); the
// others stream past.
std::vector<std::size_t> read_idx(const std::string& path, std::uint32_t magic, const char* what,
                                  const std::function<RowRange(const std::vector<std::size_t>&)>& keep_rows,
                                  std::vector<unsigned char>& out) {
  IdxStream in(path);
  unsigned char head[4];
  const std::size_t got = in.read(head, 4);
  if (got < 4) throw DataError(fmt::format("{}: too short for an idx file ({} bytes)", path, got));
  const std::uint32_t m = be32(head);
  if (m != magic)
    throw DataError(fmt::format("{}: magic number 0x{:08x}, expected 0x{:08x} ({})", path, m, magic, what));
  const std::size_t ndim = m & 0xff;
  std::vector<unsigned char> dim_bytes(4 * ndim);
  if (in.read(dim_bytes.data(), dim_bytes.size()) < dim_bytes.size())
    throw DataError(fmt::format("{}: truncated idx header", path));
  std::vector<std::size_t> dims;
  std::string shape;
  std::size_t row = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    dims.push_back(be32(dim_bytes.data() + 4 * i));
    shape += (i ? "×" : "") + std::to_string(dims[i]);
    if (i > 0) row *= dims[i];  // ≤ (2³²−1)² for idx3: no overflow in 64 bits
  }
  if (row != 0 && dims[0] > (std::size_t(1) << 48) / row)
    throw DataError(fmt::format("{}: header says {}, more than 2⁴⁸ bytes", path, shape));
  const std::size_t payload = dims[0] * row, header = 4 + 4 * ndim;
  const RowRange rows = keep_rows(dims);  // within dims[0] (the callback checks)
  const std::size_t keep_from = rows.first * row, keep_to = (rows.first + rows.count) * row;
  out.clear();
  std::size_t arrived = 0;
  unsigned char buf[1 << 16];
  while (arrived < payload) {  // grow `out` only with bytes that arrived
    const std::size_t want = std::min<std::size_t>(payload - arrived, sizeof buf);
    const std::size_t n = in.read(buf, want);
    const std::size_t from = std::max(arrived, keep_from), to = std::min(arrived + n, keep_to);
    if (from < to) out.insert(out.end(), buf + (from - arrived), buf + (to - arrived));
    arrived += n;
    if (n < want) break;
  }
  if (arrived < payload)
    throw DataError(fmt::format("{}: header says {} ({} bytes with the header) but the file holds {} bytes (truncated)",
                                path, shape, header + payload, header + arrived));
  unsigned char extra;
  if (in.read(&extra, 1) != 0)
    throw DataError(fmt::format("{}: header says {} ({} bytes with the header) but the file holds more", path, shape,
                                header + payload));
  return dims;
}

std::size_t take(const std::string& what, std::size_t available, std::optional<std::size_t> limit) {
  if (!limit) return available;
  if (*limit > available)
    throw DataError(fmt::format("{}: {} examples requested, the file has {}", what, *limit, available));
  return *limit;
}

}  // namespace

Tensor read_idx_images(const std::string& path, std::optional<std::size_t> limit, std::size_t* total,
                       std::size_t first) {
  // Only the requested images are kept (and become doubles): peak memory stays at the subset's size.
  std::vector<unsigned char> b;
  std::size_t n = 0;
  const auto dims = read_idx(path, 0x00000803, "idx3 unsigned-byte images",
                             [&](const std::vector<std::size_t>& d) {
                               if (first > d[0])
                                 throw DataError(fmt::format("{}: images from {} on requested, the file has {}", path,
                                                             first, d[0]));
                               n = take(path, d[0] - first, limit);
                               return RowRange{first, n};
                             },
                             b);
  if (total) *total = dims[0];
  const std::size_t d = dims[1] * dims[2];
  Tensor X = Tensor::from_shape({n, d});
  for (std::size_t i = 0; i < n * d; ++i) X.data()[i] = b[i];
  return X;
}

std::vector<std::int64_t> read_idx_labels(const std::string& path) {
  std::vector<unsigned char> b;
  read_idx(path, 0x00000801, "idx1 unsigned-byte labels",
           [](const std::vector<std::size_t>& d) { return RowRange{0, d[0]}; }, b);
  return std::vector<std::int64_t>(b.begin(), b.end());
}

Dataset load_idx_dataset(const std::string& images, const std::string& labels, std::size_t num_classes,
                         std::optional<std::size_t> limit, std::size_t first) {
  Dataset ds;
  std::size_t total = 0;
  ds.X = read_idx_images(images, limit, &total, first);
  ds.labels = read_idx_labels(labels);
  ds.num_classes = num_classes;
  ds.source = images;
  if (ds.labels.size() != total)
    throw DataError(fmt::format("{} has {} images but {} has {} labels", images, total, labels, ds.labels.size()));
  for (std::size_t i = 0; i < ds.labels.size(); ++i)
    if (ds.labels[i] < 0 || static_cast<std::size_t>(ds.labels[i]) >= num_classes)
      throw DataError(fmt::format("{}: label {} of example {} is outside [0, {})", labels, ds.labels[i], i, num_classes));
  ds.labels.erase(ds.labels.begin(), ds.labels.begin() + std::ptrdiff_t(first));
  ds.labels.resize(ds.size());
  return ds;
}

Dataset load_idx_directory(Split split, const std::string& dir, std::optional<std::size_t> limit, std::size_t first) {
  const std::string stem = split == Split::Train ? "train" : "t10k";
  if (!std::filesystem::is_directory(dir)) throw DataError(fmt::format("{}: no such directory", dir));
  auto find = [&](const std::string& name) {
    const std::string gz = dir + "/" + name + ".gz", raw = dir + "/" + name;
    if (std::filesystem::exists(gz)) return gz;
    if (std::filesystem::exists(raw)) return raw;
    throw DataError(fmt::format("{}: has neither {}.gz nor {} (idx files named as MNIST's)", dir, name, name));
  };
  Dataset ds = load_idx_dataset(find(stem + "-images-idx3-ubyte"), find(stem + "-labels-idx1-ubyte"), 10, limit, first);
  ds.source = fmt::format("idx {} ({})", stem, dir);
  return ds;
}

Dataset load_fashion_mnist(Split split, const std::string& dir, std::optional<std::size_t> limit, std::size_t first) {
  if (!std::filesystem::is_directory(dir))
    throw DataError(fmt::format("Fashion-MNIST: {} does not exist (install Debian's dataset-fashion-mnist package, "
                                "or pass the directory that holds the idx files)", dir));
  Dataset ds = load_idx_directory(split, dir, limit, first);
  ds.source = fmt::format("fashion-mnist {} ({})", split == Split::Train ? "train" : "t10k", dir);
  return ds;
}

namespace {
constexpr std::size_t kCifarRecord = 3073, kCifarPixels = 3072;

constexpr std::size_t kCifarBatch = 10000;  // records in each file of the official binary version

// Records per file, from the files' sizes (each a whole number of records;
// with `per_file`, exactly that many: a batch cut on a record boundary is
// still cut).
std::vector<std::size_t> cifar_records(const std::vector<std::string>& files,
                                       std::optional<std::size_t> per_file = std::nullopt) {
  std::vector<std::size_t> records;
  for (const auto& path : files) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    if (ec) throw DataError(fmt::format("{}: no such file or not readable", path));
    if (bytes == 0 || bytes % kCifarRecord != 0)
      throw DataError(fmt::format("{}: {} bytes is not a whole number of 3073-byte CIFAR-10 records", path, bytes));
    if (per_file && bytes / kCifarRecord != *per_file)
      throw DataError(fmt::format("{}: {} records ({} bytes); a CIFAR-10 batch file holds {} ({} bytes): the file is "
                                  "cut short or is not a batch",
                                  path, bytes / kCifarRecord, bytes, *per_file, *per_file * kCifarRecord));
    records.push_back(bytes / kCifarRecord);
  }
  return records;
}

std::vector<std::string> cifar_files(Split split, const std::string& dir) {
  std::vector<std::string> files;
  if (split == Split::Test) files.push_back(dir + "/test_batch.bin");
  else
    for (int i = 1; i <= 5; ++i) files.push_back(fmt::format("{}/data_batch_{}.bin", dir, i));
  return files;
}
}  // namespace

Dataset load_cifar10_files(const std::vector<std::string>& files, std::size_t first, std::optional<std::size_t> count,
                           std::optional<std::size_t> records_per_file) {
  const std::vector<std::size_t> records = cifar_records(files, records_per_file);
  const std::size_t total = std::accumulate(records.begin(), records.end(), std::size_t(0));
  if (first > total || (count && *count > total - first))
    throw DataError(fmt::format("CIFAR-10: records [{}, {}) requested, the files hold {}", first,
                                first + count.value_or(0), total));
  const std::size_t n = count.value_or(total - first);
  Dataset ds;
  ds.num_classes = 10;
  ds.X = Tensor::from_shape({n, kCifarPixels});
  std::vector<unsigned char> record(kCifarRecord);
  std::size_t file_first = 0;  // global index of the file's first record
  for (std::size_t f = 0; f < files.size(); file_first += records[f], ++f) {
    const std::size_t from = std::max(first, file_first), to = std::min(first + n, file_first + records[f]);
    if (from >= to) continue;  // none of this file's records are ours: not even opened
    std::ifstream in(files[f], std::ios::binary);
    in.seekg(std::streamoff((from - file_first) * kCifarRecord));
    for (std::size_t r = from; r < to; ++r) {
      if (!in.read(reinterpret_cast<char*>(record.data()), kCifarRecord))
        throw DataError(fmt::format("{}: read failed at record {}", files[f], r - file_first));
      if (record[0] > 9)
        throw DataError(fmt::format("{}: record {} has label {}, outside [0, 10)", files[f], r - file_first,
                                    int(record[0])));
      ds.labels.push_back(record[0]);
      for (std::size_t j = 0; j < kCifarPixels; ++j) ds.X(r - first, j) = record[1 + j];
    }
  }
  ds.source = files.size() == 1 ? files[0] : fmt::format("{} CIFAR-10 batch files", files.size());
  return ds;
}

Dataset load_cifar10(Split split, const std::string& dir, std::size_t first, std::optional<std::size_t> count) {
  Dataset ds = load_cifar10_files(cifar_files(split, dir), first, count, kCifarBatch);
  ds.source = fmt::format("cifar-10 {} ({})", split == Split::Train ? "train" : "test", dir);
  return ds;
}

std::size_t cifar10_size(Split split, const std::string& dir) {
  const auto records = cifar_records(cifar_files(split, dir), kCifarBatch);
  return std::accumulate(records.begin(), records.end(), std::size_t(0));
}

std::size_t idx_directory_dim(Split split, const std::string& dir) {
  const std::string stem = split == Split::Train ? "train" : "t10k";
  for (const std::string& name : {stem + "-images-idx3-ubyte.gz", stem + "-images-idx3-ubyte"}) {
    const std::string path = dir + "/" + name;
    if (!std::filesystem::exists(path)) continue;
    IdxStream in(path);
    unsigned char head[16];
    if (in.read(head, 16) < 16) throw DataError(fmt::format("{}: truncated idx header", path));
    if (be32(head) != 0x00000803) throw DataError(fmt::format("{}: not an idx3 image file", path));
    return std::size_t(be32(head + 8)) * be32(head + 12);
  }
  throw DataError(fmt::format("{}: has neither {}-images-idx3-ubyte.gz nor {}-images-idx3-ubyte", dir, stem, stem));
}

std::size_t idx_directory_size(Split split, const std::string& dir) {
  // The labels file (one byte per example) says how many there are.
  const std::string stem = split == Split::Train ? "train" : "t10k";
  for (const std::string& name : {stem + "-labels-idx1-ubyte.gz", stem + "-labels-idx1-ubyte"})
    if (std::filesystem::exists(dir + "/" + name)) return read_idx_labels(dir + "/" + name).size();
  throw DataError(fmt::format("{}: has neither {}-labels-idx1-ubyte.gz nor {}-labels-idx1-ubyte", dir, stem, stem));
}

namespace {

// A CSV field: surrounding blanks and one pair of double quotes are dropped,
// a leading '+' is allowed; the rest must be a whole decimal number.
enum class Field { Number, Text, OutOfRange };
Field parse_field(std::string_view f, double& v) {
  while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.remove_prefix(1);
  while (!f.empty() && (f.back() == ' ' || f.back() == '\t' || f.back() == '\r')) f.remove_suffix(1);
  if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
  if (!f.empty() && f.front() == '+') f.remove_prefix(1);
  if (f.empty() || f.front() == '+' || f.front() == ' ') return Field::Text;
  const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
  if (p != f.data() + f.size()) return Field::Text;  // 0x10, 1.2.3, names
  if (ec == std::errc::result_out_of_range) return Field::OutOfRange;  // 1e999
  return ec == std::errc() ? Field::Number : Field::Text;
}

// Splits a line; returns how many fields are numbers (out: their values, NaN elsewhere).
std::size_t parse_fields(const std::string& line, char delim, std::vector<double>& out, std::vector<std::string>& raw,
                         std::vector<Field>& kinds) {
  out.clear();
  raw.clear();
  kinds.clear();
  std::size_t start = 0, numbers = 0;
  for (;;) {
    std::size_t end = line.find(delim, start);
    if (end == std::string::npos) end = line.size();
    const std::string_view f(line.data() + start, end - start);
    double v = NAN;
    const Field k = parse_field(f, v);
    numbers += k == Field::Number;
    out.push_back(k == Field::Number ? v : NAN);
    raw.emplace_back(f);
    kinds.push_back(k);
    if (end == line.size()) return numbers;
    start = end + 1;
  }
}

constexpr std::int64_t kMaxClasses = 100000;  // a label past this is a corrupt file, not a class

}  // namespace

// Header detection (CsvOptions::header unset): the first line is a header when
// none of its fields is a number; a line with some numbers and some text is
// an error (it cannot be told apart), never silently dropped. Every data
// field must be a finite number; a label an integer in [0, 100000).
Dataset load_csv(const std::string& path, const CsvOptions& opt) {
  std::ifstream in(path);
  if (!in) throw DataError(fmt::format("{}: no such file or not readable", path));
  std::vector<std::vector<double>> rows;
  std::string line;
  std::vector<double> fields;
  std::vector<std::string> raw;
  std::vector<Field> kinds;
  std::size_t lineno = 0, width = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++lineno;
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte-order mark
    if (line.empty() || line == "\r") continue;
    const std::size_t numbers = parse_fields(line, opt.delimiter, fields, raw, kinds);
    if (first) {
      first = false;
      const bool header = opt.header.value_or(numbers == 0);
      if (!opt.header && numbers != 0 && numbers != fields.size())
        throw DataError(fmt::format("{}:{}: the first line mixes numbers and text, so it is neither clearly a header "
                                    "nor data ({}): make every header field a name, or set CsvOptions::header",
                                    path, lineno, quote_input(line)));
      if (header) continue;
    }
    for (std::size_t c = 0; c < fields.size(); ++c) {
      if (kinds[c] == Field::OutOfRange)
        throw DataError(fmt::format("{}:{}: field {} {} is outside the range of a double", path, lineno, c + 1,
                                    quote_input(raw[c])));
      if (kinds[c] == Field::Text)
        throw DataError(fmt::format("{}:{}: field {} {} is not a number", path, lineno, c + 1, quote_input(raw[c])));
      if (!std::isfinite(fields[c]))
        throw DataError(fmt::format("{}:{}: field {} {} is not a finite number", path, lineno, c + 1, quote_input(raw[c])));
    }
    if (width == 0) width = fields.size();
    if (fields.size() != width)
      throw DataError(fmt::format("{}:{}: {} fields, the first data line had {}", path, lineno, fields.size(), width));
    rows.push_back(fields);
  }
  if (rows.empty()) throw DataError(fmt::format("{}: no data lines", path));
  if (opt.label_column && width < 2)
    throw DataError(fmt::format("{}: {} column per line; a labelled CSV needs the label and at least one feature "
                                "(is the delimiter '{}'?)",
                                path, width, opt.delimiter));
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
        const double v = rows[r][c];  // finite: checked above
        if (v < 0 || v != std::floor(v) || v >= double(kMaxClasses))
          throw DataError(fmt::format("{}: data line {}: label {} is not an integer in [0, {})", path, r + 1, v,
                                      kMaxClasses));
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
