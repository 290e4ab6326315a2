// budget_covers "all": the work a run does after its last step, counted from
// the sets' sizes, and the rates it is timed at, measured without changing
// the model or the run's random numbers.
#include <gtest/gtest.h>

#include <cmath>

#include "../src/train/eval_cost.h"
#include "twist/cluster_readout.h"
#include "twist/config.h"
#include "twist/data.h"

namespace {

// A labelled set of n file names (never decoded here): only its size counts.
twist::Dataset named_files(int64_t n, int64_t side) {
  twist::Dataset d;
  d.files.assign(size_t(n), "x.png");
  d.file_side = side;
  d.labels = torch::zeros({n}, torch::kInt64);
  d.num_classes = 10;
  return d;
}

// 60,000 training and 10,000 held-out images, one process: the read-out
// embeds 10,000 training images, compares each with each and runs 50 k-means
// fits on them; the evaluation embeds both sets, compares every pair twice
// (plain and whitened kNN) and fits k-means 5 times on the held-out images;
// the pixel baselines stream both sets twice and compare every pair twice;
// the report embeds 10,000 held-out images.
TEST(EvalCost, CountsTheWorkAfterTheLastStep) {
  const twist::Dataset train = named_files(60000, 32), eval = named_files(10000, 32);
  twist::TrainConfig c;
  const twist::EvalWork w = twist::after_training_work(c, train, eval, 32, /*evaluated=*/true, 1);
  EXPECT_DOUBLE_EQ(w.embedded, 10000 + 70000 + 10000);
  EXPECT_DOUBLE_EQ(w.feature_pairs, 1e8 + 2 * 6e8);
  EXPECT_DOUBLE_EQ(w.kmeans_rows, 10000.0 * twist::kReadoutKmeansFits + 10000 * 5);
  EXPECT_DOUBLE_EQ(w.pixel_rows, 2 * 70000);
  EXPECT_DOUBLE_EQ(w.pixel_pairs, 2 * 6e8);
  // Without the report, the read-out (mode head) or the evaluation, their parts go.
  c.report = false;
  c.cluster_readout = "head";
  const twist::EvalWork bare = twist::after_training_work(c, train, eval, 32, true, 1);
  EXPECT_DOUBLE_EQ(bare.embedded, 70000);
  EXPECT_DOUBLE_EQ(bare.kmeans_rows, 50000);
  const twist::EvalWork none = twist::after_training_work(c, train, eval, 32, /*evaluated=*/false, 1);
  EXPECT_DOUBLE_EQ(none.embedded + none.pixel_rows + none.feature_pairs + none.kmeans_rows, 0);
  // Four ranks share the embedding; pixel sets above the in-memory rule get no baselines.
  c.report = true;
  const twist::EvalWork shared = twist::after_training_work(c, train, eval, 32, true, 4);
  EXPECT_DOUBLE_EQ(shared.embedded, 70000.0 / 4 + 10000);
  twist::set_in_memory_limit_bytes(1000);
  const twist::EvalWork large = twist::after_training_work(c, train, eval, 32, true, 1);
  twist::set_in_memory_limit_bytes(0);
  EXPECT_DOUBLE_EQ(large.pixel_rows + large.pixel_pairs, 0);
}

TEST(EvalCost, SecondsAreTheRatesTimesTheWorkWithAMargin) {
  const twist::EvalRates r{1e-3, 1e-4, 1e-9, 1e-10, 1e-6};
  const twist::EvalWork w{1000, 2000, 1e9, 1e10, 1e6};
  EXPECT_NEAR(twist::eval_seconds(r, w), twist::kEvalCostMargin * (1 + 0.2 + 1 + 1 + 1), 1e-12);
  EXPECT_GT(twist::kEvalCostMargin, 1.0);
}

// The rates are positive and finite, and measuring them leaves the model's
// mode, its BatchNorm statistics and the global random generator as they were.
TEST(EvalCost, MeasuringTheRatesChangesNothing) {
  torch::manual_seed(3);
  twist::TwistModelOptions o;
  o.backbone.width = 0.125;
  o.backbone.in_channels = 1;
  o.head.hidden = 16;
  o.head.classes = 3;
  twist::TwistModel model(o);
  model->train();
  twist::Dataset sample;
  sample.images = torch::randint(256, {64, 1, 16, 16}, torch::kUInt8);
  sample.labels = torch::zeros({64}, torch::kInt64);
  sample.num_classes = 3;
  std::vector<torch::Tensor> before;
  for (const auto& b : model->buffers()) before.push_back(b.clone());
  torch::manual_seed(9);
  const twist::EvalRates r = twist::measure_eval_rates(model, sample, 16, {{0.5}, {0.25}}, 3, {});
  const auto next = torch::rand({4});
  torch::manual_seed(9);
  EXPECT_TRUE(torch::equal(next, torch::rand({4})));
  EXPECT_TRUE(model->is_training());
  const auto after = model->buffers();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(torch::equal(after[i], before[i])) << i;
  for (double v : {r.embed, r.pixels, r.pair_pixels, r.pair_features, r.kmeans_row})
    EXPECT_TRUE(std::isfinite(v) && v > 0) << v;
}

}  // namespace
