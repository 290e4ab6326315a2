// The feature-spread penalty ln(d * ||C||_F^2 / tr(C)^2) against covariances
// whose eigenvalues are known.
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"
#include "twist/config.h"
#include "twist/feature_spread.h"

namespace {

using twist::feature_spread_penalty;

// Rows +e_i and -e_i for every i: mean 0, covariance a multiple of I.
torch::Tensor plus_minus_axes(int64_t d) {
  auto eye = torch::eye(d);
  return torch::cat({eye, -eye});
}

TEST(FeatureSpread, IsotropicFeaturesCostNothing) {
  EXPECT_NEAR(feature_spread_penalty(plus_minus_axes(8)).item<double>(), 0.0, 1e-6);
}

TEST(FeatureSpread, OneDirectionCostsLnD) {
  auto f = torch::zeros({6, 5});
  f.select(1, 2).copy_(torch::tensor({1.0f, -2.0f, 0.5f, 3.0f, 0.0f, -1.0f}));
  EXPECT_NEAR(feature_spread_penalty(f).item<double>(), std::log(5.0), 1e-5);
}

// Variances 1 and 3 on uncorrelated axes: 2 * (1 + 9) / 16 = 1.25, whatever
// the scale and whatever rotation the axes are seen in.
TEST(FeatureSpread, KnownSpectrumScaleAndRotation) {
  auto f = plus_minus_axes(2) * torch::tensor({1.0f, std::sqrt(3.0f)});
  EXPECT_NEAR(feature_spread_penalty(f).item<double>(), std::log(1.25), 1e-5);
  EXPECT_NEAR(feature_spread_penalty(f * 7 + 2).item<double>(), std::log(1.25), 1e-5);
  const float c = std::cos(0.6f), s = std::sin(0.6f);
  const auto rotation = torch::tensor({c, -s, s, c}).view({2, 2});
  EXPECT_NEAR(feature_spread_penalty(f.mm(rotation)).item<double>(), std::log(1.25), 1e-5);
}

// Its gradient spreads the variance: a small step against it lowers it,
// and bfloat16 features are read in float32.
TEST(FeatureSpread, GradientSpreadsTheVariance) {
  torch::manual_seed(0);
  auto f = (torch::randn({64, 16}) * torch::linspace(0.1, 3.0, 16)).requires_grad_(true);
  auto before = feature_spread_penalty(f);
  before.backward();
  const auto stepped = (f - 0.05 * f.grad() / f.grad().norm()).detach();
  EXPECT_LT(feature_spread_penalty(stepped).item<double>(), before.item<double>());
  EXPECT_NEAR(feature_spread_penalty(f.detach().to(torch::kBFloat16)).item<double>(), before.item<double>(), 0.02);
}

TEST(FeatureSpread, OneRowIsAnError) {
  const auto error = twist::testing::error_of([] { feature_spread_penalty(torch::ones({1, 4})); });
  EXPECT_NE(error.find("N >= 2"), std::string::npos) << error;
}

// A run saved before spread_weight existed trained without the term: its
// settings read back with weight 0, whatever today's default.
TEST(FeatureSpread, ASavedRunThatPredatesTheKeyTrainsWithoutIt) {
  using twist::config_from_json;
  using twist::saved_run_base;
  EXPECT_EQ(config_from_json("{\"lr\": 1.0}", "old run", saved_run_base()).spread_weight, 0.0);
  EXPECT_EQ(config_from_json("{\"spread_weight\": 0.5}", "new run", saved_run_base()).spread_weight, 0.5);
  EXPECT_EQ(config_from_json("{}", "a recipe").spread_weight, twist::TrainConfig{}.spread_weight);
}

}  // namespace
