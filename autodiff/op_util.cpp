#include "op_util.hpp"

namespace eos::ad::detail {

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (std::size_t i = 0; i < r; ++i) {
    const std::size_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const std::size_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw ShapeError(fmt::format("{}: shapes {} and {} do not broadcast (dimension {} is {} vs {})",
                                   op, shape_str(a), shape_str(b), i, da, db));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// g += full summed over the axes that g broadcasts along. Walks `full` in
// row-major order; each element lands at g's offset with stride 0 on the
// broadcast axes (a hand loop: xtensor 0.24's immediate reducers crash here).
void add_reduced(Tensor& g, const Tensor& full) {
  const std::size_t r = full.dimension();
  if (r < g.dimension())
    throw ShapeError(fmt::format("adjoint of broadcast: {} cannot be reduced to {}",
                                 shape_str_of(full.shape()), shape_str_of(g.shape())));
  const std::size_t lead = r - g.dimension();
  std::vector<std::size_t> gstride(r, 0);
  std::size_t s = 1;
  for (std::size_t i = r; i-- > lead;) {
    const std::size_t d = g.shape()[i - lead];
    if (d != 1) gstride[i] = s;
    s *= d;
  }
  const double* f = full.data();
  double* out = g.data();
  if (r == 0) {
    out[0] += f[0];
    return;
  }
  const std::size_t inner = full.shape()[r - 1], si = gstride[r - 1];
  std::vector<std::size_t> idx(r, 0);
  for (std::size_t done = 0, total = full.size(); done < total; done += inner) {
    std::size_t off = 0;
    for (std::size_t a = 0; a + 1 < r; ++a) off += idx[a] * gstride[a];
    double* o = out + off;
    if (si == 0) {
      double acc = 0.0;
      for (std::size_t j = 0; j < inner; ++j) acc += f[j];
      o[0] += acc;
    } else {
      for (std::size_t j = 0; j < inner; ++j) o[j] += f[j];
    }
    f += inner;
    for (std::size_t a = r - 1; a-- > 0;) {  // odometer over the outer axes
      if (++idx[a] < full.shape()[a]) break;
      idx[a] = 0;
    }
  }
}

}  // namespace eos::ad::detail
