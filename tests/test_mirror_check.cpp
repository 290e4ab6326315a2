// The mirror check behind --flip-p -1 (auto): known answers on data whose
// mirror images are members, strangers, or equally likely.
#include <gtest/gtest.h>

#include "test_util.h"
#include "twist/config.h"
#include "twist/mirror_check.h"
#include "twist/train.h"

namespace {

// n noisy 1 x 12 x 12 images, each a bright bar in the left half (column
// 1-4), or, where `mirrored` is true, in the right half.
torch::Tensor bars(int64_t n, const torch::Tensor& mirrored, uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  torch::Tensor x = torch::rand({n, 1, 12, 12}, gen) * 40;
  const torch::Tensor col = torch::randint(1, 5, {n}, gen), row = torch::randint(0, 6, {n}, gen);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = col[i].item<int64_t>(), r = row[i].item<int64_t>();
    const int64_t at = mirrored[i].item<bool>() ? 11 - c : c;
    x.index_put_({i, 0, torch::indexing::Slice(r, r + 6), at}, 255);
  }
  return x.to(torch::kUInt8);
}

TEST(MirrorCheck, ASetHoldingEachImagesMirrorSuitsFlips) {
  const torch::Tensor half = bars(64, torch::zeros({64}, torch::kBool), 1);
  const twist::MirrorCheck m = twist::mirror_check(torch::cat({half, half.flip({3})}));
  EXPECT_EQ(m.images, 128);
  EXPECT_DOUBLE_EQ(m.farther, 0.0);  // every mirror image is itself in the set
  EXPECT_TRUE(m.flips_suit());
  EXPECT_EQ(twist::auto_flip_p(m), 0.5);
}

TEST(MirrorCheck, ImagesWhoseMirrorsAreStrangersDoNot) {
  const twist::MirrorCheck m = twist::mirror_check(bars(200, torch::zeros({200}, torch::kBool), 2));
  EXPECT_GT(m.farther, 0.95);  // a bar on the right is like no image of the set
  EXPECT_FALSE(m.flips_suit());
  EXPECT_EQ(twist::auto_flip_p(m), 0.0);
}

TEST(MirrorCheck, BothOrientationsEquallyLikelyGiveAboutHalf) {
  torch::Generator gen = at::detail::createCPUGenerator(3);
  const torch::Tensor sides = torch::rand({400}, gen) < 0.5;
  const twist::MirrorCheck m = twist::mirror_check(bars(400, sides, 3));
  EXPECT_NEAR(m.farther, 0.5, 0.1);
  EXPECT_TRUE(m.flips_suit());
}

TEST(MirrorCheck, ResolveFlipSetsOnlyAuto) {
  const torch::Tensor strangers = bars(100, torch::zeros({100}, torch::kBool), 4);
  twist::TrainConfig c;
  EXPECT_EQ(c.flip_p, -1);  // the default is auto
  twist::resolve_flip(c, strangers, /*say=*/false);
  EXPECT_EQ(c.flip_p, 0.0);
  c.flip_p = 0.3;
  twist::resolve_flip(c, strangers, false);
  EXPECT_EQ(c.flip_p, 0.3);
}

TEST(MirrorCheck, FlipProbabilityIsAutoOrAProbability) {
  twist::TrainConfig c;
  for (double p : {-1.0, 0.0, 0.5, 1.0}) {
    c.flip_p = p;
    EXPECT_EQ(twist::testing::error_of([&] { twist::validate(c); }), "(no error)") << p;
  }
  for (double p : {-0.5, 1.5}) {
    c.flip_p = p;
    EXPECT_NE(twist::testing::error_of([&] { twist::validate(c); }).find("flip_p"), std::string::npos) << p;
  }
  EXPECT_NE(twist::testing::error_of([] {
              twist::mirror_check(torch::zeros({1, 1, 4, 4}));
            }).find("two images"),
            std::string::npos);
}

}  // namespace
