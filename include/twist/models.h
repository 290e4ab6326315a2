#pragma once
// Backbones, the projection head with NBS, and the siamese TWIST model.
// Sub-module names follow torchvision (conv1, bn1, layer1.0.conv1, ...), so
// a backbone's state dict loads into torchvision's ResNet.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace twist {

class Communicator;  // twist/dist.h

struct ResNetOptions {
  std::string arch = "resnet18";  // resnet18 | resnet34 | resnet50
  double width = 1.0;             // channel multiplier (0.25 -> 16 base channels)
  std::string stem = "small";     // small: 3x3 stride-1 conv, no max-pool; imagenet: 7x7/2 + max-pool
  int64_t in_channels = 3;
  // Convolutions in NHWC layout: oneDNN then skips a layout conversion per
  // call (about 1.2x faster training on CPU here: bench/step_bench).
  bool channels_last = true;
};

struct BasicBlockImpl : torch::nn::Module {
  static constexpr int64_t expansion = 1;
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

struct BottleneckImpl : torch::nn::Module {
  static constexpr int64_t expansion = 4;
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

// ResNet without its classifier: forward returns globally pooled features.
struct ResNetImpl : torch::nn::Module {
  explicit ResNetImpl(const ResNetOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // B x C x H x W -> B x feature_dim
  int64_t feature_dim() const { return feature_dim_; }
  const ResNetOptions& options() const { return options_; }
  // Puts convolution weights in the memory format the options ask for; called
  // by forward when they are not (e.g. after loading a checkpoint).
  void apply_memory_format();
  torch::MemoryFormat memory_format() const;

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};

 private:
  ResNetOptions options_;
  int64_t feature_dim_ = 0;
};
TORCH_MODULE(ResNet);

// Names accepted by ResNetOptions::arch.
std::vector<std::string> resnet_names();

// BatchNorm1d whose training statistics can span every rank's batch
// (SyncBatchNorm). Same parameter and buffer names as torch::nn::BatchNorm1d,
// so state dicts match; without a communicator it is BatchNorm1d.
struct SyncBatchNorm1dImpl : torch::nn::Module {
  SyncBatchNorm1dImpl(int64_t features, bool affine);
  torch::Tensor forward(const torch::Tensor& x);  // B x features
  // nullptr: statistics of this rank's batch only.
  void set_communicator(std::shared_ptr<Communicator> comm) { comm_ = std::move(comm); }
  bool synchronized() const { return comm_ != nullptr; }

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double momentum = 0.1, eps = 1e-5;

 private:
  std::shared_ptr<Communicator> comm_;
};
TORCH_MODULE(SyncBatchNorm1d);

struct HeadOptions {
  int64_t in_dim = 512;
  int64_t hidden = 4096;
  int64_t classes = 4096;  // C
  bool nbs = true;         // BatchNorm without affine parameters before the softmax
};

// Linear->BN->ReLU->Linear->BN->ReLU->Linear->[BN(affine=false)] (DESIGN.md §2).
struct ProjectionHeadImpl : torch::nn::Module {
  explicit ProjectionHeadImpl(const HeadOptions& options);
  torch::Tensor forward(const torch::Tensor& features);  // B x d -> B x C logits
  // Distributed runs: NBS statistics over the global batch unless
  // `nbs_per_rank`; the hidden BatchNorms too when `sync_hidden`.
  void set_communicator(const std::shared_ptr<Communicator>& comm, bool nbs_per_rank, bool sync_hidden);
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(ProjectionHead);

struct TwistModelOptions {
  ResNetOptions backbone;
  HeadOptions head;  // in_dim is taken from the backbone
};

// g(f(x)) for every view. Views of one resolution share one backbone pass;
// the head sees all views concatenated, so NBS statistics mix them, as in
// the reference code.
struct TwistModelImpl : torch::nn::Module {
  explicit TwistModelImpl(const TwistModelOptions& options);
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& views);
  torch::Tensor features(const torch::Tensor& x) { return backbone->forward(x); }
  torch::Tensor logits(const torch::Tensor& x) { return head->forward(backbone->forward(x)); }

  ResNet backbone{nullptr};
  ProjectionHead head{nullptr};
};
TORCH_MODULE(TwistModel);

// The momentum teacher (DESIGN.md §1, Eq. 5): a model built with the
// student's options holding a copy of its parameters and buffers; its
// parameters need no gradient. It stays in training mode while training, as
// the student does (its NBS uses batch statistics).
TwistModel make_teacher(TwistModel& student, const TwistModelOptions& options);

// teacher = momentum * teacher + (1 - momentum) * student, for parameters
// only (buffers such as BatchNorm statistics are the teacher's own).
void ema_update(TwistModel& teacher, TwistModel& student, double momentum);

}  // namespace twist
