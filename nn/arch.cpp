#include "arch.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace eos::nn {
namespace {

// One layer's text split into its name and arguments: "conv(32,3,pad=1)" →
// conv, positional {32, 3}, named {pad: 1}.
struct LayerText {
  std::string text, name;
  std::vector<std::string> positional;
  std::map<std::string, std::string> named;
};

class Parser {
 public:
  Parser(const std::string& text) : s_(text) {}

  // LAYERS up to the end, a '|' or a ']'; builds them for examples of `shape`
  // (updated to the output's shape).
  std::shared_ptr<Sequential> layers(Shape& shape) {
    auto net = std::make_shared<Sequential>();
    for (skip_space(); pos_ < s_.size() && s_[pos_] != '|' && s_[pos_] != ']'; skip_space()) {
      ++count_;
      const std::size_t start = pos_;
      std::shared_ptr<const Module> m = layer(shape, start);
      try {
        shape = m->output_shape(shape);
      } catch (const ShapeError& e) {
        fail(start, e.what());
      }
      net->add(std::move(m));
    }
    return net;
  }
  void expect_end() {
    skip_space();
    if (pos_ < s_.size()) fail(pos_, fmt::format("unexpected '{}'", s_[pos_]));
    if (count_ == 0) throw ModelSyntaxError("model text: no layers (e.g. 'conv(32,3,pad=1) relu flatten linear(10)')");
  }

 private:
  std::shared_ptr<const Module> layer(Shape& shape, std::size_t start) {
    std::string name;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
      name += s_[pos_++];
    if (name.empty()) fail(start, fmt::format("expected a layer name, found '{}'", s_[pos_]));
    if (name == "residual") return residual(shape, start);
    LayerText t{"", name, {}, {}};
    if (pos_ < s_.size() && s_[pos_] == '(') arguments(t, start);
    t.text = s_.substr(start, pos_ - start);
    return build(t, shape, start);
  }

  std::shared_ptr<const Module> residual(const Shape& shape, std::size_t start) {
    if (pos_ >= s_.size() || s_[pos_] != '[') fail(start, "residual takes its layers in brackets: residual[ … ] or residual[ … | … ]");
    ++pos_;
    Shape body_shape = shape;
    auto body = layers(body_shape);
    std::shared_ptr<const Module> shortcut;
    if (pos_ < s_.size() && s_[pos_] == '|') {
      ++pos_;
      Shape skip_shape = shape;
      shortcut = layers(skip_shape);
    }
    if (pos_ >= s_.size() || s_[pos_] != ']') fail(start, "residual[ … ] is not closed by ']'");
    ++pos_;
    return std::make_shared<Residual>(body, shortcut);
  }

  void arguments(LayerText& t, std::size_t start) {
    const std::size_t close = s_.find(')', pos_);
    if (close == std::string::npos) fail(start, "'(' is not closed by ')'");
    const std::string inside = s_.substr(pos_ + 1, close - pos_ - 1);
    pos_ = close + 1;
    std::size_t from = 0;
    while (from <= inside.size()) {
      std::size_t comma = inside.find(',', from);
      if (comma == std::string::npos) comma = inside.size();
      std::string arg = trim(inside.substr(from, comma - from));
      from = comma + 1;
      if (arg.empty()) {
        if (inside.find_first_not_of(' ') == std::string::npos && t.positional.empty()) break;
        fail(start, "an empty argument");
      }
      const std::size_t eq = arg.find('=');
      if (eq == std::string::npos) t.positional.push_back(arg);
      else t.named[trim(arg.substr(0, eq))] = trim(arg.substr(eq + 1));
    }
  }

