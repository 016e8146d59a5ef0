#include "op.hpp"

namespace eos::ad {

#define EOS_OP(name) extern const OpDef op_##name;
#include "op_list.inc"
#undef EOS_OP

const std::vector<const OpDef*>& all_ops() {
#define EOS_OP(name) &op_##name,
  static const std::vector<const OpDef*> ops = {
#include "op_list.inc"
  };
#undef EOS_OP
  return ops;
}

}  // namespace eos::ad
