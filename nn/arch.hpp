// Networks as text, and the edge-of-stability literature's architectures by
// name (Cohen et al. 2021, github locuslab/edge-of-stability src/archs.py and
// src/vgg.py).
//
// The layer grammar (docs/MODELS.md): layers separated by spaces, each
//   conv(OUT, K[, stride=S][, pad=P][, bias=false])   Conv2d, K×K kernel
//   linear(OUT[, bias=false])                        Linear; its input size is inferred
//   maxpool(K[, stride=S])  avgpool(K[, stride=S])   pooling (stride defaults to K)
//   gap                                              global average pooling [C, H, W] → [C]
//   flatten                                          [C, H, W] → [C·H·W]
//   bn                                               BatchNorm (training mode) over the channels
//   zeropad(C)                                       C more channels of zeros
//   residual[ LAYERS ]  residual[ LAYERS | LAYERS ]  body(x) + x, or body(x) + shortcut(x)
//   tanh relu elu softplus gelu sigmoid hardtanh leaky_relu selu identity
// e.g. "conv(32,3,pad=1) relu maxpool(2) conv(32,3,pad=1) relu maxpool(2) flatten linear(10)".
// Every size but the outputs' is inferred from the input shape, so a text
// describes a network for any input it fits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers.hpp"

namespace eos::nn {

// A bad model text or architecture name: the message names the layer (its
// position and text) and what was expected.
struct ModelSyntaxError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The network a layer text describes for examples of shape `input` (per
// example: [C, H, W] or [d]). ModelSyntaxError for bad text or shapes that do
// not fit (naming the layer).
std::shared_ptr<Sequential> parse_model(const std::string& text, const Shape& input);

// The layer text of architecture `name` for `classes` outputs, exactly
// Cohen et al.'s. ModelSyntaxError for an unknown name (listing the known).
std::string arch_model(const std::string& name, std::size_t classes);
const std::vector<std::string>& arch_names();

// One line per layer with its output shape, then θ's layout (name, offset,
// shape) and the parameter count: what `eoslab describe` prints.
std::string describe_model(const Sequential& net, const Shape& input);

}  // namespace eos::nn
