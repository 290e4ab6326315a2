// The rotation check behind --rotation -1 (auto): known answers on bars
// that all stand upright (no turns), bars that lean every way (turns), bars
// that lean a little (smaller turns, and slants), and round blobs, which
// have no axis to keep upright (turns). --shear -1 follows the same check.
#include <gtest/gtest.h>

#include "test_util.h"
#include "twist/config.h"
#include "twist/rotation_check.h"
#include "twist/train.h"

namespace {

// n 1 x 24 x 24 bars on a grey background of 40 (elongated Gaussians about
// the centre: `along` pixels along, 1.2 across), bar i leaning `lean[i]`
// degrees from upright and shifted `shift[i]` pixels across itself.
torch::Tensor leaning_bars(const torch::Tensor& lean, const torch::Tensor& shift, double along = 4.0) {
  const torch::Tensor pos = torch::arange(24, torch::kFloat32) - 11.5;
  const torch::Tensor y = pos.view({1, 24, 1}), x = pos.view({1, 1, 24});
  const torch::Tensor rad = (lean.to(torch::kFloat32) * (M_PI / 180.0)).view({-1, 1, 1});
  const torch::Tensor dx = rad.sin(), dy = rad.cos();
  const torch::Tensor a = x * dx + y * dy, b = x * dy - y * dx + shift.to(torch::kFloat32).view({-1, 1, 1});
  const torch::Tensor bar = torch::exp(-a.square() / (2 * along * along) - b.square() / 2.88);
  return (40.0 + 200.0 * bar).unsqueeze(1).round().to(torch::kUInt8);
}

TEST(RotationCheck, UprightBarsStayUpright) {
  const twist::RotationCheck r = twist::rotation_check(leaning_bars(torch::zeros({64}), torch::linspace(-3, 3, 64)));
  EXPECT_EQ(r.images, 64);
  EXPECT_EQ(r.elongated, 64);
  EXPECT_LT(r.lean, 1.0);
  EXPECT_FALSE(r.rotations_suit());
  EXPECT_EQ(twist::auto_rotation(r), 0.0);
  EXPECT_EQ(twist::auto_shear(r), 0.0);
  // Lying bars (90 degrees) stand on the frame's other axis: upright too.
  EXPECT_LT(twist::rotation_check(leaning_bars(torch::full({64}, 90.0), torch::zeros({64}))).lean, 1.0);
}

TEST(RotationCheck, BarsLeaningEveryWaySuitTurns) {
  torch::Generator gen = at::detail::createCPUGenerator(2);
  const torch::Tensor lean = torch::rand({200}, gen) * 60 - 30;
  const twist::RotationCheck r = twist::rotation_check(leaning_bars(lean, torch::zeros({200})));
  EXPECT_EQ(r.elongated, 200);
  EXPECT_NEAR(r.lean, 15.0, 3.0);  // the median of |uniform(-30, 30)|
  EXPECT_TRUE(r.rotations_suit());
  EXPECT_EQ(twist::auto_rotation(r), twist::kAutoRotationDegrees);  // 1.5 x 15, capped
  EXPECT_EQ(twist::auto_shear(r), 0.0);                             // they lean every way already
}

TEST(RotationCheck, SlightlySlantedBarsAreTurnedLess) {
  torch::Generator gen = at::detail::createCPUGenerator(3);
  const torch::Tensor lean = torch::rand({200}, gen) * 20 - 10;
  const twist::RotationCheck r = twist::rotation_check(leaning_bars(lean, torch::zeros({200})));
  EXPECT_NEAR(r.lean, 5.0, 1.5);  // the median of |uniform(-10, 10)|
  EXPECT_TRUE(r.rotations_suit());
  EXPECT_EQ(twist::auto_rotation(r), std::round(1.5 * r.lean));
  EXPECT_LT(twist::auto_rotation(r), twist::kAutoRotationDegrees);
  EXPECT_EQ(twist::auto_shear(r), twist::kAutoShearDegrees);  // a slight lean, as handwriting's
}

TEST(RotationCheck, RoundBlobsHaveNoAxisToKeep) {
  const twist::RotationCheck r =
      twist::rotation_check(leaning_bars(torch::zeros({64}), torch::linspace(-3, 3, 64), /*along=*/1.2));
  EXPECT_EQ(r.elongated, 0);
  EXPECT_TRUE(r.rotations_suit());
  EXPECT_EQ(twist::auto_rotation(r), twist::kAutoRotationDegrees);  // no lean to scale
  EXPECT_EQ(twist::auto_shear(r), 0.0);                             // nor to slant
  EXPECT_NE(twist::testing::error_of([] {
              twist::rotation_check(torch::zeros({1, 8, 8}));
            }).find("rotation check"),
            std::string::npos);
}

TEST(RotationCheck, ResolveRotationAndShearSetOnlyAuto) {
  const torch::Tensor upright = leaning_bars(torch::zeros({64}), torch::linspace(-3, 3, 64));
  const torch::Tensor leaning = leaning_bars(torch::linspace(-15, 15, 64), torch::zeros({64}));
  twist::TrainConfig c;
  EXPECT_EQ(c.rotation, -1);  // the defaults are auto
  EXPECT_EQ(c.shear, -1);
  twist::resolve_rotation_and_shear(c, upright, /*say=*/false);
  EXPECT_EQ(c.rotation, 0.0);
  EXPECT_EQ(c.shear, 0.0);
  c.rotation = 15;
  c.shear = -1;
  twist::resolve_rotation_and_shear(c, leaning, false);
  EXPECT_EQ(c.rotation, 15);  // as given
  EXPECT_EQ(c.shear, twist::kAutoShearDegrees);
  c.rotation = -1;
  c.shear = 5;
  twist::resolve_rotation_and_shear(c, upright, false);
  EXPECT_EQ(c.rotation, 0.0);
  EXPECT_EQ(c.shear, 5);  // as given
  c.rotation = -1;
  c.shear = -1;
  EXPECT_EQ(twist::testing::error_of([&] { twist::validate(c); }), "(no error)");
  // A run saved before the keys turned and slanted no view; one saved since names its angles.
  const auto old_run = twist::config_from_json("{\"lr\": 1.0}", "old run", twist::saved_run_base());
  EXPECT_EQ(old_run.rotation, 0.0);
  EXPECT_EQ(old_run.shear, 0.0);
  EXPECT_EQ(twist::config_from_json("{\"rotation\": 20}", "new run", twist::saved_run_base()).rotation, 20.0);
  EXPECT_EQ(twist::config_from_json("{\"shear\": 15}", "new run", twist::saved_run_base()).shear, 15.0);
}

}  // namespace
