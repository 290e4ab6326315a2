#include <gtest/gtest.h>

#include "twist/augment.h"
#include "twist/config.h"

#include "test_util.h"

namespace {

torch::Tensor random_images(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  auto gen = twist::make_generator(seed, 0);
  return torch::rand({b, c, h, w}, gen, torch::kFloat32);
}

twist::Normalization unit(int64_t c) { return {std::vector<double>(c, 0.0), std::vector<double>(c, 1.0)}; }

TEST(Augment, FlipTwiceIsIdentity) {
  auto x = random_images(3, 1, 7, 9, 1);
  EXPECT_TRUE(torch::equal(twist::hflip(twist::hflip(x)), x));
  EXPECT_FALSE(torch::equal(twist::hflip(x), x));
}

// A quarter turn maps pixel centres onto pixel centres, so bilinear
// sampling moves every pixel exactly; no turn leaves the image as it was.
TEST(Augment, RotateByQuarterTurnsMatchesRot90) {
  auto x = random_images(3, 2, 9, 9, 11);
  auto y = twist::rotate(x, torch::tensor({0.f, 90.f, -90.f}));
  EXPECT_TRUE(torch::allclose(y[0], x[0], 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(y[1], x[1].rot90(1, {1, 2}), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(y[2], x[2].rot90(-1, {1, 2}), 1e-5, 1e-5));
  EXPECT_THROW(twist::rotate(random_images(1, 1, 4, 5, 1), torch::zeros({1})), std::exception);
}

// A shear of 45 degrees slides each row by its height above the centre, in
// whole pixels on an odd side: a vertical line through the centre becomes
// the diagonal from the top right to the bottom left. With a turn, the
// image is turned first and then slanted, in one resampling.
TEST(Augment, ShearSlantsRowsByTheirHeight) {
  auto x = torch::zeros({1, 1, 9, 9});
  x.select(3, 4).fill_(1);
  const auto y = twist::rotate_and_shear(x, torch::Tensor(), torch::tensor({45.f}));
  const auto diagonal = torch::eye(9).flip({1}).view({1, 1, 9, 9});
  EXPECT_TRUE(torch::allclose(y, diagonal, 1e-5, 1e-5));
  const auto mirrored = twist::rotate_and_shear(x, torch::Tensor(), torch::tensor({-45.f}));
  EXPECT_TRUE(torch::allclose(mirrored, torch::eye(9).view({1, 1, 9, 9}), 1e-5, 1e-5));
  const auto busy = random_images(2, 2, 9, 9, 12);
  const auto both = twist::rotate_and_shear(busy, torch::tensor({90.f, -90.f}), torch::tensor({45.f, -45.f}));
  const auto apart = twist::rotate_and_shear(twist::rotate(busy, torch::tensor({90.f, -90.f})), torch::Tensor(),
                                             torch::tensor({45.f, -45.f}));
  EXPECT_TRUE(torch::allclose(both, apart, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(twist::rotate_and_shear(busy, torch::Tensor(), torch::zeros({2})), busy, 1e-6, 1e-6));
  EXPECT_THROW(twist::rotate_and_shear(busy, torch::Tensor(), torch::zeros({3})), std::exception);
}

// A view's angle and shear are drawn after everything else it draws: a
// flat image, which neither changes, gets the same view with and without
// them, and an image with content gets a different one.
TEST(Augment, RotationAndShearKeepTheViewsOtherDraws) {
  twist::ViewOptions v;
  v.blur_p = 0.5;
  twist::ViewOptions turned = v, slanted = v;
  turned.rotation = 30;
  slanted.shear = 20;
  auto flat = torch::full({4, 3, 16, 16}, 120, torch::kUInt8);
  auto busy = (random_images(4, 3, 16, 16, 6) * 255).to(torch::kUInt8);
  for (const auto& other : {turned, slanted}) {
    auto gen_a = twist::make_generator(5, 0), gen_b = twist::make_generator(5, 0);
    EXPECT_TRUE(torch::allclose(twist::augment_view(flat, v, unit(3), gen_a),
                                twist::augment_view(flat, other, unit(3), gen_b), 1e-5, 1e-5));
    gen_a = twist::make_generator(5, 0);
    gen_b = twist::make_generator(5, 0);
    EXPECT_FALSE(torch::allclose(twist::augment_view(busy, v, unit(3), gen_a),
                                 twist::augment_view(busy, other, unit(3), gen_b), 1e-3, 1e-3));
  }
}

// validate() accepts `good` values of one angle and names the setting for `bad` ones.
void expect_angle_checked(double twist::TrainConfig::*angle, const char* name, std::initializer_list<double> good,
                          std::initializer_list<double> bad) {
  twist::TrainConfig c;
  for (double v : good) {
    c.*angle = v;
    EXPECT_EQ(twist::testing::error_of([&] { twist::validate(c); }), "(no error)") << name << " " << v;
  }
  for (double v : bad) {
    c.*angle = v;
    EXPECT_NE(twist::testing::error_of([&] { twist::validate(c); }).find(name), std::string::npos) << name << " " << v;
  }
}

TEST(Augment, RotationAndShearAreValidatedInDegrees) {
  expect_angle_checked(&twist::TrainConfig::rotation, "rotation", {-1.0, 0.0, 15.0, 180.0},
                       {-2.0, -0.5, 181.0, std::nan("")});
  expect_angle_checked(&twist::TrainConfig::shear, "shear", {-1.0, 0.0, 15.0, 60.0}, {-2.0, -0.5, 61.0, std::nan("")});
}

// Sampling the whole image at its own pixel centres: bicubic interpolation
// passes through the samples, so the image comes back unchanged.
TEST(Augment, FullBoxCropIsIdentityAndFlipMatchesHflip) {
  auto x = random_images(2, 3, 12, 12, 2);
  auto box = torch::tensor({0.f, 0.f, 12.f, 12.f}).view({1, 4}).repeat({2, 1});
  auto none = torch::zeros({2}, torch::kBool);
  EXPECT_TRUE(torch::allclose(twist::crop_resize(x, box, 12, none), x, 1e-5, 1e-5));
  auto both = torch::ones({2}, torch::kBool);
  EXPECT_TRUE(torch::allclose(twist::crop_resize(x, box, 12, both), twist::hflip(x), 1e-5, 1e-5));
}

// A box over the right half of an image whose columns 2..7 are white: every
// sample (and its bicubic neighbours, columns 2..7 clamped at the border) is
// white, while the black columns 0..1 lie outside.
TEST(Augment, CropSelectsTheBoxRegion) {
  auto x = torch::zeros({1, 1, 8, 8});
  x.narrow(3, 2, 6).fill_(1.0);
  auto box = torch::tensor({0.f, 4.f, 8.f, 4.f}).view({1, 4});
  auto y = twist::crop_resize(x, box, 8, torch::zeros({1}, torch::kBool));
  EXPECT_NEAR(y.min().item<double>(), 1.0, 1e-5);  // only white inside the box
}

TEST(Augment, CropBoxesStayInsideAndRespectScale) {
  auto gen = twist::make_generator(3, 0);
  auto b = twist::random_crop_boxes(500, 28, 28, 0.2, 0.6, 3.0 / 4, 4.0 / 3, gen);
  auto top = b.select(1, 0), left = b.select(1, 1), h = b.select(1, 2), w = b.select(1, 3);
  EXPECT_TRUE((top >= 0).all().item<bool>());
  EXPECT_TRUE((left >= 0).all().item<bool>());
  EXPECT_TRUE((top + h <= 28).all().item<bool>());
  EXPECT_TRUE((left + w <= 28).all().item<bool>());
  auto area = h * w / (28.0 * 28.0);
  // Rounding the sides to whole pixels moves the area a little off the range.
  EXPECT_GT(area.min().item<double>(), 0.2 * 0.8);
  EXPECT_LT(area.max().item<double>(), 0.6 * 1.25);
  EXPECT_GT(area.std().item<double>(), 0.05);  // really random
}

TEST(Augment, SolarizeThreshold) {
  auto x = torch::tensor({0.0f, 0.49f, 0.5f, 0.8f, 1.0f});
  auto y = twist::solarize(x, 0.5);
  auto want = torch::tensor({0.0f, 0.49f, 0.5f, 0.2f, 0.0f});
  EXPECT_TRUE(torch::allclose(y, want, 1e-6, 1e-6));
}

TEST(Augment, ColourAdjustmentsHandValues) {
  auto x = torch::full({1, 1, 2, 2}, 0.5f);
  x[0][0][0][0] = 0.1f;  // mean 0.4
  auto one = torch::ones({1});
  EXPECT_TRUE(torch::equal(twist::adjust_brightness(x, one), x));
  EXPECT_NEAR(twist::adjust_brightness(x, torch::full({1}, 1.5f))[0][0][0][1].item<double>(), 0.75, 1e-6);
  // contrast 0 -> every pixel the mean grey level
  auto flat = twist::adjust_contrast(x, torch::zeros({1}));
  EXPECT_TRUE(torch::allclose(flat, torch::full_like(x, 0.4f), 1e-6, 1e-6));
  // saturation and hue leave one-channel images alone
  EXPECT_TRUE(torch::equal(twist::adjust_saturation(x, torch::zeros({1})), x));
  EXPECT_TRUE(torch::equal(twist::adjust_hue(x, torch::full({1}, 0.3f)), x));
}

TEST(Augment, HueRoundTripAndHalfTurns) {
  auto x = random_images(4, 3, 5, 5, 4);
  EXPECT_TRUE(torch::allclose(twist::adjust_hue(x, torch::zeros({4})), x, 1e-5, 1e-5));
  auto twice = twist::adjust_hue(twist::adjust_hue(x, torch::full({4}, 0.5f)), torch::full({4}, 0.5f));
  EXPECT_TRUE(torch::allclose(twice, x, 1e-4, 1e-4));
  // pure red shifted by a third of a turn is pure green
  auto red = torch::zeros({1, 3, 1, 1});
  red[0][0] = 1.0f;
  auto g = twist::adjust_hue(red, torch::full({1}, 1.0f / 3.0f));
  EXPECT_NEAR(g[0][1][0][0].item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(g[0][0][0][0].item<double>(), 0.0, 1e-5);
}

// The fused CPU float32 form (one pass over the pixels) computes what the
// tensor form does (taken here in float64): random colours, greys, pure
// and saturated colours at every sector's edge, shifts of either sign.
TEST(Augment, FusedHueEqualsTheTensorForm) {
  auto x = random_images(6, 3, 9, 11, 8);
  x[1] = x[1].select(0, 0).unsqueeze(0).expand({3, 9, 11});  // grey
  x[2].zero_();                                              // black
  auto corners = torch::tensor({1.f, 0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 1.f,  0.f, 0.f,  1.f,  1.f,
                                0.f, 0.f, 1.f, 1.f, 0.f, 1.f, 1.f, 0.5f, 0.f, 0.2f, 0.2f, 0.9f})
                     .view({8, 3})
                     .t();
  x[3].narrow(2, 0, 8).select(1, 0).copy_(corners);
  const auto shift = torch::tensor({0.0f, 0.3f, -0.45f, 0.1f, 0.5f, -0.5f});
  const auto fused = twist::adjust_hue(x, shift);
  const auto tensors = twist::adjust_hue(x.to(torch::kFloat64), shift).to(torch::kFloat32);
  EXPECT_LT((fused - tensors).abs().max().item<double>(), 1e-5);
}

// Draws for a finishing test: every stage on for some images and off
// (factor 1, shift 0, sigma 0, coin false) for others.
twist::ColourDraws mixed_draws(std::vector<int64_t> order) {
  twist::ColourDraws d;
  d.brightness = torch::tensor({1.3f, 1.0f, 0.7f, 1.1f, 0.6f, 1.0f});
  d.contrast = torch::tensor({0.6f, 1.4f, 1.0f, 0.9f, 1.2f, 1.0f});
  d.saturation = torch::tensor({1.2f, 0.8f, 1.0f, 0.0f, 1.4f, 1.0f});
  d.hue = torch::tensor({0.1f, -0.05f, 0.0f, 0.3f, -0.5f, 0.0f});
  d.grey = torch::tensor({false, true, false, false, true, false});
  d.sigma = torch::tensor({0.0f, 0.4f, 1.7f, 0.9f, 0.0f, 0.0f});
  d.solarize = torch::tensor({true, false, true, false, false, false});
  d.order = torch::tensor(order);
  return d;
}

// The fused finishing (image by image, one pass per stage) computes what
// the batched tensor operations do, on grey and colour images, a
// non-square size, in more than one jitter order; an image whose draws
// are all neutral comes out normalized and otherwise as it went in.
TEST(Augment, FusedFinishEqualsTheBatchedForm) {
  twist::ViewOptions v;
  v.blur_p = 0.5;
  v.solarize_p = 0.5;
  for (const int64_t c : {1, 3}) {
    const auto x = random_images(6, c, 9, 13, 21 + uint64_t(c));
    const twist::Normalization norm{std::vector<double>(size_t(c), 0.4), std::vector<double>(size_t(c), 0.25)};
    for (const auto& order : std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}}) {
      const auto d = mixed_draws(order);
      const auto fused = twist::finish_view_fused(x, d, norm);
      const auto batched = twist::finish_view_batched(x, v, d, norm);
      EXPECT_LT((fused - batched).abs().max().item<double>(), 2e-5) << c << " channels";
      EXPECT_TRUE(torch::equal(fused[5], (x[5] - 0.4f) / 0.25f));
      // The caller's batch is left as it was; a moved one is finished in place.
      const auto before = x.clone();
      EXPECT_TRUE(torch::equal(twist::finish_view(x, v, d, norm), fused));
      EXPECT_TRUE(torch::equal(x, before));
      auto own = x.clone();
      const float* storage = own.data_ptr<float>();
      const auto done = twist::finish_view(std::move(own), v, d, norm);
      EXPECT_TRUE(torch::equal(done, fused));
      EXPECT_EQ(done.data_ptr<float>(), storage);
    }
  }
}

TEST(Augment, GrayscaleOfGreyIsIdentity) {
  auto grey = random_images(2, 1, 4, 4, 5).repeat({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(twist::rgb_to_grayscale(grey), grey.narrow(1, 0, 1), 1e-6, 1e-6));
}

TEST(Augment, BlurKeepsConstantsAndSkipsZeroSigma) {
  auto c = torch::full({2, 1, 9, 9}, 0.3f);
  EXPECT_TRUE(torch::allclose(twist::gaussian_blur(c, torch::tensor({1.0f, 2.0f})), c, 1e-6, 1e-6));
  auto x = random_images(2, 1, 9, 9, 6);
  auto y = twist::gaussian_blur(x, torch::tensor({0.0f, 1.5f}));
  EXPECT_TRUE(torch::allclose(y[0], x[0], 1e-6, 1e-6));                   // sigma 0: untouched
  EXPECT_LT(y[1].std().item<double>(), x[1].std().item<double>() * 0.7);  // smoothed
}

TEST(Augment, ViewsHaveShapesAndAreSeeded) {
  auto u8 = (random_images(6, 1, 28, 28, 7) * 255).to(torch::kUInt8);
  auto crops = twist::MultiCropOptions::paper(28, 2, 14);
  auto norm = unit(1);
  auto g1 = twist::make_generator(42, 9), g2 = twist::make_generator(42, 9), g3 = twist::make_generator(43, 9);
  auto a = twist::augment_views(u8, crops, norm, g1);
  auto b = twist::augment_views(u8, crops, norm, g2);
  auto c = twist::augment_views(u8, crops, norm, g3);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].sizes(), (std::vector<int64_t>{6, 1, 28, 28}));
  EXPECT_EQ(a[3].sizes(), (std::vector<int64_t>{6, 1, 14, 14}));
  for (size_t v = 0; v < a.size(); ++v) {
    EXPECT_TRUE(torch::equal(a[v], b[v])) << "view " << v;
    EXPECT_FALSE(torch::equal(a[v], c[v])) << "view " << v;
    // with identity normalisation the views stay within [0, 1]
    EXPECT_GE(a[v].min().item<double>(), 0.0);
    EXPECT_LE(a[v].max().item<double>(), 1.0);
  }
  EXPECT_FALSE(torch::equal(a[0], a[1]));  // the two global views differ
}

TEST(Augment, NormalizeUsesStatistics) {
  auto x = torch::full({1, 1, 2, 2}, 0.5f);
  auto y = twist::normalize(x, {{0.25}, {0.5}});
  EXPECT_TRUE(torch::allclose(y, torch::full_like(x, 0.5f), 1e-6, 1e-6));
  EXPECT_THROW(twist::normalize(x, unit(3)), std::exception);
}

// With a decoder that always decodes at full size, the deferred path draws
// exactly the boxes (and every other random number) of augment_views on
// decoded images: the views are equal, so the box distribution is
// torchvision's RandomResizedCrop's as before. The scale asked for is the
// smallest at which each view's box spans its output size.
TEST(JpegScaled, DeferredDecodingDrawsTheSameBoxes) {
  auto gen = twist::make_generator(7, 0);
  std::vector<torch::Tensor> images;
  for (int i = 0; i < 5; ++i) images.push_back(torch::randint(256, {3, 40 + 9 * i, 70 - 6 * i}, gen).to(torch::kUInt8));
  auto heights = torch::empty({5}, torch::kInt64), widths = torch::empty({5}, torch::kInt64);
  for (int64_t i = 0; i < 5; ++i) {
    heights[i] = images[size_t(i)].size(1);
    widths[i] = images[size_t(i)].size(2);
  }
  const auto crops = twist::MultiCropOptions::paper(16, 2, 8);
  const twist::Normalization norm{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
  std::vector<double> asked;
  std::vector<twist::ImageRegion> regions;
  auto decode = [&](int64_t i, double min_scale, const twist::ImageRegion& needed) {
    asked.push_back(min_scale);
    regions.push_back(needed);
    return twist::ScaledImage{images[size_t(i)], 1.0, 1.0};
  };
  auto g1 = twist::make_generator(3, 1), g2 = twist::make_generator(3, 1), g3 = twist::make_generator(3, 1);
  const auto want = twist::augment_views(images, crops, norm, g1);
  const auto got = twist::augment_views(heights, widths, decode, crops, norm, g2);
  ASSERT_EQ(got.size(), want.size());
  for (size_t v = 0; v < want.size(); ++v) EXPECT_TRUE(torch::equal(got[v], want[v])) << v;
  // The boxes of the first (global) view, drawn first from the same stream.
  const auto& g = crops.views[0];
  const auto boxes = twist::random_crop_boxes(heights, widths, g.scale_min, g.scale_max, g.ratio_min, g.ratio_max, g3);
  ASSERT_EQ(asked.size(), 5u);
  for (int64_t i = 0; i < 5; ++i) {
    const double side = std::min(boxes[i][2].item<double>(), boxes[i][3].item<double>());
    EXPECT_GE(asked[size_t(i)], 16.0 / side - 1e-9) << i;  // at least what the first view needs
    // The region asked for holds the first view's box.
    const twist::ImageRegion& r = regions[size_t(i)];
    EXPECT_LE(r.top, boxes[i][0].item<double>()) << i;
    EXPECT_LE(r.left, boxes[i][1].item<double>()) << i;
    EXPECT_GE(r.top + r.height, (boxes[i][0] + boxes[i][2]).item<double>()) << i;
    EXPECT_GE(r.left + r.width, (boxes[i][1] + boxes[i][3]).item<double>()) << i;
  }
}

}  // namespace