  std::shared_ptr<const Module> build(LayerText& t, const Shape& shape, std::size_t start) {
    const std::string& n = t.name;
    if (n == "conv") {
      check_args(t, start, 2, {"stride", "pad", "bias"});
      if (shape.size() != 3) fail(start, fmt::format("conv takes images [C, H, W], got examples of shape {}", shape_str(shape)));
      Conv2dOptions o{count_of(t, t.positional[1], start), count_of(t, named(t, "stride", "1"), start),
                      count_of(t, named(t, "pad", "0"), start, true), flag_of(t, named(t, "bias", "true"), start)};
      return std::make_shared<Conv2d>(shape[0], count_of(t, t.positional[0], start), o);
    }
    if (n == "linear") {
      check_args(t, start, 1, {"bias"});
      if (shape.size() != 1) fail(start, fmt::format("linear takes feature vectors, got examples of shape {} (add flatten before it)", shape_str(shape)));
      return std::make_shared<Linear>(shape[0], count_of(t, t.positional[0], start), flag_of(t, named(t, "bias", "true"), start));
    }
    if (n == "maxpool" || n == "avgpool") {
      check_args(t, start, 1, {"stride"});
      const std::size_t k = count_of(t, t.positional[0], start);
      const std::size_t stride = count_of(t, named(t, "stride", std::to_string(k)), start);
      return std::make_shared<Pool2d>(n == "maxpool" ? PoolKind::Max : PoolKind::Average, k, stride);
    }
    if (n == "bn") {
      check_args(t, start, 0, {});
      if (shape.size() != 1 && shape.size() != 3) fail(start, fmt::format("bn takes features or images, got examples of shape {}", shape_str(shape)));
      return std::make_shared<BatchNorm>(shape[0]);
    }
    if (n == "zeropad") {
      check_args(t, start, 1, {});
      return std::make_shared<ZeroPadChannels>(count_of(t, t.positional[0], start));
    }
    check_args(t, start, 0, {});
    if (n == "flatten") return std::make_shared<Flatten>();
    if (n == "gap") return std::make_shared<GlobalAvgPool2d>();
    try {
      return std::make_shared<Activation>(parse_activation(n));
    } catch (const std::invalid_argument&) {
      fail(start, fmt::format("unknown layer '{}' (expected conv, linear, maxpool, avgpool, gap, flatten, bn, zeropad, "
                              "residual[…] or an activation: tanh, relu, elu, softplus, gelu, sigmoid, hardtanh, "
                              "leaky_relu, selu, identity)", n));
    }
  }

