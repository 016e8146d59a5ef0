#include "tensor.hpp"

#include <algorithm>

#include <xtensor/xbuilder.hpp>

namespace eos {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

std::size_t shape_size(const Shape& s) {
  std::size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

void copy_into(Tensor& dst, const Tensor& src) {
  dst.resize(src.shape());
  std::copy(src.data(), src.data() + src.size(), dst.data());
}

Tensor zeros(const Shape& s) { return xt::zeros<double>(s); }
Tensor filled(const Shape& s, double v) {
  Tensor t = Tensor::from_shape(s);
  t.fill(v);
  return t;
}

}  // namespace eos
