// The memory a run needs, estimated before anything is allocated.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "test_util.h"
#include "twist/config.h"
#include "twist/error.h"
#include "twist/memory_check.h"
#include "twist/models.h"
#include "twist/train.h"

namespace {

using twist::testing::parameter_count;

// The count made before building equals the built ResNet's, for every
// depth, stem and a width that rounds channel counts (with a feature_dim).
TEST(MemoryCheck, ResNetCostCountsTheBuiltParameters) {
  for (const char* arch : {"resnet18", "resnet34", "resnet50", "resnet50w2"})
    for (const char* stem : {"small", "imagenet"})
      for (double width : {0.25, 0.3}) {
        twist::BackboneOptions o;
        o.arch = arch;
        o.stem = stem;
        o.width = width;
        o.in_channels = 3;
        o.feature_dim = width == 0.3 ? 40 : 0;  // the 1x1 expansion after the last stage
        const twist::BackboneCost c = twist::backbone_cost(o, 32);
        twist::Backbone b = twist::make_backbone(o);
        EXPECT_EQ(int64_t(c.parameters), parameter_count(b->parameters())) << arch << " " << stem << " " << width;
        EXPECT_EQ(int64_t(c.feature_dim), b->feature_dim()) << arch;
      }
}

// A ViT's count leaves out biases and LayerNorms: within 1%.
TEST(MemoryCheck, ViTCostIsCloseToTheBuiltParameters) {
  twist::BackboneOptions o;
  o.arch = "vit_tiny";
  o.image_size = 32;
  o.patch_size = 4;
  o.in_channels = 3;
  const twist::BackboneCost c = twist::backbone_cost(o, 32);
  const double built = double(parameter_count(twist::make_backbone(o)->parameters()));
  EXPECT_NEAR(c.parameters / built, 1.0, 0.01);
  EXPECT_EQ(int64_t(c.feature_dim), 192);
}

// The shipped recipe fits in 1 GiB; settings far beyond any machine are
// refused by name, before a byte of them is allocated.
// The stem "auto" chooses from the images' side: small up to 64 pixels,
// ImageNet's above, where it costs a sixteenth of the activations.
TEST(MemoryCheck, AutoStemFollowsTheImagesSide) {
  twist::TrainConfig c;
  EXPECT_EQ(c.stem, "auto");
  EXPECT_EQ(twist::resolved_stem(c, 28), "small");
  EXPECT_EQ(twist::resolved_stem(c, twist::kSmallStemMaxSide), "small");
  EXPECT_EQ(twist::resolved_stem(c, twist::kSmallStemMaxSide + 1), "imagenet");
  EXPECT_EQ(twist::resolved_stem(c, 0), "small");  // the side not known
  c.image_size = 96;
  EXPECT_EQ(twist::model_options(c, 3).backbone.stem, "imagenet");
  twist::TrainConfig small = c, imagenet = c;
  small.stem = "small";
  imagenet.stem = "imagenet";
  EXPECT_EQ(twist::resolved_stem(small, 224), "small");  // a named stem stays
  EXPECT_EQ(twist::resolved_stem(imagenet, 28), "imagenet");
  const double a = twist::training_memory(c, 3, 96, 64).step_bytes;
  EXPECT_EQ(a, twist::training_memory(imagenet, 3, 96, 64).step_bytes);
  EXPECT_LT(a * 8, twist::training_memory(small, 3, 96, 64).step_bytes);
}

TEST(MemoryCheck, RefusesWhatCannotFitAndNamesTheSetting) {
  const double gib = 1024.0 * 1024.0 * 1024.0;
  twist::TrainConfig c;
  EXPECT_NO_THROW(twist::check_training_memory(c, 1, 28, 256, gib));
  const twist::TrainingMemory m = twist::training_memory(c, 1, 28, 256);
  EXPECT_GT(m.model_bytes, 1e6);
  EXPECT_LT(m.model_bytes + m.step_bytes, 0.5 * gib);
  auto message = [&](const twist::TrainConfig& x, int64_t side) {
    try {
      twist::check_training_memory(x, 1, side, x.batch_size, 24 * gib);
    } catch (const twist::Error& e) { return std::string(e.what()); }
    return std::string();
  };
  twist::TrainConfig wide = c;
  wide.width = 1e6;
  const std::string w = message(wide, 28);
  EXPECT_NE(w.find("--width 1e+06"), std::string::npos) << w;
  EXPECT_NE(w.find("this machine has 24 GiB"), std::string::npos) << w;
  EXPECT_NE(w.find("Lower --width or --hidden"), std::string::npos) << w;
  twist::TrainConfig expanded = c;  // the 1x1 expansion's weights and activations are counted
  expanded.feature_dim = 100000000;
  const std::string e = message(expanded, 28);
  EXPECT_NE(e.find("--feature-dim 100000000"), std::string::npos) << e;
  EXPECT_NE(e.find("Lower --width, --feature-dim or --hidden"), std::string::npos) << e;
  const std::string s = message(c, 100000);
  EXPECT_NE(s.find("--image-size 100000"), std::string::npos) << s;
  EXPECT_NE(s.find("Lower --batch-size or --image-size"), std::string::npos) << s;
  // Activations grow with the image's area and the batch.
  const twist::TrainingMemory big = twist::training_memory(c, 1, 56, 512);
  EXPECT_NEAR(big.step_bytes / m.step_bytes, 8.0, 0.5);
}

// Less free space than two checkpoints is said at the start.
TEST(MemoryCheck, WarnsWhenTheDiskCannotHoldTwoCheckpoints) {
  twist::testing::TempDir dir;
  EXPECT_EQ(twist::disk_space_warning(dir.path, 1e3), "");
  const std::string w = twist::disk_space_warning(dir.path, 1e18);
  EXPECT_NE(w.find("less than two checkpoints"), std::string::npos) << w;
  EXPECT_EQ(twist::disk_space_warning(dir.path + "/missing/deeper", 1e18), "");
}

}  // namespace
