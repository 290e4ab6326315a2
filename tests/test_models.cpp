#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "test_util.h"
#include "twist/config.h"
#include "twist/error.h"
#include "twist/models.h"
#include "twist/train.h"

namespace {

using twist::testing::parameter_count;

// torchvision's resnet18 has 11,689,512 parameters, 513,000 of them in fc
// (512*1000 + 1000); resnet50 has 25,557,032 with 2,049,000 in fc.
TEST(ResNet, ParameterCountsMatchTorchvision) {
  twist::ResNetOptions o;
  o.stem = "imagenet";
  o.in_channels = 3;
  o.arch = "resnet18";
  twist::ResNet r18(o);
  EXPECT_EQ(parameter_count(r18->parameters()), 11689512 - 513000);
  EXPECT_EQ(r18->feature_dim(), 512);
  o.arch = "resnet34";
  EXPECT_EQ(parameter_count(twist::ResNet(o)->parameters()), 21797672 - 513000);
  o.arch = "resnet50";
  twist::ResNet r50(o);
  EXPECT_EQ(parameter_count(r50->parameters()), 25557032 - 2049000);
  EXPECT_EQ(r50->feature_dim(), 2048);
}

// resnet50w2 (SimCLR's ResNet-50 (2x)) has no torchvision model; its count
// by hand from resnet50's 23,508,032 parameters without fc. resnet50's
// BatchNorms cover 26,560 channels: bn1 64; per bottleneck 6 x planes, plus
// 4 x planes in each first block's downsample: layer1 3*6*64 + 256 = 1,408,
// layer2 4*6*128 + 512 = 3,584, layer3 6*6*256 + 1,024 = 10,240, layer4
// 3*6*512 + 2,048 = 11,264; so 53,120 BatchNorm parameters and 23,454,912
// convolution weights, 3*64*7*7 = 9,408 of them in conv1. Doubling every
// channel multiplies a convolution by 4 (inputs and outputs), conv1 by 2 (3
// input channels stay) and a BatchNorm by 2:
// 4 * (23,454,912 - 9,408) + 2 * 9,408 + 2 * 53,120 = 93,907,072 (SimCLR: 94M).
TEST(ResNet, Wide50x2CountAndImageNetShape) {
  twist::ResNetOptions o;
  o.arch = "resnet50w2";
  o.stem = "imagenet";
  twist::ResNet r(o);
  EXPECT_EQ(r->feature_dim(), 4096);
  EXPECT_EQ(parameter_count(r->parameters()), 93907072);
  EXPECT_EQ(r->conv1->weight.sizes(), (std::vector<int64_t>{128, 3, 7, 7}));
  r->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(r->forward(torch::randn({1, 3, 224, 224})).sizes(), (std::vector<int64_t>{1, 4096}));
}

TEST(ResNet, TorchvisionNames) {
  twist::ResNetOptions o;
  o.arch = "resnet50";
  twist::ResNet r(o);
  std::set<std::string> names;
  for (const auto& kv : r->named_parameters()) names.insert(kv.key());
  for (const auto& kv : r->named_buffers()) names.insert(kv.key());
  for (const char* n : {"conv1.weight", "bn1.weight", "bn1.running_mean", "layer1.0.conv1.weight",
                        "layer1.0.conv3.weight", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.bias",
                        "layer4.2.bn3.running_var", "layer3.5.conv2.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  twist::ResNetOptions b;  // resnet18: the first block of layer1 keeps its shape, no downsample
  twist::ResNet r18(b);
  names.clear();
  for (const auto& kv : r18->named_parameters()) names.insert(kv.key());
  EXPECT_FALSE(names.count("layer1.0.downsample.0.weight"));
  EXPECT_TRUE(names.count("layer2.0.downsample.0.weight"));
}

TEST(ResNet, StemsWidthAndChannels) {
  twist::ResNetOptions o;
  o.width = 0.25;
  o.in_channels = 1;
  twist::ResNet small(o);
  auto y = small->forward(torch::randn({2, 1, 28, 28}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 128}));  // 512 * 0.25
  EXPECT_EQ(small->conv1->weight.sizes(), (std::vector<int64_t>{16, 1, 3, 3}));
  o.stem = "imagenet";
  o.in_channels = 3;
  twist::ResNet big(o);
  EXPECT_EQ(big->conv1->weight.sizes(), (std::vector<int64_t>{16, 3, 7, 7}));
  EXPECT_EQ(big->forward(torch::randn({2, 3, 64, 64})).sizes(), (std::vector<int64_t>{2, 128}));
  o.arch = "resnet9";
  EXPECT_THROW(twist::ResNet{o}, std::exception);
}

// feature_dim: a 1x1 convolution + BatchNorm + ReLU after the last stage,
// then the pooling; the features are the mean over positions of that map.
TEST(ResNet, FeatureDimExpandsTheLastStageBeforePooling) {
  twist::ResNetOptions o;
  o.width = 0.25;
  o.in_channels = 1;
  twist::ResNet plain(o);
  o.feature_dim = 48;
  twist::ResNet wide(o);
  EXPECT_EQ(wide->feature_dim(), 48);
  EXPECT_EQ(plain->expand_conv.is_empty(), true);
  EXPECT_EQ(wide->expand_conv->weight.sizes(), (std::vector<int64_t>{48, 128, 1, 1}));
  // 128 * 48 weights and a BatchNorm's weight and bias per channel.
  EXPECT_EQ(parameter_count(wide->parameters()) - parameter_count(plain->parameters()), 128 * 48 + 2 * 48);
  std::set<std::string> names;
  for (const auto& kv : wide->named_buffers()) names.insert(kv.key());
  EXPECT_TRUE(names.count("expand_bn.running_mean"));
  wide->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({3, 1, 28, 28});
  const auto y = wide->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 48}));
  auto map = torch::relu(wide->bn1(wide->conv1(x.contiguous(torch::MemoryFormat::ChannelsLast))));
  map = wide->layer4->forward(wide->layer3->forward(wide->layer2->forward(wide->layer1->forward(map))));
  const auto expected = torch::relu(wide->expand_bn(wide->expand_conv(map))).mean({2, 3});
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-6));
  EXPECT_GE(y.min().item<double>(), 0.0);  // means of ReLU outputs
  o.feature_dim = -1;
  EXPECT_THROW(twist::ResNet{o}, std::exception);
  twist::BackboneOptions vit;  // a ViT has no such layer: refused, not ignored
  vit.arch = "vit_tiny";
  vit.feature_dim = 64;
  EXPECT_THROW(twist::make_backbone(vit), twist::Error);
}