  void check_args(const LayerText& t, std::size_t start, std::size_t positional, std::vector<std::string> names) {
    if (t.positional.size() != positional)
      fail(start, fmt::format("{} takes {} positional argument{}, got {}", t.name, positional,
                              positional == 1 ? "" : "s", t.positional.size()));
    for (const auto& [key, value] : t.named)
      if (std::find(names.begin(), names.end(), key) == names.end())
        fail(start, names.empty() ? fmt::format("{} takes no option '{}'", t.name, key)
                                  : fmt::format("{} has no option '{}' (expected {})", t.name, key, fmt::join(names, ", ")));
  }
  static std::string named(const LayerText& t, const std::string& key, const std::string& fallback) {
    auto it = t.named.find(key);
    return it == t.named.end() ? fallback : it->second;
  }
  std::size_t count_of(const LayerText& t, const std::string& v, std::size_t start, bool zero_ok = false) {
    std::size_t used = 0;
    unsigned long long x = 0;
    try {
      x = std::stoull(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || v.empty() || v[0] == '-' || (x == 0 && !zero_ok))
      fail(start, fmt::format("'{}' in {} is not a {} integer", v, t.name, zero_ok ? "non-negative" : "positive"));
    return static_cast<std::size_t>(x);
  }
  bool flag_of(const LayerText& t, const std::string& v, std::size_t start) {
    if (v == "true") return true;
    if (v == "false") return false;
    fail(start, fmt::format("bias='{}' in {}: expected true or false", v, t.name));
  }
  static std::string trim(const std::string& x) {
    const std::size_t a = x.find_first_not_of(" \t"), b = x.find_last_not_of(" \t");
    return a == std::string::npos ? "" : x.substr(a, b - a + 1);
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  [[noreturn]] void fail(std::size_t at, const std::string& why) const {
    std::size_t end = at;
    while (end < s_.size() && !std::isspace(static_cast<unsigned char>(s_[end]))) ++end;
    throw ModelSyntaxError(fmt::format("model text, layer {} '{}' (character {}): {}", count_, s_.substr(at, end - at),
                                       at + 1, why));
  }

  const std::string& s_;
  std::size_t pos_ = 0, count_ = 0;
};

std::string repeat(const std::string& layer, std::size_t times) {
  std::string s;
  for (std::size_t i = 0; i < times; ++i) s += (i ? " " : "") + layer;
  return s;
}

}  // namespace

std::shared_ptr<Sequential> parse_model(const std::string& text, const Shape& input) {
  Parser p(text);
  Shape shape = input;
  auto net = p.layers(shape);
  p.expect_end();
  return net;
}

const std::vector<std::string>& arch_names() {
  static const std::vector<std::string> names = {
      "fc-relu", "fc-elu", "fc-tanh", "fc-hardtanh", "fc-softplus", "cnn-relu", "cnn-elu", "cnn-tanh",
      "cnn-avgpool-relu", "cnn-avgpool-elu", "cnn-avgpool-tanh", "cnn-bn-relu", "cnn-bn-elu", "cnn-bn-tanh",
      "vgg11", "vgg11-bn", "resnet32", "deeplinear"};
  return names;
}

std::string arch_model(const std::string& name, std::size_t classes) {
  const std::string out = fmt::format("linear({})", classes);
  // fully_connected_net: Flatten, then (Linear, activation) per width 200, 200, then Linear.
  for (const char* act : {"relu", "elu", "tanh", "hardtanh", "softplus"})
    if (name == fmt::format("fc-{}", act)) return fmt::format("flatten linear(200) {0} linear(200) {0} {1}", act, out);
  // convnet: (Conv2d 3×3 pad 1, activation, 2×2 pooling) per width 32, 32, then Flatten and Linear.
  for (const char* act : {"relu", "elu", "tanh"})
    for (const char* pool : {"max", "avg"})
      if (name == (pool[0] == 'm' ? "cnn-" : "cnn-avgpool-") + std::string(act))
        return fmt::format("conv(32,3,pad=1) {0} {1}pool(2) conv(32,3,pad=1) {0} {1}pool(2) flatten {2}", act, pool, out);
  // convnet_bn: the same with BatchNorm2d after the activation, before the pooling.
  for (const char* act : {"relu", "elu", "tanh"})
    if (name == "cnn-bn-" + std::string(act))
      return fmt::format("conv(32,3,pad=1) {0} bn maxpool(2) conv(32,3,pad=1) {0} bn maxpool(2) flatten {1}", act, out);
  // vgg11_nodropout: configuration A (64 M 128 M 256 256 M 512 512 M 512 512 M), convolutions 3×3 pad 1
  // each followed by ReLU, then Linear(512) ReLU Linear(512) ReLU Linear(classes).
  // (vgg11_nodropout_bn: Conv2d, BatchNorm2d, ReLU).
  if (name == "vgg11" || name == "vgg11-bn") {
    const bool bn = name == "vgg11-bn";
    std::string s;
    for (const char* v : {"64", "M", "128", "M", "256", "256", "M", "512", "512", "M", "512", "512", "M"})
      s += v[0] == 'M' ? "maxpool(2) " : fmt::format("conv({},3,pad=1) {}relu ", v, bn ? "bn " : "");
    return s + "flatten linear(512) relu linear(512) relu " + out;
  }
  // resnet32 (src/resnet_cifar.py of the fork matekrk/edge-of-stability; the original's is not in the stored
  // copy): conv3x3(3, 16) BN ReLU, three stages of five BasicBlocks with 16, 32, 64 planes, global average
  // pooling, Linear(64, classes). A block is relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)) with bias-free 3×3
  // convolutions; the first block of stages 2 and 3 has stride 2 and the shortcut AvgPool2d(1, stride 2),
  // BatchNorm2d, then as many zero channels.
  if (name == "resnet32") {
    std::string s = "conv(16,3,pad=1,bias=false) bn relu";
    std::size_t in = 16;
    for (std::size_t planes : {16, 32, 64})
      for (std::size_t b = 0; b < 5; ++b) {
        const bool down = b == 0 && planes != in;
        s += fmt::format(" residual[conv({0},3,{1}pad=1,bias=false) bn relu conv({0},3,pad=1,bias=false) bn{2}] relu",
                         planes, down ? "stride=2," : "",
                         down ? fmt::format(" | avgpool(1,stride=2) bn zeropad({})", in) : "");
        in = planes;
      }
    return s + " gap " + out;
  }
  // make_deeplinear(20, 50): twenty bias-free Linear(50, 50) (inputs and outputs of 50).
  if (name == "deeplinear") return repeat("linear(50,bias=false)", 20);
  throw ModelSyntaxError(fmt::format("unknown architecture '{}' (expected one of: {})", name, fmt::join(arch_names(), ", ")));
}

std::string describe_model(const Sequential& net, const Shape& input) {
  std::string s = fmt::format("input      {}\n", shape_str(input));
  Shape shape = input;
  for (std::size_t i = 0; i < net.modules().size(); ++i) {
    shape = net.modules()[i]->output_shape(shape);
    s += fmt::format("{:<4} {:<48} → {}\n", i, net.modules()[i]->describe(), shape_str(shape));
  }
  s += "θ layout (name, offset, shape):\n";
  for (const auto& p : net.parameter_slices()) s += fmt::format("  {:<24} {:>10}  {}\n", p.name, p.offset, shape_str(p.shape));
  s += fmt::format("{} parameters\n", net.num_params());
  return s;
}

}  // namespace eos::nn
