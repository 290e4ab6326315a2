// Vision Transformer backbones, the backbone abstraction, resnet50w2 and the
// GELU head.
#include <gtest/gtest.h>

#include <set>

#include "test_util.h"
#include "twist/config.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/export.h"
#include "twist/models.h"
#include "twist/train.h"

namespace {

using twist::testing::parameter_count;

using Sizes = std::vector<int64_t>;

twist::ViTOptions tiny_vit(int64_t depth = 1) {
  twist::ViTOptions o;
  o.arch = "vit_tiny";
  o.image_size = 32;
  o.patch_size = 4;
  o.depth = depth;
  return o;
}

TEST(ViT, ForwardShapesAtTrainingAndLocalCropSizes) {
  torch::NoGradGuard no_grad;
  twist::ViTOptions o;
  o.arch = "vit_tiny";
  twist::ViT vit(o);
  vit->eval();
  EXPECT_EQ(vit->feature_dim(), 192);
  EXPECT_EQ(vit->pos_embed.sizes(), (Sizes{1, 1 + 14 * 14, 192}));
  EXPECT_EQ(vit->forward(torch::randn({2, 3, 224, 224})).sizes(), (Sizes{2, 192}));
  EXPECT_EQ(vit->forward(torch::randn({2, 3, 96, 96})).sizes(), (Sizes{2, 192}));  // 6 x 6 patches

  twist::ViT small(tiny_vit(2));  // patch 4 on 32 pixels: 8 x 8 patches
  EXPECT_EQ(small->pos_embed.sizes(), (Sizes{1, 65, 192}));
  EXPECT_EQ(small->forward(torch::randn({2, 3, 32, 32})).sizes(), (Sizes{2, 192}));
  EXPECT_EQ(small->forward(torch::randn({1, 3, 12, 20})).sizes(), (Sizes{1, 192}));  // 3 x 5, not square
  EXPECT_THROW(small->forward(torch::randn({1, 3, 3, 3})), twist::Error);            // smaller than a patch
}

TEST(ViT, ArchitecturesWidthsAndHeads) {
  for (auto [arch, dim, heads] : {std::tuple{"vit_tiny", 192, 3}, {"vit_small", 384, 6}, {"vit_base", 768, 12}}) {
    twist::ViTOptions o = tiny_vit();
    o.arch = arch;
    twist::ViT v(o);
    EXPECT_EQ(v->feature_dim(), dim) << arch;
    EXPECT_EQ(v->arch(), arch);
    auto* block = v->blocks->ptr(0)->as<twist::ViTBlockImpl>();
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(block->attn->heads, heads) << arch;
    EXPECT_EQ(block->mlp->fc1->weight.size(0), 4 * dim) << arch;  // MLP ratio 4
  }
  twist::ViTOptions o;
  EXPECT_EQ(twist::ViT(o)->blocks->size(), 12u);
  o.arch = "vit_huge";
  EXPECT_THROW(twist::ViT{o}, twist::Error);
  o = tiny_vit();
  o.image_size = 2;  // below the patch size
  EXPECT_THROW(twist::ViT{o}, twist::Error);
}

// timm's vit_small_patch16_224 without its head, by hand:
//   patch_embed.proj  384*3*16*16 + 384               =    295,296
//   cls_token         384                             =        384
//   pos_embed         (1 + 14*14) * 384 = 197 * 384   =     75,648
//   one block: norm1  2*384                           =        768
//              qkv    384*1152 + 1152                 =    443,520
//              proj   384*384 + 384                   =    147,840
//              norm2  2*384                           =        768
//              fc1    384*1536 + 1536                 =    591,360
//              fc2    1536*384 + 384                  =    590,208
//              total                                  =  1,774,464
//   12 blocks                                         = 21,293,568
//   norm              2*384                           =        768
//   sum                                               = 21,665,664
// (timm reports 22,050,664 with the 1000-class head of 384*1000 + 1000.)
TEST(ViT, SmallParameterCountMatchesTimm) {
  twist::ViTOptions o;
  o.arch = "vit_small";
  EXPECT_EQ(parameter_count(twist::ViT(o)->parameters()), 21665664);
}

TEST(ViT, TimmNames) {
  twist::ViT v(tiny_vit(1));
  std::set<std::string> names;
  for (const auto& kv : v->named_parameters()) names.insert(kv.key());
  const std::set<std::string> timm = {"cls_token",
                                      "pos_embed",
                                      "patch_embed.proj.weight",
                                      "patch_embed.proj.bias",
                                      "blocks.0.norm1.weight",
                                      "blocks.0.norm1.bias",
                                      "blocks.0.attn.qkv.weight",
                                      "blocks.0.attn.qkv.bias",
                                      "blocks.0.attn.proj.weight",
                                      "blocks.0.attn.proj.bias",
                                      "blocks.0.norm2.weight",
                                      "blocks.0.norm2.bias",
                                      "blocks.0.mlp.fc1.weight",
                                      "blocks.0.mlp.fc1.bias",
                                      "blocks.0.mlp.fc2.weight",
                                      "blocks.0.mlp.fc2.bias",
                                      "norm.weight",
                                      "norm.bias"};
  EXPECT_EQ(names, timm);
  EXPECT_TRUE(v->named_buffers().is_empty());
  // Shapes as timm's: qkv packs query, key and value along the outputs.
  EXPECT_EQ(v->named_parameters()["blocks.0.attn.qkv.weight"].sizes(), (Sizes{3 * 192, 192}));
  EXPECT_EQ(v->named_parameters()["patch_embed.proj.weight"].sizes(), (Sizes{192, 3, 4, 4}));
}

TEST(ViT, InitialisationFollowsTimm) {
  torch::manual_seed(0);
  twist::ViTOptions o;
  o.arch = "vit_small";
  o.depth = 2;
  twist::ViT v(o);
  auto params = v->named_parameters();
  // Truncated normal at +-2 (absolute, as timm): in effect N(0, 0.02).
  for (const char* name : {"pos_embed", "blocks.0.attn.qkv.weight", "blocks.1.mlp.fc2.weight"}) {
    const auto& t = params[name];
    EXPECT_NEAR(t.std().item<double>(), 0.02, 0.001) << name;
    EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.001) << name;
  }
  EXPECT_TRUE(torch::equal(params["blocks.0.attn.qkv.bias"], torch::zeros({3 * 384})));
  EXPECT_TRUE(torch::equal(params["blocks.1.norm2.weight"], torch::ones({384})));
  EXPECT_TRUE(torch::equal(params["norm.bias"], torch::zeros({384})));
}

