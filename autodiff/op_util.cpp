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

void add_reduced(Tensor& g, const Tensor& full) {
  const std::size_t rf = full.dimension(), rg = g.dimension();
  const std::size_t lead = rf - rg;
  std::vector<std::size_t> axes;
  for (std::size_t i = 0; i < rf; ++i)
    if (i < lead || (g.shape()[i - lead] == 1 && full.shape()[i] != 1)) axes.push_back(i);
  Tensor r = xt::sum(full, axes, xt::evaluation_strategy::immediate);
  g += view_as(r, g.shape());
}

}  // namespace eos::ad::detail
