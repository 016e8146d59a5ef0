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
// The first `limit` images (all without one; more than the file has is an
// error); `total`, if given, receives the number of images in the file.
Tensor read_idx_images(const std::string& path, std::optional<std::size_t> limit = std::nullopt,
                       std::size_t* total = nullptr);
// Labels: magic 0x00000801, dim n.
std::vector<std::int64_t> read_idx_labels(const std::string& path);

enum class Split { Train, Test };

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from `dir` (MNIST's
// layout); 10 classes. limit: read only the first `limit` examples (an error
// if the file has fewer).
Dataset load_idx_directory(Split split, const std::string& dir, std::optional<std::size_t> limit = std::nullopt);
// The same from Debian's package directory, with an error that names the package.
Dataset load_fashion_mnist(Split split, const std::string& dir = kFashionMnistDir,
                           std::optional<std::size_t> limit = std::nullopt);
// The same for MNIST files laid out the same way.
Dataset load_idx_dataset(const std::string& images, const std::string& labels, std::size_t num_classes,
                         std::optional<std::size_t> limit = std::nullopt);

// ---- CIFAR-10 binary batches: 3073-byte records (label byte, 3072 pixel
// bytes: 1024 red, 1024 green, 1024 blue, row-major 32×32). Features are the
// 3072 raw bytes in file order.
Dataset load_cifar10_files(const std::vector<std::string>& files);
// data_batch_1.bin … data_batch_5.bin (Train) or test_batch.bin (Test) in dir.
Dataset load_cifar10(Split split, const std::string& dir);

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
