// Vision Transformer backbone (ViT-Tiny/Small/Base), the pre-norm variant of
// DeiT, DINO and timm. Module names are timm's, so a state dict maps onto
// timm's VisionTransformer (num_classes=0) key for key.
#include <cmath>

#include "twist/error.h"
#include "twist/models.h"

namespace twist {
namespace nn = torch::nn;

namespace {

struct Shape {
  int64_t dim, heads;
};

Shape shape(const std::string& arch) {
  if (arch == "vit_tiny") return {192, 3};
  if (arch == "vit_small") return {384, 6};
  if (arch == "vit_base") return {768, 12};
  throw Error("unknown architecture '" + arch + "': expected vit_tiny, vit_small or vit_base");
}

constexpr int64_t kDepth = 12;
constexpr int64_t kMlpRatio = 4;
constexpr double kNormEps = 1e-6;  // timm's and DINO's LayerNorm eps for ViTs

nn::LayerNorm layer_norm(int64_t dim) { return nn::LayerNorm(nn::LayerNormOptions({dim}).eps(kNormEps)); }

// Normal(0, std) truncated to [a, b], by the inverse CDF. The reference code
// (timm, DINO) calls it with std 0.02 and absolute bounds +-2, i.e. 100
// standard deviations: in effect a plain normal; the clamp keeps erfinv's
// +-inf at the ends of the interval out.
void trunc_normal_(torch::Tensor t, double std, double a = -2.0, double b = 2.0) {
  torch::NoGradGuard no_grad;
  auto cdf = [](double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); };
  t.uniform_(2 * cdf(a / std) - 1, 2 * cdf(b / std) - 1);
  t.erfinv_().mul_(std * std::sqrt(2.0)).clamp_(a, b);
}

nn::Linear linear(int64_t in, int64_t out) {
  nn::Linear l(in, out);
  trunc_normal_(l->weight, 0.02);
  nn::init::zeros_(l->bias);
  return l;
}

}  // namespace

std::vector<std::string> vit_names() { return {"vit_tiny", "vit_small", "vit_base"}; }

bool is_vit(const std::string& arch) {
  for (const auto& n : vit_names())
    if (n == arch) return true;
  return false;
}

torch::Tensor drop_path(const torch::Tensor& branch, double p, bool training) {
  if (p <= 0 || !training) return branch;
  const double keep = 1.0 - p;
  std::vector<int64_t> per_sample(branch.dim(), 1);
  per_sample[0] = branch.size(0);
  auto mask = torch::empty(per_sample, branch.options()).bernoulli_(keep);
  return keep > 0 ? branch * mask / keep : branch * mask;
}

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", linear(dim, hidden));
  fc2 = register_module("fc2", linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }

AttentionImpl::AttentionImpl(int64_t dim, int64_t heads) : heads(heads) {
  check(heads >= 1 && dim % heads == 0,
        "attention width " + std::to_string(dim) + " must split into " + std::to_string(heads) + " heads");
  qkv = register_module("qkv", linear(dim, 3 * dim));
  proj = register_module("proj", linear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2), d = c / heads;
  // B x N x 3C -> 3 x B x heads x N x d: query, key, value per head.
  auto qkv_ = qkv(x).reshape({b, n, 3, heads, d}).permute({2, 0, 3, 1, 4});
  auto q = qkv_[0] * (1.0 / std::sqrt(double(d)));
  auto attn = torch::matmul(q, qkv_[1].transpose(-2, -1)).softmax(-1);
  auto y = torch::matmul(attn, qkv_[2]).transpose(1, 2).reshape({b, n, c});
  return proj(y);
}

ViTBlockImpl::ViTBlockImpl(int64_t dim, int64_t heads, double drop_path) : drop_path(drop_path) {
  norm1 = register_module("norm1", layer_norm(dim));
  attn = register_module("attn", Attention(dim, heads));
  norm2 = register_module("norm2", layer_norm(dim));
  mlp = register_module("mlp", Mlp(dim, kMlpRatio * dim));
}

torch::Tensor ViTBlockImpl::forward(const torch::Tensor& x) {
  auto y = x + twist::drop_path(attn(norm1(x)), drop_path, is_training());
  return y + twist::drop_path(mlp(norm2(y)), drop_path, is_training());
}

