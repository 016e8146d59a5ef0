// numpy .npy files of float64 arrays (format 1.0/2.0/3.0, little-endian,
// C order), the exchange format for θ, eigenvectors and trajectories.
// Errors name the file and say what was expected and what was found.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "files.hpp"  // write_file_atomically, here before core/ had a file of its own
#include "tensor.hpp"

namespace eos {

struct NpyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Only a regular file is opened (a FIFO or device is refused, not read).
Tensor read_npy(const std::string& path);
// A flat vector of exactly `expected_size` entries (any shape with that many
// elements is refused unless it is 1-D).
Tensor read_npy_vector(const std::string& path, std::optional<std::size_t> expected_size = {});

void write_npy(const std::string& path, const Tensor& t);
// The bytes write_npy writes (format 1.0, '<f8', C order): what a manifest fingerprints.
std::string npy_bytes(const Tensor& t);

}  // namespace eos