TEST(ResNet, MemoryFormatDoesNotChangeResults) {
  twist::ResNetOptions o;
  o.width = 0.125;
  o.in_channels = 1;
  torch::manual_seed(0);
  twist::ResNet a(o);
  o.channels_last = false;
  torch::manual_seed(0);
  twist::ResNet b(o);
  a->eval();
  b->eval();
  auto x = torch::randn({3, 1, 20, 20});
  EXPECT_TRUE(torch::allclose(a->forward(x), b->forward(x), 1e-4, 1e-5));
}

TEST(Head, NbsNormalizesEachClassOverTheBatch) {
  twist::HeadOptions h;
  h.in_dim = 8;
  h.hidden = 16;
  h.classes = 5;
  twist::ProjectionHead head(h);
  auto z = head->forward(torch::randn({64, 8}) * 3 + 1);
  // BatchNorm without affine parameters: every logit column has mean 0, variance 1
  EXPECT_LT(z.mean(0).abs().max().item<double>(), 1e-4);
  EXPECT_LT((z.var(0, false) - 1).abs().max().item<double>(), 1e-2);
  h.nbs = false;
  twist::ProjectionHead plain(h);
  EXPECT_EQ(plain->layers->size(), 7u);
  EXPECT_EQ(head->layers->size(), 8u);
  h.classes = 1;
  EXPECT_THROW(twist::ProjectionHead{h}, std::exception);
}

// One seed gives one head on every compiler: the Linears draw their weights
// in a fixed order (last layer first), not in the order a compiler happens
// to evaluate the arguments of one expression.
TEST(Head, LinearsDrawTheirWeightsLastLayerFirst) {
  twist::HeadOptions h;
  h.in_dim = 6;
  h.hidden = 7;
  h.classes = 5;
  torch::manual_seed(11);
  twist::ProjectionHead head(h);
  torch::manual_seed(11);
  torch::nn::Linear out(h.hidden, h.classes), fc2(h.hidden, h.hidden), fc1(h.in_dim, h.hidden);
  auto weight = [&](size_t i) { return head->layers->ptr(i)->named_parameters()["weight"]; };
  EXPECT_TRUE(torch::equal(weight(0), fc1->weight));
  EXPECT_TRUE(torch::equal(weight(3), fc2->weight));
  EXPECT_TRUE(torch::equal(weight(6), out->weight));
}