PatchEmbedImpl::PatchEmbedImpl(int64_t in_channels, int64_t dim, int64_t patch_size) {
  // Left at LibTorch's default initialisation, as timm and DINO leave theirs.
  proj = register_module("proj", nn::Conv2d(nn::Conv2dOptions(in_channels, dim, patch_size).stride(patch_size)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) { return proj(x); }

ViTImpl::ViTImpl(const ViTOptions& o) : options_(o) {
  const Shape s = shape(o.arch);
  check(o.patch_size >= 1, "patch_size must be positive, got " + std::to_string(o.patch_size));
  check(o.image_size >= o.patch_size, "a ViT's image_size (" + std::to_string(o.image_size) +
                                          ") must be at least its patch_size (" + std::to_string(o.patch_size) + ")");
  check(o.in_channels >= 1, "images must have at least 1 channel");
  check(o.drop_path >= 0 && o.drop_path < 1, "drop_path must lie in [0, 1), got " + std::to_string(o.drop_path));
  check(o.depth >= 0, "depth must be >= 0 (0: the architecture's)");
  dim_ = s.dim;
  grid_ = o.image_size / o.patch_size;
  const int64_t depth = o.depth > 0 ? o.depth : kDepth;

  patch_embed = register_module("patch_embed", PatchEmbed(o.in_channels, dim_, o.patch_size));
  cls_token = register_parameter("cls_token", torch::empty({1, 1, dim_}));
  pos_embed = register_parameter("pos_embed", torch::empty({1, 1 + grid_ * grid_, dim_}));
  trunc_normal_(cls_token, 0.02);
  trunc_normal_(pos_embed, 0.02);
  blocks = nn::Sequential();
  for (int64_t i = 0; i < depth; ++i) {
    // Deeper blocks are dropped more often: linear from 0 to drop_path.
    const double p = depth > 1 ? o.drop_path * double(i) / double(depth - 1) : o.drop_path;
    blocks->push_back(ViTBlock(dim_, s.heads, p));
  }
  register_module("blocks", blocks);
  norm = register_module("norm", layer_norm(dim_));
}

torch::Tensor ViTImpl::position_embedding(int64_t rows, int64_t cols) const {
  if (rows == grid_ && cols == grid_) return pos_embed;
  namespace F = torch::nn::functional;
  auto cls = pos_embed.narrow(1, 0, 1);
  auto grid = pos_embed.narrow(1, 1, grid_ * grid_).reshape({1, grid_, grid_, dim_}).permute({0, 3, 1, 2});
  // Resized to the exact target grid (timm's resample_abs_pos_embed); DINO
  // passes a scale factor nudged by 0.1 instead, to the same end.
  grid = F::interpolate(
      grid,
      F::InterpolateFuncOptions().size(std::vector<int64_t>{rows, cols}).mode(torch::kBicubic).align_corners(false));
  return torch::cat({cls, grid.permute({0, 2, 3, 1}).reshape({1, rows * cols, dim_})}, 1);
}

torch::Tensor ViTImpl::forward(const torch::Tensor& x) {
  check(x.dim() == 4 && x.size(2) >= options_.patch_size && x.size(3) >= options_.patch_size,
        options_.arch + " needs B x C x H x W images of at least " + std::to_string(options_.patch_size) +
            " pixels (its patch size)");
  auto patches = patch_embed(x);  // B x dim x rows x cols
  const int64_t rows = patches.size(2), cols = patches.size(3);
  auto tokens = patches.flatten(2).transpose(1, 2);  // B x (rows * cols) x dim
  tokens = torch::cat({cls_token.expand({x.size(0), 1, dim_}), tokens}, 1);
  tokens = tokens + position_embedding(rows, cols);
  tokens = norm(blocks->forward(tokens));
  return tokens.select(1, 0);
}

BackboneCost vit_cost(const BackboneOptions& o, int64_t image_side) {
  const Shape sh = shape(o.arch);
  const double dim = double(sh.dim), patches = std::floor(double(image_side) / double(o.patch_size));
  const double tokens = patches * patches + 1;
  const double learned_side = std::floor(double(o.image_size) / double(o.patch_size));
  BackboneCost c;
  c.parameters = double(kDepth) * (4 + 2 * kMlpRatio) * dim * dim +
                 double(o.patch_size * o.patch_size * o.in_channels) * dim + (learned_side * learned_side + 1) * dim;
  // Per block: the normalized inputs, queries, keys, values and the MLP's
  // hidden layer, and the attention matrix of every head.
  c.activations_per_image = double(kDepth) * (tokens * dim * (5 + kMlpRatio) + double(sh.heads) * tokens * tokens);
  c.feature_dim = dim;
  return c;
}

}  // namespace twist
