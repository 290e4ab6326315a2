#pragma once
// Backbones, the projection head with NBS, and the siamese TWIST model.
// Sub-module names follow torchvision for ResNets (conv1, bn1,
// layer1.0.conv1, ...) and timm for ViTs (cls_token, blocks.0.attn.qkv, ...),
// so a backbone's state dict loads into those libraries' models.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace twist {

class Communicator;  // twist/dist.h

// What TwistModel, evaluation and export need of a backbone: images in, one
// feature vector per image out. ResNets and ViTs implement it.
struct BackboneImpl : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;  // B x C x H x W -> B x feature_dim
  virtual int64_t feature_dim() const = 0;
  virtual std::string arch() const = 0;  // resnet18, vit_small, ...
};

// Holds any backbone; a ResNet or a ViT converts to it implicitly, so
// functions taking a Backbone accept either.
class Backbone : public torch::nn::ModuleHolder<BackboneImpl> {
 public:
  Backbone(std::nullptr_t) : ModuleHolder(nullptr) {}
  Backbone(std::shared_ptr<BackboneImpl> impl) : ModuleHolder(std::move(impl)) {}
  template <class T, class = std::enable_if_t<std::is_base_of_v<BackboneImpl, T>>>
  Backbone(const torch::nn::ModuleHolder<T>& holder)
      : ModuleHolder(std::static_pointer_cast<BackboneImpl>(holder.ptr())) {}
};

struct ResNetOptions {
  // resnet50w2: SimCLR's ResNet-50 (2x), every channel doubled (feature dim 4096);
  // `width` multiplies on top.
  std::string arch = "resnet18";  // resnet18 | resnet34 | resnet50 | resnet50w2
  double width = 1.0;             // channel multiplier (0.25 -> 16 base channels)
  std::string stem = "small";     // small: 3x3 stride-1 conv, no max-pool; imagenet: 7x7/2 + max-pool
  int64_t in_channels = 3;
  // > 0: a 1x1 convolution + BatchNorm + ReLU maps the last stage to this
  // many channels before the pooling (as MobileNet's last layer): wider
  // features from a narrow network at little cost. 0: the last stage's
  // channels are the features (torchvision's ResNet).
  int64_t feature_dim = 0;
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
struct ResNetImpl : BackboneImpl {
  explicit ResNetImpl(const ResNetOptions& options);
  torch::Tensor forward(const torch::Tensor& x) override;  // B x C x H x W -> B x feature_dim
  int64_t feature_dim() const override { return feature_dim_; }
  std::string arch() const override { return options_.arch; }
  const ResNetOptions& options() const { return options_; }
  // Puts convolution weights in the memory format the options ask for; called
  // by forward when they are not (e.g. after loading a checkpoint).
  void apply_memory_format();
  torch::MemoryFormat memory_format() const;

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Conv2d expand_conv{nullptr};  // with feature_dim > 0 only
  torch::nn::BatchNorm2d expand_bn{nullptr};

 private:
  ResNetOptions options_;
  int64_t feature_dim_ = 0;
};
TORCH_MODULE(ResNet);

// Names accepted by ResNetOptions::arch.
std::vector<std::string> resnet_names();

struct ViTOptions {
  // vit_tiny | vit_small | vit_base: width 192 / 384 / 768, 3 / 6 / 12 heads, 12 blocks
  std::string arch = "vit_small";
  // Position embeddings are learned for this input size; other sizes (local
  // crops) get them resized (ViTImpl::position_embedding).
  int64_t image_size = 224;
  int64_t patch_size = 16;  // 16 as in the paper; 4 suits 28- or 32-pixel images
  int64_t in_channels = 3;
  // Stochastic depth: block i drops its residual branches with probability
  // drop_path * i / (depth - 1), as DINO and timm do.
  double drop_path = 0.0;
  int64_t depth = 0;  // 0: the architecture's 12; fewer blocks for tests and toys
};

// The transformer's MLP: fc1 -> GELU -> fc2 with a hidden width of 4 x dim.
struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Mlp);

// Multi-head self-attention, written with matmul + softmax (LibTorch 1.13
// has no scaled_dot_product_attention).
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x);  // B x N x dim
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  int64_t heads;
};
TORCH_MODULE(Attention);

// Pre-norm transformer block: x + drop(attn(norm1(x))), then x + drop(mlp(norm2(x))).
struct ViTBlockImpl : torch::nn::Module {
  ViTBlockImpl(int64_t dim, int64_t heads, double drop_path);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
  double drop_path;
};
TORCH_MODULE(ViTBlock);

// Stochastic depth (Huang et al. 2016): in training, each sample's `branch`
// is zeroed with probability p, and scaled by 1 / (1 - p) otherwise, so its
// expectation is unchanged; identity in evaluation.
torch::Tensor drop_path(const torch::Tensor& branch, double p, bool training);

struct PatchEmbedImpl : torch::nn::Module {
  PatchEmbedImpl(int64_t in_channels, int64_t dim, int64_t patch_size);
  torch::Tensor forward(const torch::Tensor& x);  // B x C x H x W -> B x dim x H/p x W/p
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

// Vision Transformer (Dosovitskiy et al.) without its classifier: the
// features are the class token's output after the final LayerNorm.
struct ViTImpl : BackboneImpl {
  explicit ViTImpl(const ViTOptions& options);
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t feature_dim() const override { return dim_; }
  std::string arch() const override { return options_.arch; }
  const ViTOptions& options() const { return options_; }
  // Position embeddings (1 x (1 + rows * cols) x dim) for a grid of patches:
  // the learned ones at the training size (the same tensor), otherwise the
  // patch part resized bicubically, as DINO does for its local crops.
  torch::Tensor position_embedding(int64_t rows, int64_t cols) const;