TEST(TwistModel, ViewsOfTwoResolutionsGiveOneLogitTensorEach) {
  twist::TwistModelOptions o;
  o.backbone.width = 0.125;
  o.backbone.in_channels = 1;
  o.head.hidden = 32;
  o.head.classes = 7;
  twist::TwistModel m(o);
  auto out = m->forward({torch::randn({4, 1, 28, 28}), torch::randn({4, 1, 28, 28}), torch::randn({4, 1, 14, 14})});
  ASSERT_EQ(out.size(), 3u);
  for (const auto& l : out) EXPECT_EQ(l.sizes(), (std::vector<int64_t>{4, 7}));
}

// The recipe shipped in configs/ is what `twist train` does with no flags:
// it names every model and recipe setting, with the default values.
TEST(Config, ShippedRecipeEqualsDefaults) {
  std::ifstream f(std::string(TWIST_SOURCE_DIR) + "/configs/fashion-mnist.json");
  ASSERT_TRUE(bool(f));
  std::stringstream ss;
  ss << f.rdbuf();
  auto file = nlohmann::json::parse(ss.str());
  for (const auto& k : twist::config_keys()) {
    if (k.kind != twist::ConfigKind::Runtime) { EXPECT_TRUE(file.contains(k.key)) << k.key; }
  }
  auto shipped = twist::config_from_json(ss.str(), "configs/fashion-mnist.json", twist::TrainConfig{});
  EXPECT_EQ(twist::config_to_json(shipped), twist::config_to_json(twist::TrainConfig{}));
}

TEST(Config, FlagsJsonAndErrors) {
  twist::TrainConfig c;
  twist::set_config_value(c, "lr", "0.25");
  twist::set_config_value(c, "nbs", "false");
  twist::set_config_value(c, "batch_size", "64");
  EXPECT_DOUBLE_EQ(c.lr, 0.25);
  EXPECT_FALSE(c.nbs);
  EXPECT_EQ(c.batch_size, 64);
  auto back = twist::config_from_json(twist::config_to_json(c), "roundtrip");
  EXPECT_EQ(twist::config_to_json(back), twist::config_to_json(c));
  EXPECT_THROW(twist::set_config_value(c, "lr", "fast"), std::exception);
  EXPECT_THROW(twist::set_config_value(c, "batch_size", "1.5"), std::exception);
  EXPECT_THROW(twist::config_from_json("{\"lr\": \"high\"}", "x"), std::exception);
  EXPECT_THROW(twist::config_from_json("[1]", "x"), std::exception);
  EXPECT_THROW(twist::config_from_json("{nope", "x"), std::exception);
  // Whole floats are ints; out-of-range ones are errors, not an undefined cast.
  EXPECT_EQ(twist::config_from_json("{\"batch_size\": 64.0}", "x").batch_size, 64);
  EXPECT_THROW(twist::config_from_json("{\"batch_size\": 1e300}", "x"), twist::Error);
  EXPECT_THROW(twist::config_from_json("{\"batch_size\": -1e19}", "x"), twist::Error);
  c.batch_size = 1;
  EXPECT_THROW(twist::validate(c), std::exception);
}

// bias_lr_ratio and head_lr: LARS and SGD take any value >= 0 (head_lr 0:
// off); AdamW only the neutral one (1 and 0).
TEST(Config, PerParameterLearningRatesAreChecked) {
  struct Rate {
    double twist::TrainConfig::*field;
    double neutral, other;
  };
  for (const Rate r :
       {Rate{&twist::TrainConfig::bias_lr_ratio, 1.0, 0.5}, Rate{&twist::TrainConfig::head_lr, 0.0, 0.05}}) {
    twist::TrainConfig c;
    c.*r.field = 0.0;
    EXPECT_NO_THROW(twist::validate(c));
    for (double bad : {-0.5, std::nan("")}) {
      c.*r.field = bad;
      EXPECT_THROW(twist::validate(c), twist::Error) << bad;
    }
    c.*r.field = r.other;
    c.optimizer = "sgd";
    EXPECT_NO_THROW(twist::validate(c));
    c.optimizer = "adamw";
    EXPECT_THROW(twist::validate(c), twist::Error);
    c.*r.field = r.neutral;
    EXPECT_NO_THROW(twist::validate(c));
  }
}