TEST(ViT, PositionEmbeddingInterpolation) {
  twist::ViT v(tiny_vit());  // learned for an 8 x 8 grid
  // At the training size: the learned tensor itself, not a resampled copy.
  auto same = v->position_embedding(8, 8);
  EXPECT_TRUE(same.is_same(v->pos_embed));
  auto local = v->position_embedding(3, 5);
  EXPECT_EQ(local.sizes(), (Sizes{1, 1 + 15, 192}));
  // The class token's embedding is never resized.
  EXPECT_TRUE(torch::equal(local.select(1, 0), v->pos_embed.select(1, 0)));
  // Bicubic weights sum to one: a constant grid stays constant.
  {
    torch::NoGradGuard no_grad;
    v->pos_embed.fill_(0.25);
  }
  auto constant = v->position_embedding(6, 6);
  EXPECT_EQ(constant.sizes(), (Sizes{1, 37, 192}));
  EXPECT_LT((constant - 0.25).abs().max().item<double>(), 1e-6);
  // A grid that varies along columns only keeps doing so after resizing.
  {
    torch::NoGradGuard no_grad;
    auto cols = torch::arange(8, torch::kFloat32).view({1, 8, 1}).expand({8, 8, 192}).reshape({64, 192});
    v->pos_embed.narrow(1, 1, 64).copy_(cols.unsqueeze(0));
  }
  auto grid = v->position_embedding(4, 4).narrow(1, 1, 16).reshape({4, 4, 192});
  EXPECT_LT((grid - grid.select(0, 0).unsqueeze(0)).abs().max().item<double>(), 1e-5);
  EXPECT_GT((grid.select(1, 3) - grid.select(1, 0)).min().item<double>(), 0);  // increasing left to right
  // Gradients reach the learned embeddings through the resize.
  v->position_embedding(4, 4).sum().backward();
  EXPECT_GT(v->pos_embed.grad().abs().sum().item<double>(), 0);
}