  torch::Tensor cls_token, pos_embed;
  PatchEmbed patch_embed{nullptr};
  torch::nn::Sequential blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};

 private:
  ViTOptions options_;
  int64_t dim_ = 0, grid_ = 0;
};
TORCH_MODULE(ViT);

// Names accepted by ViTOptions::arch.
std::vector<std::string> vit_names();
bool is_vit(const std::string& arch);

// One set of options for either family: `arch` picks it; the ResNet fields
// (width, stem, channels_last) apply to ResNets, the ones below to ViTs.
struct BackboneOptions : ResNetOptions {
  int64_t image_size = 224;
  int64_t patch_size = 16;
  double drop_path = 0.0;
};

// A ResNet or a ViT, as `options.arch` names.
Backbone make_backbone(const BackboneOptions& options);

// What a backbone costs, counted before it is built (building it is what
// would run out of memory): its parameters, the elements of the activations
// one image's forward at `image_side` keeps for the backward (a lower bound:
// one tensor per convolution or per transformer block's parts), and its
// feature dimension.
struct BackboneCost {
  double parameters = 0, activations_per_image = 0, feature_dim = 0;
};
BackboneCost backbone_cost(const BackboneOptions& options, int64_t image_side);
BackboneCost resnet_cost(const ResNetOptions& options, int64_t image_side);
BackboneCost vit_cost(const BackboneOptions& options, int64_t image_side);

// BatchNorm1d whose training statistics can span every rank's batch
// (SyncBatchNorm). Same parameter and buffer names as torch::nn::BatchNorm1d,
// so state dicts match; without a communicator it is BatchNorm1d.
struct SyncBatchNorm1dImpl : torch::nn::Module {
  SyncBatchNorm1dImpl(int64_t features, bool affine);
  torch::Tensor forward(const torch::Tensor& x);  // B x features
  // nullptr: statistics of this rank's batch only.
  void set_communicator(std::shared_ptr<Communicator> comm) { comm_ = std::move(comm); }

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
  // relu | gelu: the paper's heads use GELU on ViTs. Either way the layers
  // keep their indices, so state dicts have the same names.
  std::string activation = "relu";
};

// Linear->BN->act->Linear->BN->act->Linear->[BN(affine=false)], act = ReLU
// or GELU (docs/design.md §2.3, §3).
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
  BackboneOptions backbone;
  HeadOptions head;  // in_dim is taken from the backbone
  // > 0: a second head of this many classes (same hidden size) beside the
  // C-class head, trained with the same loss: over-clustering, which asks
  // the backbone for finer distinctions than C classes do. Evaluation and
  // prediction use the C-class head.
  int64_t aux_classes = 0;
  // >= 2: this many C-class heads side by side, each with its own initial
  // weights, trained at once; evaluation and prediction use the one of
  // lowest training loss (chosen_head). Each head's gradient reaches the
  // backbone divided by their number, so the backbone's objective keeps its
  // scale.
  int64_t cluster_heads = 1;
};

// The heads' logits of every view (aux empty without a second head).
struct HeadLogits {
  std::vector<torch::Tensor> logits, aux;  // logits: the chosen C-class head's
  // With cluster_heads >= 2: every C-class head's logits, by head.
  std::vector<std::vector<torch::Tensor>> heads;
  torch::Tensor features;  // the backbone's features of every view, concatenated
};

// g(f(x)) for every view. Views of one resolution share one backbone pass;
// the head sees all views concatenated, so NBS statistics mix them, as in
// the reference code.
struct TwistModelImpl : torch::nn::Module {
  explicit TwistModelImpl(const TwistModelOptions& options);
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& views);
  HeadLogits forward_heads(const std::vector<torch::Tensor>& views);
  torch::Tensor features(const torch::Tensor& x) { return backbone->forward(x); }
  torch::Tensor logits(const torch::Tensor& x) { return chosen()->forward(backbone->forward(x)); }

  // The C-class heads: `head` first, then the others (cluster_heads >= 2).
  int64_t num_heads() const { return 1 + int64_t(extra_heads.size()); }
  ProjectionHead& cluster_head(int64_t k) { return k == 0 ? head : extra_heads.at(size_t(k - 1)); }
  // The head of lowest training loss (head_loss), 0 before any is known.
  int64_t chosen_head() const;
  ProjectionHead& chosen() { return cluster_head(chosen_head()); }
  // Folds one step's loss of every C-class head (a vector of num_heads())
  // into head_loss, a moving average over about the last 100 steps.
  void record_head_losses(const torch::Tensor& losses);

  Backbone backbone{nullptr};
  ProjectionHead head{nullptr};
  ProjectionHead aux_head{nullptr};         // aux_classes > 0 only
  std::vector<ProjectionHead> extra_heads;  // "head_1", ...: cluster_heads >= 2 only
  torch::Tensor head_loss;                  // buffer, cluster_heads >= 2 only: NaN until a head's first step
};
TORCH_MODULE(TwistModel);

// The momentum teacher (docs/design.md §2.5, Eq. 5): a model built with the
// student's options holding a copy of its parameters and buffers; its
// parameters need no gradient. It stays in training mode while training, as
// the student does (its NBS uses batch statistics).
TwistModel make_teacher(TwistModel& student, const TwistModelOptions& options);

// teacher = momentum * teacher + (1 - momentum) * student, for parameters
// only (buffers such as BatchNorm statistics are the teacher's own).
void ema_update(TwistModel& teacher, TwistModel& student, double momentum);

}  // namespace twist
