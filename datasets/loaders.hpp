// Readers for the file formats of the field. Each validates what it reads and
// throws DataError naming the file and the problem: a missing file, a wrong
// magic number, dimensions that disagree with the file's length, a label out
// of range, more examples asked for than the file has.
#pragma once

#include <optional>
#include <string>

#include "dataset.hpp"

namespace eos::data {

// ---- idx (MNIST, Fashion-MNIST), raw or gzip-compressed (detected by content)
// Images: magic 0x00000803, dims n, rows, cols; returned as [n, rows·cols]
// with the raw byte values 0…255 (scale with scale_features).
// `limit` images from image `first` on (all the rest without a limit; more
// than the file has is an error); `total`, if given, receives the number of
// images in the file. The others stream past without being stored: a shard
// of a distributed run holds only its own rows.
Tensor read_idx_images(const std::string& path, std::optional<std::size_t> limit = std::nullopt,
                       std::size_t* total = nullptr, std::size_t first = 0);
// Labels: magic 0x00000801, dim n.
std::vector<std::int64_t> read_idx_labels(const std::string& path);

enum class Split { Train, Test };

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from `dir` (MNIST's
// layout); 10 classes. limit: read only the first `limit` examples (an error
// if the file has fewer).
Dataset load_idx_directory(Split split, const std::string& dir, std::optional<std::size_t> limit = std::nullopt,
                           std::size_t first = 0);
// The same from Debian's package directory, with an error that names the package.
Dataset load_fashion_mnist(Split split, const std::string& dir = kFashionMnistDir,
                           std::optional<std::size_t> limit = std::nullopt, std::size_t first = 0);
// The same for MNIST files laid out the same way.
Dataset load_idx_dataset(const std::string& images, const std::string& labels, std::size_t num_classes,
                         std::optional<std::size_t> limit = std::nullopt, std::size_t first = 0);

// ---- CIFAR-10 binary batches: 3073-byte records (label byte, 3072 pixel
// bytes: 1024 red, 1024 green, 1024 blue, row-major 32×32). Features are the
// 3072 raw bytes in file order.
// Records [first, first + count) of the files taken in order (all without a
// count); only those records are read.
// With records_per_file, each file must hold exactly that many records.
Dataset load_cifar10_files(const std::vector<std::string>& files, std::size_t first = 0,
                           std::optional<std::size_t> count = std::nullopt,
                           std::optional<std::size_t> records_per_file = std::nullopt);
// data_batch_1.bin … data_batch_5.bin (Train) or test_batch.bin (Test) in dir,
// 10000 records each (a file cut short, even on a record boundary, is refused).
Dataset load_cifar10(Split split, const std::string& dir, std::size_t first = 0,
                     std::optional<std::size_t> count = std::nullopt);
// How many examples a split holds, from the file sizes (CIFAR-10) or the
// labels file (idx), without reading the images.
std::size_t cifar10_size(Split split, const std::string& dir);
std::size_t idx_directory_size(Split split, const std::string& dir);
// Features per image (rows × cols), from the images file's header alone.
std::size_t idx_directory_dim(Split split, const std::string& dir);

// ---- CSV: one example per line, numeric fields. With label_column set, that
// column holds integer class labels ≥ 0 (num_classes = max + 1) and the
// others are features. A first line that does not parse as numbers is taken
// as a header when header is unset.
struct CsvOptions {
  char delimiter = ',';
  std::optional<bool> header;            // unset: detect
  std::optional<std::size_t> label_column;
};
Dataset load_csv(const std::string& path, const CsvOptions& options = {});

}  // namespace eos::data