TEST(ViT, DropPath) {
  torch::manual_seed(0);
  auto x = torch::randn({4000, 3, 5});
  // Identity in evaluation, and whatever p when p = 0.
  EXPECT_TRUE(twist::drop_path(x, 0.3, false).is_same(x));
  EXPECT_TRUE(twist::drop_path(x, 0.0, true).is_same(x));
  // Training: each sample kept whole (scaled by 1 / (1 - p)) or zeroed whole.
  auto y = twist::drop_path(x, 0.3, true);
  auto kept = (y != 0).flatten(1).any(1);
  EXPECT_TRUE(torch::allclose(y.index({kept}), x.index({kept}) / 0.7));
  EXPECT_NEAR(kept.to(torch::kFloat).mean().item<double>(), 0.7, 0.03);
  // Expectation preserved: the mean over samples of drop_path(1) is about 1.
  EXPECT_NEAR(twist::drop_path(torch::ones({20000, 2}), 0.3, true).mean().item<double>(), 1.0, 0.03);
  EXPECT_TRUE(torch::equal(twist::drop_path(x, 1.0, true), torch::zeros_like(x)));

  // A block with p = 1 drops both residual branches in training: out = in.
  twist::ViTBlock block(16, 2, 1.0);
  auto t = torch::randn({3, 5, 16});
  block->train();
  EXPECT_TRUE(torch::equal(block->forward(t), t));
  block->eval();
  EXPECT_FALSE(torch::allclose(block->forward(t), t));
}

TEST(ViT, DropPathRisesLinearlyOverBlocks) {
  twist::ViTOptions o = tiny_vit(5);
  o.drop_path = 0.2;
  twist::ViT v(o);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_NEAR(v->blocks->ptr(i)->as<twist::ViTBlockImpl>()->drop_path, 0.05 * double(i), 1e-12) << i;
  // Evaluation ignores it: two passes agree.
  v->eval();
  auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(v->forward(x), v->forward(x)));
}

