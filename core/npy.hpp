// numpy .npy files of float64 arrays (format 1.0/2.0/3.0, little-endian,
// C order), the exchange format for θ, eigenvectors and trajectories.
// Errors name the file and say what was expected and what was found.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "files.hpp"  // write_file_atomically, here before core/ had a file of its own
#include "tensor.hpp"

namespace eos {

struct NpyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a .npy holds: its dtype ("float64", or "float32", which every reader
// here widens to float64 exactly) and shape.
struct NpyInfo {
  std::string dtype;
  Shape shape;
};

// Only a regular file is opened (a FIFO or device is refused, not read).
// float64 or float32 (widened); `info`, when given, says which and the shape.
Tensor read_npy(const std::string& path, NpyInfo* info = nullptr);
NpyInfo read_npy_info(const std::string& path);  // the header only
// Row `row` of a 2-D array [rows, d], reading only that row's bytes.
Tensor read_npy_row(const std::string& path, std::size_t row);
// A flat vector of exactly `expected_size` entries (any shape with that many
// elements is refused unless it is 1-D).
Tensor read_npy_vector(const std::string& path, std::optional<std::size_t> expected_size = {});

// .npz archives as numpy's savez and savez_compressed write them: the keys
// np.load gives (member names without ".npy"), in the archive's order, and
// one array by key (inflated, CRC-checked, float64 or float32 widened).
std::vector<std::string> npz_keys(const std::string& path);
Tensor read_npz_array(const std::string& path, const std::string& key, NpyInfo* info = nullptr);

void write_npy(const std::string& path, const Tensor& t);
// The bytes write_npy writes (format 1.0, '<f8', C order): what a manifest fingerprints.
std::string npy_bytes(const Tensor& t);

}  // namespace eos
