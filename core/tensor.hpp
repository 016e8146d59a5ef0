// The floor under everything (core/): the one value type of eoslab: a dense, row-major, float64 xtensor array of
// any rank, plus the error types every layer of the library throws.
#pragma once

#include <cmath>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

namespace eos {

using Tensor = xt::xarray<double>;
using Shape = std::vector<std::size_t>;

// "[5000, 784]"; "[]" for a rank-0 (scalar) tensor.
std::string shape_str(const Shape& s);
template <class S>
std::string shape_str_of(const S& s) { return shape_str(Shape(s.begin(), s.end())); }

std::size_t shape_size(const Shape& s);

// Shapes of operands do not fit an op. The message names the op and the shapes.
struct ShapeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A computation produced NaN or ±inf where a finite number is required (an
// HVP, an eigen-solve). The message says where; the Trainer ends the run as
// diverged at that step and keeps every earlier row.
struct NumericalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Tensors from a shape, avoiding xtensor's `xarray v({n})` trap (one element n).
Tensor zeros(const Shape& s);
// Σᵢ aᵢbᵢ over all elements of two tensors of equal size (eight interleaved
// partial sums: the same bits on any thread count; tensor.cpp says why not ddot).
// ShapeError if sizes differ.
double inner(const Tensor& a, const Tensor& b);
// ‖a‖₂: √(a·a), bit for bit, where a·a is finite and not tiny; where the sum
// of squares overflows (entries past ~1e154, as on a diverging run) or
// underflows (‖a‖ below ~1e-135), from a scaled by its largest |aᵢ|
// instead, as BLAS dnrm2 scales. NaN where an entry is NaN, inf where one is.
double norm(const Tensor& a);
// Whether a square, sum of squares or product of two is usable as it is:
// finite and at least 2⁻⁹⁰⁰ (below, its terms near the subnormals lose
// digits). Where not, divide by norms instead (eos::norm).
inline bool square_in_range(double s) { return std::isfinite(s) && std::abs(s) >= 0x1p-900; }
// Whether every entry is finite (no NaN, no ±inf).
bool all_finite(const Tensor& t);
// The flat index of the first NaN or ±inf entry, or none.
std::optional<std::size_t> first_non_finite(const Tensor& t);

// dst = src, keeping dst's buffer when the sizes match (plain assignment of
// an xarray reallocates): what lets a reused tape run without allocating.
void copy_into(Tensor& dst, const Tensor& src);
Tensor filled(const Shape& s, double v);

}  // namespace eos
