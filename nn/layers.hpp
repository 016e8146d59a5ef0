// The layers of convolutional networks, over NCHW batches, in PyTorch's
// parameter order and layout (a Conv2d's weight [out, in, kh, kw] row-major,
// then its bias), so a θ from torch.cat([p.reshape(-1) for p in
// net.parameters()]) of the same network loads unchanged. Shapes in
// output_shape are per example: [C, H, W] for images, [k] for features.
#pragma once

#include "module.hpp"

namespace eos::nn {

struct Conv2dOptions {
  std::size_t kernel = 3, stride = 1, padding = 0;
  bool bias = true;
};
class Conv2d : public Module {
 public:
  Conv2d(std::size_t in, std::size_t out, Conv2dOptions options = {});
  std::string describe() const override;
  std::vector<ParamSpec> param_specs() const override;
  Shape output_shape(const Shape& in) const override;
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;

 private:
  std::size_t in_, out_;
  Conv2dOptions o_;
};

enum class PoolKind { Max, Average };
class Pool2d : public Module {
 public:
  Pool2d(PoolKind kind, std::size_t kernel, std::size_t stride = 0);  // stride 0: the kernel
  std::string describe() const override;
  Shape output_shape(const Shape& in) const override;
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;

 private:
  PoolKind kind_;
  std::size_t kernel_, stride_;
};
inline std::shared_ptr<Pool2d> MaxPool2d(std::size_t kernel, std::size_t stride = 0) {
  return std::make_shared<Pool2d>(PoolKind::Max, kernel, stride);
}
inline std::shared_ptr<Pool2d> AvgPool2d(std::size_t kernel, std::size_t stride = 0) {
  return std::make_shared<Pool2d>(PoolKind::Average, kernel, stride);
}

// PyTorch's BatchNorm1d ([n, C]) / BatchNorm2d ([n, C, H, W]) in training
// mode: each channel normalized by the mean and biased variance of the batch
// being evaluated (eps 1e-5), then γ_c x̂ + β_c; θ holds γ (init 1) then β
// (init 0). Under full-batch GD the batch is all n examples however the
// objective is chunked or sharded (docs/MODELS.md).
class BatchNorm : public Module {
 public:
  explicit BatchNorm(std::size_t channels, double eps = 1e-5);
  std::string describe() const override;
  std::vector<ParamSpec> param_specs() const override;
  Shape output_shape(const Shape& in) const override;
  bool couples_batch() const override { return true; }
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;
  std::size_t channels() const { return channels_; }

 private:
  std::size_t channels_;
  double eps_;
};

// [n, C, H, W] → [n, C]: the mean over each channel (PyTorch's
// AdaptiveAvgPool2d((1, 1)) followed by a flatten).
class GlobalAvgPool2d : public Module {
 public:
  std::string describe() const override { return "GlobalAvgPool2d()"; }
  Shape output_shape(const Shape& in) const override;
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;
};

// [n, d₁, d₂, …] → [n, d₁·d₂·…].
class Flatten : public Module {
 public:
  std::string describe() const override { return "Flatten()"; }
  Shape output_shape(const Shape& in) const override;
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;
};

// y = body(x) + shortcut(x), with the identity for a missing shortcut; the
// body's parameters come first in θ, then the shortcut's.
class Residual : public Module {
 public:
  explicit Residual(std::shared_ptr<const Module> body, std::shared_ptr<const Module> shortcut = nullptr);
  std::string describe() const override;
  std::vector<ParamSpec> param_specs() const override;
  Shape output_shape(const Shape& in) const override;
  bool couples_batch() const override;
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;

 private:
  std::shared_ptr<const Module> body_, shortcut_;
  std::size_t body_params_;
};

// [n, C, H, W] → [n, C + extra, H, W] with the new channels zero (the
// shortcut of a residual stage that widens: torch.cat((x, zeros), 1) when
// extra = C).
class ZeroPadChannels : public Module {
 public:
  explicit ZeroPadChannels(std::size_t extra) : extra_(extra) {}
  std::string describe() const override;
  Shape output_shape(const Shape& in) const override;
  ad::Var forward(ad::Var theta, ad::Var x, std::size_t offset) const override;

 private:
  std::size_t extra_;
};

}  // namespace eos::nn
