// Read-outs of a learned model: mapped top-k, the diagnostics of the
// paper's figures, the linear probe and fine-tuning (hand values and
// separable data with known answers).
#include <gtest/gtest.h>

#include "../src/eval/probe_inputs.h"
#include "twist/eval.h"
#include "twist/models.h"
#include "twist/probe.h"

namespace {

using namespace twist;

TEST(MappedTopk, HandCase) {
  // Clusters 0->class 2, 1->class 0, 2 unmatched, 3 beyond the mapping.
  auto logits = torch::tensor({3., 2., 1., 0., 0., 1., 2., 3., 1., 3., 2., 0.}).view({3, 4});
  auto labels = torch::tensor({2, 0, 0}, torch::kInt64);
  const std::vector<int64_t> mapping = {2, 0, -1};
  // Sample 0: top cluster 0 -> 2, right. Sample 1: clusters by rank 3, 2, 1:
  // only the third maps to its class 0. Sample 2: top cluster 1 -> 0, right.
  EXPECT_DOUBLE_EQ(mapped_topk_accuracy(logits, labels, mapping, 1), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(mapped_topk_accuracy(logits, labels, mapping, 2), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(mapped_topk_accuracy(logits, labels, mapping, 3), 1.0);
  EXPECT_DOUBLE_EQ(mapped_topk_accuracy(logits, labels, mapping, 10), 1.0);  // k capped at C
}

TEST(SimilarityHistograms, HandCase) {
  // a=(1,0), b=(1,0) class 0; c=(0,1), d=(-1,0) class 1.
  auto f = torch::tensor({1., 0., 1., 0., 0., 1., -1., 0.}).view({4, 2});
  auto l = torch::tensor({0, 0, 1, 1}, torch::kInt64);
  // Same-class pairs: cos(a,b)=1, cos(c,d)=0. Different: (a,c)=0, (a,d)=-1,
  // (b,c)=0, (b,d)=-1. Two bins [-1,0) and [0,1].
  auto h = similarity_histograms(f, l, 2);
  EXPECT_EQ(h.same_pairs, 2);
  EXPECT_EQ(h.different_pairs, 4);
  ASSERT_EQ(h.edges, (std::vector<double>{-1, 0, 1}));
  EXPECT_EQ(h.same, (std::vector<double>{0.0, 1.0}));
  EXPECT_EQ(h.different, (std::vector<double>{0.5, 0.5}));
  EXPECT_DOUBLE_EQ(h.overlap, 0.5);
  EXPECT_DOUBLE_EQ(h.same_mean, 0.5);
  EXPECT_DOUBLE_EQ(h.different_mean, -0.5);
}

TEST(SimilarityHistograms, SeparableFeaturesDoNotOverlap) {
  auto l = torch::arange(40, torch::kInt64).remainder(2);
  auto f = torch::stack({l.eq(0).to(torch::kFloat32), l.eq(1).to(torch::kFloat32)}, 1);
  auto h = similarity_histograms(f, l, 10);
  EXPECT_DOUBLE_EQ(h.overlap, 0.0);
  EXPECT_DOUBLE_EQ(h.same_mean, 1.0);
  EXPECT_DOUBLE_EQ(h.different_mean, 0.0);
}

TEST(OutputSpread, HandCase) {
  // Rows [0,2] and [4,4]: std 1 and 0. Columns [0,4] and [2,4]: std 2 and 1.
  auto s = output_spread(torch::tensor({0., 2., 4., 4.}).view({2, 2}));
  EXPECT_DOUBLE_EQ(s.row_std, 0.5);
  EXPECT_DOUBLE_EQ(s.col_std, 1.5);
}

// Summed batch by batch (batches of 7, one empty), the spread equals the
// whole matrix's; the histograms of similarity_sample's rows equal those of
// the whole set sampled inside similarity_histograms.
TEST(OutputSpread, SummedByBatchEqualsTheWhole) {
  torch::manual_seed(8);
  const auto logits = torch::randn({40, 5}) * 3 + torch::arange(5).to(torch::kFloat32);
  twist::OutputSpreadSum sum;
  for (int64_t i = 0; i < 40; i += 7) sum.add(logits.narrow(0, i, std::min<int64_t>(7, 40 - i)));
  sum.add(logits.narrow(0, 0, 0));
  const auto whole = output_spread(logits), summed = sum.result();
  EXPECT_NEAR(summed.row_std, whole.row_std, 1e-12);
  EXPECT_NEAR(summed.col_std, whole.col_std, 1e-9);
  EXPECT_THROW(twist::OutputSpreadSum().result(), twist::Error);
  EXPECT_THROW(sum.add(torch::zeros({2, 4})), twist::Error);

  const auto features = torch::randn({300, 6});
  const auto labels = torch::arange(300, torch::kInt64).remainder(4);
  const auto pick = twist::similarity_sample(300, 120, 0);
  ASSERT_EQ(pick.numel(), 120);
  const auto a = twist::similarity_histograms(features, labels, 20, 120, 0);
  const auto b = twist::similarity_histograms(features.index_select(0, pick), labels.index_select(0, pick), 20, 120, 0);
  EXPECT_EQ(a.same, b.same);
  EXPECT_EQ(a.different, b.different);
  EXPECT_EQ(a.same_pairs, b.same_pairs);
  EXPECT_TRUE(twist::similarity_sample(50, 120, 0).equal(torch::arange(50)));
}

// Three well separated Gaussian blobs in 8 dimensions.
std::pair<torch::Tensor, torch::Tensor> blobs(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto y = torch::arange(n, torch::kInt64).remainder(3);
  auto centres = torch::eye(8).narrow(0, 0, 3) * 6.0;
  auto x = centres.index_select(0, y) + torch::randn({n, 8});
  return {x, y};
}

// Features in banks spilled to disk (a folder's, streamed) train the probe
// to the figures of the same rows in memory.
TEST(LinearProbe, SpilledBanksGiveTheInMemoryFigures) {
  auto [xs, ys] = blobs(300, 3);
  auto [xt, yt] = blobs(150, 4);
  xt = xt + torch::randn({150, 8}) * 2;  // not perfectly separable: the figures say something
  twist::FeatureBank bs(0), bt(0);
  bs.append(xs);
  bt.append(xt);
  ASSERT_TRUE(bs.spilled() && bt.spilled());
  ClassifierOptions o;
  o.epochs = 4;
  o.batch_size = 32;
  o.progress = false;
  const auto whole = train_linear_on_features(xs, ys, xt, yt, 3, o),
             banked = train_linear_on_features(bs, ys, bt, yt, 3, o);
  ASSERT_EQ(banked.history.size(), 4u);
  for (size_t e = 0; e < 4; ++e) {
    EXPECT_DOUBLE_EQ(banked.history[e].loss, whole.history[e].loss) << e;
    EXPECT_DOUBLE_EQ(banked.history[e].top1, whole.history[e].top1) << e;
  }
  EXPECT_GT(whole.top1, 0.5);
  EXPECT_LT(whole.top1, 1.0);
}

TEST(LinearProbe, SeparableFeaturesAreClassifiedPerfectly) {
  auto [xs, ys] = blobs(300, 1);
  auto [xt, yt] = blobs(150, 2);
  ClassifierOptions o;
  o.epochs = 20;
  o.batch_size = 64;
  o.progress = false;
  auto r = train_linear_on_features(xs, ys, xt, yt, 3, o);
  EXPECT_EQ(r.history.size(), 20u);
  EXPECT_DOUBLE_EQ(r.top1, 1.0);
  EXPECT_DOUBLE_EQ(r.top5, 1.0);  // fewer than 5 classes
  EXPECT_GE(r.best_top1, r.top1);
  EXPECT_LT(r.history.back().loss, r.history.front().loss);
}

TEST(LinearProbe, LabelsWithoutSignalStayNearChance) {
  auto [xs, ys] = blobs(300, 1);
  auto [xt, yt] = blobs(300, 2);
  torch::manual_seed(3);
  auto shuffled = ys.index_select(0, torch::randperm(300));
  auto shuffled_t = yt.index_select(0, torch::randperm(300));
  ClassifierOptions o;
  o.epochs = 10;
  o.progress = false;
  auto r = train_linear_on_features(xs, shuffled, xt, shuffled_t, 3, o);
  EXPECT_LT(r.top1, 0.5);  // chance is 1/3
}

// Dark images are class 0, bright ones class 1: any backbone separates them.
Dataset brightness_dataset(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  Dataset d;
  d.name = "brightness";
  d.labels = torch::arange(n, torch::kInt64).remainder(2);
  auto base = d.labels.to(torch::kFloat32).mul(180.0).view({n, 1, 1, 1});
  d.images = (base + torch::rand({n, 1, 16, 16}) * 70.0).to(torch::kUInt8);
  d.num_classes = 2;
  return d;
}

ResNet tiny_backbone() {
  ResNetOptions o;
  o.width = 0.125;
  o.in_channels = 1;
  torch::manual_seed(0);
  return ResNet(o);
}

TEST(Classifier, LinearProbeKeepsTheBackboneFrozen) {
  auto train = brightness_dataset(64, 1), test = brightness_dataset(32, 2);
  Normalization norm = channel_statistics(train);
  ResNet backbone = tiny_backbone();
  auto before = backbone->parameters()[0].clone();
  auto running_before = backbone->bn1->running_mean.clone();
  ClassifierOptions o;
  o.epochs = 5;
  o.batch_size = 16;
  o.progress = false;
  auto r = train_classifier(backbone, train, test, 16, norm, 2, o);
  EXPECT_GE(r.top1, 0.95);
  EXPECT_TRUE(torch::equal(before, backbone->parameters()[0]));
  EXPECT_TRUE(torch::equal(running_before, backbone->bn1->running_mean));  // eval mode throughout
}

TEST(Classifier, FineTuningTrainsTheBackbone) {
  auto train = brightness_dataset(64, 1), test = brightness_dataset(32, 2);
  Normalization norm = channel_statistics(train);
  ResNet backbone = tiny_backbone();
  auto before = backbone->parameters()[0].clone();
  ClassifierOptions o;
  o.epochs = 5;
  o.batch_size = 16;
  o.backbone_lr = 0.01;
  o.progress = false;
  auto r = train_classifier(backbone, train, test, 16, norm, 2, o);
  EXPECT_GE(r.top1, 0.95);
  EXPECT_FALSE(torch::equal(before, backbone->parameters()[0]));
}

// An odd batch (27) with two threads: the oneDNN abort the
// classifier works around (it crashed before the workaround).
TEST(Classifier, FineTuningSurvivesOddBatchesOnTwoThreads) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  auto train = brightness_dataset(27, 1), test = brightness_dataset(9, 2);
  Normalization norm = channel_statistics(train);
  ClassifierOptions o;
  o.epochs = 2;
  o.batch_size = 32;
  o.backbone_lr = 0.01;
  o.progress = false;
  auto r = train_classifier(tiny_backbone(), train, test, 16, norm, 2, o);
  at::set_num_threads(threads);
  EXPECT_EQ(r.history.size(), 2u);
}

TEST(Classifier, RejectsImpossibleSettings) {
  auto train = brightness_dataset(8, 1), test = brightness_dataset(8, 2);
  Normalization norm = channel_statistics(train);
  ClassifierOptions o;
  o.epochs = 0;
  EXPECT_THROW(train_classifier(tiny_backbone(), train, test, 16, norm, 2, o), std::exception);
  o.epochs = 1;
  o.lr = -1;
  EXPECT_THROW(train_classifier(tiny_backbone(), train, test, 16, norm, 2, o), std::exception);
}

// The probe's standardization from sums added batch by batch: the whole
// matrix's mean and spread.
TEST(Classifier, StandardizationFromRunningSumsEqualsTheWholeMatrix) {
  torch::manual_seed(6);
  auto x = torch::randn({103, 5}) * torch::tensor({1.0, 10.0, 0.1, 3.0, 1e-8}) + 4.0;
  twist::FeatureMoments m;
  for (int64_t i = 0; i < 103; i += 10) m.add(x.narrow(0, i, std::min<int64_t>(10, 103 - i)));
  EXPECT_EQ(m.rows, 103);
  const auto xd = x.to(torch::kFloat64);
  const auto mean = xd.mean(0), var = (xd - mean).pow(2).mean(0);
  EXPECT_TRUE(torch::allclose(m.mean(), mean, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(m.variance(), var, 1e-9, 1e-12));
  const auto per_dim = twist::Standardize::per_dimension(m)(x);
  EXPECT_TRUE(torch::allclose(per_dim.narrow(1, 0, 4).std(0, false), torch::ones({4}), 1e-4, 1e-4));
  EXPECT_LT(per_dim.mean(0).abs().max().item<double>(), 1e-3);
  // A constant dimension keeps its small scale under the overall map.
  const auto overall = twist::Standardize::overall(m)(x);
  EXPECT_NEAR(overall.pow(2).mean().item<double>(), 1.0, 1e-3);
  EXPECT_LT(overall.select(1, 4).abs().max().item<double>(), 1e-6);
  EXPECT_THROW(twist::FeatureMoments().mean(), std::exception);
}

}  // namespace