// aux_alpha and aux_beta: any number (< 0: alpha and beta), never NaN or
// infinite, which no loss could use.
TEST(Config, AuxEntropyWeightsAreNumbers) {
  twist::TrainConfig c;
  EXPECT_LT(c.aux_alpha, 0);
  c.aux_alpha = 3.0;
  c.aux_beta = 0.0;
  EXPECT_NO_THROW(twist::validate(c));
  c.aux_alpha = std::nan("");
  EXPECT_THROW(twist::validate(c), twist::Error);
  c.aux_alpha = -1;
  c.aux_beta = INFINITY;
  EXPECT_THROW(twist::validate(c), twist::Error);
}

// A bend (replan_step, replan_from, replan_along) as budget_minutes writes it:
// after a second re-plan the step may lie past the length before the first,
// but the step of it reached may not; no bend takes no replan_along.
TEST(Config, AReplanBendIsCheckedWhole) {
  twist::TrainConfig c;
  c.replan_step = 531;
  c.replan_from = 593;
  EXPECT_NO_THROW(twist::validate(c));
  c.replan_step = 650;
  EXPECT_THROW(twist::validate(c), twist::Error);  // past the planned length, with no earlier bend
  c.replan_along = 469.3;
  EXPECT_NO_THROW(twist::validate(c));
  for (double bad : {-1.0, 593.5, std::nan(""), HUGE_VAL}) {
    c.replan_along = bad;
    EXPECT_THROW(twist::validate(c), twist::Error) << bad;
  }
  c = twist::TrainConfig{};
  c.replan_along = 10;
  EXPECT_THROW(twist::validate(c), twist::Error);
}

TEST(Config, FeatureDimIsForResNetsAndNotNegative) {
  twist::TrainConfig c;
  twist::set_config_value(c, "feature_dim", "512");
  EXPECT_EQ(c.feature_dim, 512);
  EXPECT_NO_THROW(twist::validate(c));
  EXPECT_EQ(twist::model_options(c, 1).backbone.feature_dim, 512);
  c.arch = "vit_tiny";
  try {
    twist::validate(c);
    ADD_FAILURE() << "a ViT with a feature_dim was accepted";
  } catch (const twist::Error& e) {
    EXPECT_NE(std::string(e.what()).find("feature_dim: applies to ResNets only"), std::string::npos) << e.what();
  }
  c.arch = "resnet18";
  c.feature_dim = -2;
  EXPECT_THROW(twist::validate(c), twist::Error);
}

// The settings table is the one place that lists a setting's choices and
// whether it shapes a training step; validate() and twist bench read it.
TEST(Config, TableHoldsChoicesAndWhatShapesAStep) {
  std::map<std::string, twist::ConfigKey> keys;
  for (const auto& k : twist::config_keys()) keys[k.key] = k;
  EXPECT_EQ(keys["optimizer"].choices, (std::vector<std::string>{"lars", "sgd", "adamw"}));
  EXPECT_TRUE(keys["lr"].choices.empty());
  for (const char* k : {"lr", "temperature", "batch_size", "image_size", "threads", "device", "precision"})
    EXPECT_TRUE(keys[k].shapes_step) << k;
  for (const char* k : {"epochs", "min_images", "warmup_epochs", "self_label_epochs", "out", "log_every"})
    EXPECT_FALSE(keys[k].shapes_step) << k;
  twist::TrainConfig c;
  c.optimizer = "adam";
  try {
    twist::validate(c);
    ADD_FAILURE() << "an unknown optimizer passed validation";
  } catch (const twist::Error& e) {
    EXPECT_STREQ(e.what(), "invalid setting optimizer: 'adam' is not one of lars, sgd, adamw");
  }
  c = twist::TrainConfig{};
  c.device = "cuda:x";
  EXPECT_THROW(twist::validate(c), twist::Error);
  c = twist::TrainConfig{};
  c.aux_weight = 0;
  const std::string error = twist::testing::error_of([&] { twist::validate(c); });
  EXPECT_NE(error.find("invalid setting aux_weight: must be a positive number"), std::string::npos) << error;
  c = twist::TrainConfig{};
  c.spread_weight = -0.5;
  const std::string spread = twist::testing::error_of([&] { twist::validate(c); });
  EXPECT_NE(spread.find("invalid setting spread_weight: must be 0 (off) or positive"), std::string::npos) << spread;
}

}  // namespace