// Single-channel images (Fashion-MNIST) and the class token's output as the
// features: changing one patch changes every image's features through
// attention, but other images in the batch are untouched (no batch mixing).
TEST(ViT, OneChannelAndNoBatchMixing) {
  twist::ViTOptions o = tiny_vit(2);
  o.in_channels = 1;
  o.image_size = 28;
  twist::ViT v(o);
  v->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({3, 1, 28, 28});
  auto a = v->forward(x);
  auto x2 = x.clone();
  x2[1].narrow(1, 0, 4).narrow(2, 0, 4).add_(1.0);
  auto b = v->forward(x2);
  EXPECT_TRUE(torch::allclose(a[0], b[0], 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(a[1], b[1], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a[2], b[2], 1e-5, 1e-6));
}

TEST(Backbone, FactoryPicksTheFamily) {
  twist::BackboneOptions o;
  o.arch = "vit_tiny";
  o.image_size = 16;
  o.patch_size = 4;
  o.in_channels = 1;
  twist::Backbone vit = twist::make_backbone(o);
  EXPECT_NE(vit->as<twist::ViTImpl>(), nullptr);
  EXPECT_EQ(vit->arch(), "vit_tiny");
  EXPECT_EQ(vit->forward(torch::randn({2, 1, 16, 16})).sizes(), (Sizes{2, 192}));
  o.arch = "resnet18";
  o.width = 0.125;
  twist::Backbone resnet = twist::make_backbone(o);
  EXPECT_NE(resnet->as<twist::ResNetImpl>(), nullptr);
  EXPECT_EQ(resnet->feature_dim(), 64);
  // A ResNet or a ViT converts to a Backbone sharing the same module.
  twist::ResNet r(static_cast<const twist::ResNetOptions&>(o));
  twist::Backbone b = r;
  EXPECT_EQ(b.ptr().get(), r.ptr().get());
}

// TwistModel with a ViT: the local crops (another size) go through the same
// ViT with resized position embeddings, and the model's state dict keeps the
// backbone's names under "backbone.".
TEST(Backbone, TwistModelWithViTAndLocalCrops) {
  twist::TrainConfig c;
  c.arch = "vit_tiny";
  c.image_size = 16;
  c.patch_size = 4;
  c.hidden = 32;
  c.classes = 5;
  auto mo = twist::model_options(c, 1);
  EXPECT_EQ(mo.head.activation, "gelu");  // the paper's ViT heads
  twist::TwistModel m(mo);
  auto out = m->forward({torch::randn({4, 1, 16, 16}), torch::randn({4, 1, 16, 16}), torch::randn({4, 1, 8, 8}),
                         torch::randn({4, 1, 8, 8})});
  ASSERT_EQ(out.size(), 4u);
  for (const auto& l : out) EXPECT_EQ(l.sizes(), (Sizes{4, 5}));
  EXPECT_TRUE(m->named_parameters().contains("backbone.blocks.11.attn.qkv.weight"));
  EXPECT_TRUE(m->named_parameters().contains("backbone.pos_embed"));
  c.arch = "resnet18";
  EXPECT_EQ(twist::model_options(c, 1).head.activation, "relu");
}

// Evaluation and export take any Backbone: features of a ViT in eval mode
// (then back in train mode), and its state dict under timm's names.
TEST(Backbone, EvaluationAndExportTakeAViT) {
  twist::ViTOptions o = tiny_vit(1);
  o.image_size = 16;
  o.in_channels = 1;
  twist::ViT vit(o);
  vit->train();
  auto images = torch::randint(0, 256, {5, 1, 16, 16}, torch::kLong).to(torch::kUInt8);
  const twist::Normalization norm{{0.5}, {0.25}};
  auto feats = twist::backbone_features(vit, images, norm, 2);
  EXPECT_TRUE(vit->is_training());
  EXPECT_EQ(feats.sizes(), (Sizes{5, 192}));
  vit->eval();
  torch::NoGradGuard no_grad;
  auto expected = vit->forward((images.to(torch::kFloat32) / 255.0 - 0.5) / 0.25);
  EXPECT_TRUE(torch::allclose(feats, expected, 1e-4, 1e-5));
  auto dict = twist::backbone_state_dict(vit);
  ASSERT_EQ(dict.size(), 18u);
  EXPECT_EQ(dict[0].first, "cls_token");
}

TEST(Head, GeluHeadHasTheReluHeadsNames) {
  twist::HeadOptions h;
  h.in_dim = 8;
  h.hidden = 16;
  h.classes = 5;
  twist::ProjectionHead relu(h);
  h.activation = "gelu";
  twist::ProjectionHead gelu(h);
  std::vector<std::string> a, b;
  for (const auto& kv : relu->named_parameters()) a.push_back(kv.key());
  for (const auto& kv : relu->named_buffers()) a.push_back(kv.key());
  for (const auto& kv : gelu->named_parameters()) b.push_back(kv.key());
  for (const auto& kv : gelu->named_buffers()) b.push_back(kv.key());
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.front(), "layers.0.weight");
  EXPECT_NE(relu->layers->ptr(2)->as<torch::nn::ReLUImpl>(), nullptr);
  EXPECT_NE(gelu->layers->ptr(2)->as<torch::nn::GELUImpl>(), nullptr);
  EXPECT_NE(gelu->layers->ptr(5)->as<torch::nn::GELUImpl>(), nullptr);
  // GELU lets negative pre-activations through (ReLU zeroes them): the
  // heads compute different functions from the same weights.
  {
    torch::NoGradGuard no_grad;
    auto from = relu->named_parameters();
    for (auto& kv : gelu->named_parameters()) kv.value().copy_(from[kv.key()]);
  }
  relu->eval();
  gelu->eval();
  auto x = torch::randn({6, 8});
  EXPECT_FALSE(torch::allclose(relu->forward(x), gelu->forward(x), 1e-3, 1e-4));
  h.activation = "tanh";
  EXPECT_THROW(twist::ProjectionHead{h}, twist::Error);
}

}  // namespace
