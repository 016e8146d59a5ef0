#include "layers.hpp"

#include <fmt/format.h>

#include "batch.hpp"

namespace eos::nn {
namespace {
// [C, H, W] of one image, or a ShapeError naming the module.
void expect_image(const Module& m, const Shape& in) {
  if (in.size() != 3)
    throw ShapeError(fmt::format("{} takes images [C, H, W] per example, got an input of shape {}", m.describe(),
                                 shape_str(in)));
}
}  // namespace

// ---- Conv2d
Conv2d::Conv2d(std::size_t in, std::size_t out, Conv2dOptions options) : in_(in), out_(out), o_(options) {
  if (in == 0 || out == 0 || o_.kernel == 0 || o_.stride == 0)
    throw std::invalid_argument(fmt::format("Conv2d({}, {}, kernel {}, stride {}): sizes must be positive", in, out,
                                            o_.kernel, o_.stride));
}
std::string Conv2d::describe() const {
  return fmt::format("Conv2d({}, {}, kernel_size={}{}{}{})", in_, out_, o_.kernel,
                     o_.stride != 1 ? fmt::format(", stride={}", o_.stride) : "",
                     o_.padding ? fmt::format(", padding={}", o_.padding) : "", o_.bias ? "" : ", bias=False");
}
std::vector<ParamSpec> Conv2d::param_specs() const {
  // PyTorch's fans for a convolution: in·kh·kw and out·kh·kw.
  const std::size_t area = o_.kernel * o_.kernel, fan_in = in_ * area, fan_out = out_ * area;
  std::vector<ParamSpec> p{{"weight", {out_, in_, o_.kernel, o_.kernel}, fan_in, fan_out, false}};
  if (o_.bias) p.push_back({"bias", {out_}, fan_in, fan_out, true});
  return p;
}
Shape Conv2d::output_shape(const Shape& in) const {
  expect_image(*this, in);
  if (in[0] != in_)
    throw ShapeError(fmt::format("{} takes {} channels, got images of shape {}", describe(), in_, shape_str(in)));
  const std::size_t h = in[1] + 2 * o_.padding, w = in[2] + 2 * o_.padding;
  if (h < o_.kernel || w < o_.kernel)
    throw ShapeError(fmt::format("{}: images of shape {} are smaller than the kernel", describe(), shape_str(in)));
  return {out_, (h - o_.kernel) / o_.stride + 1, (w - o_.kernel) / o_.stride + 1};
}
ad::Var Conv2d::forward(ad::Var theta, ad::Var x, std::size_t offset) const {
  const std::size_t k = o_.kernel, s = o_.stride, pad = o_.padding;
  return ad::conv2d(x, theta, {offset, out_, in_, k, k, s, s, pad, pad, o_.bias});
}

// ---- pooling
Pool2d::Pool2d(PoolKind kind, std::size_t kernel, std::size_t stride)
    : kind_(kind), kernel_(kernel), stride_(stride == 0 ? kernel : stride) {
  if (kernel == 0) throw std::invalid_argument("Pool2d: the kernel must be positive");
}
std::string Pool2d::describe() const {
  return fmt::format("{}({}{})", kind_ == PoolKind::Max ? "MaxPool2d" : "AvgPool2d", kernel_,
                     stride_ != kernel_ ? fmt::format(", stride={}", stride_) : "");
}
Shape Pool2d::output_shape(const Shape& in) const {
  expect_image(*this, in);
  if (in[1] < kernel_ || in[2] < kernel_)
    throw ShapeError(fmt::format("{}: images of shape {} are smaller than the window", describe(), shape_str(in)));
  return {in[0], (in[1] - kernel_) / stride_ + 1, (in[2] - kernel_) / stride_ + 1};
}
ad::Var Pool2d::forward(ad::Var, ad::Var x, std::size_t) const {
  const ad::Pool2dParams w{kernel_, kernel_, stride_, stride_};
  return kind_ == PoolKind::Max ? ad::max_pool2d(x, w) : ad::avg_pool2d(x, w);
}

// ---- batch normalization
BatchNorm::BatchNorm(std::size_t channels, double eps) : channels_(channels), eps_(eps) {
  if (channels == 0) throw std::invalid_argument("BatchNorm: the channel count must be positive");
}
std::string BatchNorm::describe() const { return fmt::format("BatchNorm({})", channels_); }
std::vector<ParamSpec> BatchNorm::param_specs() const {
  return {{"weight", {channels_}, channels_, channels_, false, 1.0}, {"bias", {channels_}, channels_, channels_, true, 0.0}};
}
Shape BatchNorm::output_shape(const Shape& in) const {
  if ((in.size() != 1 && in.size() != 3) || in[0] != channels_)
    throw ShapeError(fmt::format("{} takes [{}] features or [{}, H, W] images per example, got {}", describe(), channels_,
                                 channels_, shape_str(in)));
  return in;
}
ad::Var BatchNorm::forward(ad::Var theta, ad::Var x, std::size_t offset) const {
  const BatchContext* batch = current_batch();
  if (batch == nullptr) return ad::batch_norm(x, theta, offset, eps_);  // this tape's rows are the batch
  // A part of a split batch: the sums of every part, over all of its values.
  const Shape s = x.shape();
  const double per_row = static_cast<double>(shape_size(s) / (s[0] * s[1]));
  const ad::Var sums = ad::all_reduce_sum(ad::bn_moments(x), *batch->reducer, batch->part);
  return ad::channel_affine(ad::bn_normalize(x, sums, per_row * static_cast<double>(batch->total_rows), eps_), theta,
                            offset);
}

Shape GlobalAvgPool2d::output_shape(const Shape& in) const {
  expect_image(*this, in);
  return {in[0]};
}
ad::Var GlobalAvgPool2d::forward(ad::Var, ad::Var x, std::size_t) const { return ad::global_avg_pool2d(x); }

Shape Flatten::output_shape(const Shape& in) const { return {shape_size(in)}; }
ad::Var Flatten::forward(ad::Var, ad::Var x, std::size_t) const {
  const Shape s = x.shape();
  if (s.size() == 2) return x;
  if (s.empty()) throw ShapeError("Flatten: a scalar input has no batch dimension");
  return ad::reshape(x, {s[0], shape_size(s) / std::max<std::size_t>(s[0], 1)});
}

// ---- residual blocks
Residual::Residual(std::shared_ptr<const Module> body, std::shared_ptr<const Module> shortcut)
    : body_(std::move(body)), shortcut_(std::move(shortcut)) {
  if (!body_) throw std::invalid_argument("Residual: the body is null");
  body_params_ = body_->num_params();
}
bool Residual::couples_batch() const { return body_->couples_batch() || (shortcut_ && shortcut_->couples_batch()); }
std::string Residual::describe() const {
  return fmt::format("Residual({}{})", body_->describe(), shortcut_ ? ", shortcut=" + shortcut_->describe() : "");
}
std::vector<ParamSpec> Residual::param_specs() const {
  std::vector<ParamSpec> out;
  for (auto p : body_->param_specs()) {
    p.name = "body." + p.name;
    out.push_back(std::move(p));
  }
  if (shortcut_)
    for (auto p : shortcut_->param_specs()) {
      p.name = "shortcut." + p.name;
      out.push_back(std::move(p));
    }
  return out;
}
Shape Residual::output_shape(const Shape& in) const {
  const Shape a = body_->output_shape(in), b = shortcut_ ? shortcut_->output_shape(in) : in;
  if (a != b)
    throw ShapeError(fmt::format("{}: the body gives {} but the shortcut {} for inputs of shape {}", describe(),
                                 shape_str(a), shape_str(b), shape_str(in)));
  return a;
}
ad::Var Residual::forward(ad::Var theta, ad::Var x, std::size_t offset) const {
  const ad::Var skip = shortcut_ ? shortcut_->forward(theta, x, offset + body_params_) : x;
  return ad::add(body_->forward(theta, x, offset), skip);
}

std::string ZeroPadChannels::describe() const { return fmt::format("ZeroPadChannels({})", extra_); }
Shape ZeroPadChannels::output_shape(const Shape& in) const {
  expect_image(*this, in);
  return {in[0] + extra_, in[1], in[2]};
}
ad::Var ZeroPadChannels::forward(ad::Var, ad::Var x, std::size_t) const {
  if (extra_ == 0) return x;
  const Shape s = x.shape();
  if (s.size() != 4)
    throw ShapeError(fmt::format("{}: input of shape {} (expected [n, c, h, w])", describe(), shape_str(s)));
  return ad::concat(x, x.tape()->constant(zeros({s[0], extra_, s[2], s[3]})), 1);
}

}  // namespace eos::nn
