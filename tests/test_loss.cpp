#include <gtest/gtest.h>

#include <cmath>

#include "twist/collapse.h"
#include "twist/loss.h"

namespace {

using twist::TwistLossOptions;

// Logits whose softmax is exactly p: log(p).
torch::Tensor logits_of(std::vector<std::vector<double>> rows) {
  std::vector<torch::Tensor> t;
  for (auto& r : rows) t.push_back(torch::tensor(r, torch::kFloat64));
  return torch::stack(t).log();
}

TwistLossOptions exact() {
  TwistLossOptions o;
  o.eps = 0.0;  // hand values below use the plain logarithm
  return o;
}

// p1 = [[.8,.2],[.2,.8]], p2 = [[.6,.4],[.4,.6]].
// KL(p1||p2) per row = .8 ln(.8/.6) + .2 ln(.2/.4) = .23014566 - .13862944 = .09151622
// KL(p2||p1) per row = .6 ln(.6/.8) + .4 ln(.4/.2) = -.17260924 + .27725887 = .10464963
// consistency = (.09151622 + .10464963) / 2 = .09808293
// H(p1 row) = .50040242, H(p2 row) = .67301167 -> sharpness = .58670704
// batch means are [.5,.5] for both -> diversity = ln 2 = .69314718
// total = .09808293 + .58670704 - .69314718 = -.00835721
TEST(TwistLoss, HandComputedTwoViews) {
  auto l1 = logits_of({{.8, .2}, {.2, .8}});
  auto l2 = logits_of({{.6, .4}, {.4, .6}});
  auto t = twist::twist_loss({l1, l2}, exact());
  EXPECT_NEAR(t.consistency.item<double>(), 0.09808293, 1e-7);
  EXPECT_NEAR(t.sharpness.item<double>(), 0.58670704, 1e-7);
  EXPECT_NEAR(t.diversity.item<double>(), 0.69314718, 1e-7);
  EXPECT_NEAR(t.total.item<double>(), -0.00835721, 1e-7);
}

// alpha and beta weight the terms: total = .09808293 + .4*.58670704 - 2*.69314718
TEST(TwistLoss, WeightsAlphaBeta) {
  auto o = exact();
  o.alpha = 0.4;
  o.beta = 2.0;
  auto t = twist::twist_loss({logits_of({{.8, .2}, {.2, .8}}), logits_of({{.6, .4}, {.4, .6}})}, o);
  EXPECT_NEAR(t.total.item<double>(), 0.09808293 + 0.4 * 0.58670704 - 2 * 0.69314718, 1e-7);
}

// The official code's form: the KL on softmax(z), the entropies on
// softmax(z / tau). Its consistency is the tau = 1 value above; its
// entropy terms are those of the all-terms form at the same tau.
TEST(TwistLoss, TemperatureOnTheEntropiesOnly) {
  auto l1 = logits_of({{.8, .2}, {.2, .8}});
  auto l2 = logits_of({{.6, .4}, {.4, .6}});
  auto o = exact();
  o.temperature = 0.5;
  const auto all = twist::twist_loss({l1, l2}, o);
  o.temperature_on_consistency = false;
  const auto ent = twist::twist_loss({l1, l2}, o);
  EXPECT_NEAR(ent.consistency.item<double>(), 0.09808293, 1e-7);
  EXPECT_GT(all.consistency.item<double>(), 0.2);  // sharper twins disagree more
  EXPECT_NEAR(ent.sharpness.item<double>(), all.sharpness.item<double>(), 1e-7);
  EXPECT_NEAR(ent.diversity.item<double>(), all.diversity.item<double>(), 1e-7);
  EXPECT_NEAR(ent.total.item<double>(), 0.09808293 + ent.sharpness.item<double>() - ent.diversity.item<double>(), 1e-7);
  // Multi-crop and the teacher's loss take the same option.
  auto l3 = logits_of({{.7, .3}, {.3, .7}});
  const auto multi = twist::twist_loss({l1, l2, l3}, o);
  o.temperature = 1.0;
  const auto multi_tau1 = twist::twist_loss({l1, l2, l3}, o);
  EXPECT_NEAR(multi.consistency.item<double>(), multi_tau1.consistency.item<double>(), 1e-7);
  o.temperature = 0.5;
  const auto teacher = twist::twist_teacher_loss({l1}, {l1, l2}, o);
  o.temperature = 1.0;
  EXPECT_NEAR(teacher.consistency.item<double>(),
              twist::twist_teacher_loss({l1}, {l1, l2}, o).consistency.item<double>(), 1e-7);
}

TEST(TwistLoss, EpsilonMattersOnlySlightly) {
  auto l1 = logits_of({{.8, .2}, {.2, .8}});
  auto l2 = logits_of({{.6, .4}, {.4, .6}});
  const double a = twist::twist_loss({l1, l2}, exact()).total.item<double>();
  const double b = twist::twist_loss({l1, l2}).total.item<double>();  // eps = 1e-5
  EXPECT_NE(a, b);
  EXPECT_NEAR(a, b, 1e-4);
}

TEST(TwistLoss, SymmetricInTheTwoViews) {
  torch::manual_seed(1);
  auto a = torch::randn({8, 5}, torch::kFloat64), b = torch::randn({8, 5}, torch::kFloat64);
  auto ab = twist::twist_loss({a, b}), ba = twist::twist_loss({b, a});
  EXPECT_NEAR(ab.total.item<double>(), ba.total.item<double>(), 1e-12);
  EXPECT_NEAR(ab.consistency.item<double>(), ba.consistency.item<double>(), 1e-12);
}

// Sharp, balanced, consistent predictions reach the bound -log C.
TEST(TwistLoss, LowerBoundReachedBySharpBalancedConsistent) {
  const int64_t C = 4;
  auto labels = torch::arange(8) % C;  // two samples per class
  auto logits = torch::one_hot(labels, C).to(torch::kFloat64) * 60.0;
  auto t = twist::twist_loss({logits, logits}, exact());
  EXPECT_NEAR(t.total.item<double>(), -std::log(double(C)), 1e-9);
  EXPECT_NEAR(t.consistency.item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(t.sharpness.item<double>(), 0.0, 1e-9);
}

// Uniform predictions: no disagreement, entropy log C each: total 0.
TEST(TwistLoss, UniformPredictions) {
  auto z = torch::zeros({6, 3}, torch::kFloat64);
  auto t = twist::twist_loss({z, z}, exact());
  EXPECT_NEAR(t.consistency.item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(t.sharpness.item<double>(), std::log(3.0), 1e-12);
  EXPECT_NEAR(t.diversity.item<double>(), std::log(3.0), 1e-12);
  EXPECT_NEAR(t.total.item<double>(), 0.0, 1e-12);
}

// Collapse: every sample certain of the same class: all terms vanish, so the
// loss (0) sits log C above the bound: the diversity term is what forbids it.
TEST(TwistLoss, CollapsedPredictions) {
  auto logits = torch::zeros({6, 3}, torch::kFloat64);
  logits.select(1, 0).fill_(60.0);
  auto t = twist::twist_loss({logits, logits}, exact());
  EXPECT_NEAR(t.diversity.item<double>(), 0.0, 1e-9);
  EXPECT_NEAR(t.total.item<double>(), 0.0, 1e-9);
  EXPECT_GT(t.total.item<double>(), -std::log(3.0) + 1.0);
}

TEST(TwistLoss, TemperatureDividesLogits) {
  torch::manual_seed(2);
  auto a = torch::randn({5, 4}, torch::kFloat64), b = torch::randn({5, 4}, torch::kFloat64);
  auto o = exact();
  o.temperature = 0.5;
  EXPECT_NEAR(twist::twist_loss({a, b}, o).total.item<double>(),
              twist::twist_loss({a * 2.0, b * 2.0}, exact()).total.item<double>(), 1e-12);
}

TEST(TwistLoss, GradientMatchesFiniteDifferences) {
  torch::manual_seed(3);
  auto a = torch::randn({4, 3}, torch::kFloat64).requires_grad_(true);
  auto b = torch::randn({4, 3}, torch::kFloat64).requires_grad_(true);
  auto c = torch::randn({4, 3}, torch::kFloat64).requires_grad_(true);
  auto loss = twist::twist_loss({a, b, c}).total;
  auto grads = torch::autograd::grad({loss}, {a, b, c});
  const double h = 1e-6;
  std::vector<torch::Tensor> xs = {a, b, c};
  for (size_t v = 0; v < xs.size(); ++v) {
    for (int64_t i = 0; i < 12; ++i) {
      auto plus = std::vector<torch::Tensor>{a.detach().clone(), b.detach().clone(), c.detach().clone()};
      auto minus = std::vector<torch::Tensor>{a.detach().clone(), b.detach().clone(), c.detach().clone()};
      plus[v].view(-1)[i] += h;
      minus[v].view(-1)[i] -= h;
      const double numeric =
          (twist::twist_loss(plus).total.item<double>() - twist::twist_loss(minus).total.item<double>()) / (2 * h);
      EXPECT_NEAR(grads[v].view(-1)[i].item<double>(), numeric, 1e-6) << "view " << v << " entry " << i;
    }
  }
}

TEST(TwistLoss, MultiCropPairsAndAverage) {
  EXPECT_EQ(twist::twist_pair_count(2), 1);
  EXPECT_EQ(twist::twist_pair_count(4), 5);    // (0,1), (0,2), (0,3), (1,2), (1,3)
  EXPECT_EQ(twist::twist_pair_count(14), 25);  // 2 global + 12 local: 1 + 2*12
  torch::manual_seed(4);
  std::vector<torch::Tensor> v;
  for (int i = 0; i < 4; ++i) v.push_back(torch::randn({6, 5}, torch::kFloat64));
  auto p = [&](int i) { return torch::softmax(v[i], 1); };
  // No local-local pair (2,3): the mean of exactly these five pairs.
  double expected = 0;
  for (auto [i, j] : std::vector<std::pair<int, int>>{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}})
    expected += twist::twist_pair_loss(p(i), p(j)).total.item<double>();
  expected /= 5;
  EXPECT_NEAR(twist::twist_loss(v).total.item<double>(), expected, 1e-12);
}

// Each view's batch mean (an all-reduce in a distributed run) is taken once,
// not once for every pair the view is in: 8 views, 13 pairs, 8 means.
TEST(TwistLoss, OneBatchMeanPerView) {
  torch::manual_seed(5);
  std::vector<torch::Tensor> v;
  for (int i = 0; i < 8; ++i) v.push_back(torch::randn({6, 5}, torch::kFloat64));
  twist::TwistLossOptions o;
  int calls = 0;
  o.batch_mean = [&](const torch::Tensor& p) {
    ++calls;
    return p.mean(0, true);
  };
  const double counted = twist::twist_loss(v, o).total.item<double>();
  EXPECT_EQ(calls, 8);
  EXPECT_NEAR(counted, twist::twist_loss(v).total.item<double>(), 1e-12);
}

TEST(TwistLoss, RejectsBadInput) {
  auto a = torch::randn({4, 3});
  EXPECT_THROW(twist::twist_loss({a}), std::exception);
  EXPECT_THROW(twist::twist_loss({a, torch::randn({4, 2})}), std::exception);
}

}  // namespace

// --- collapse watch ----------------------------------------------------------

TEST(CollapseWatch, FiresOnceAfterPatienceWithTheLikelyCause) {
  twist::CollapseSettings s;
  s.classes = 10;
  s.batch = 256;
  s.beta = 0;
  twist::CollapseWatch w(s);
  EXPECT_NEAR(w.entropy_threshold(), std::log(5.0), 1e-12);
  // Healthy, then two low rows interrupted by a healthy one: no warning.
  EXPECT_EQ(w.observe(10, 10, 2.2), "");
  EXPECT_EQ(w.observe(20, 2, 0.5), "");
  EXPECT_EQ(w.observe(30, 5, 1.6), "");  // just below ln 5 = 1.609
  EXPECT_EQ(w.observe(40, 9, 1.7), "");
  EXPECT_EQ(w.observe(50, 1, 0.01), "");
  EXPECT_EQ(w.observe(60, 1, 0.0), "");
  const std::string m = w.observe(70, 1, 0.0);
  EXPECT_NE(m.find("collapsing onto few classes at step 70: 1 of 10 classes in use"), std::string::npos) << m;
  EXPECT_NE(m.find("as spread as 1.0 equally used classes"), std::string::npos) << m;
  EXPECT_NE(m.find("beta = 0"), std::string::npos) << m;
  EXPECT_TRUE(w.fired());
  EXPECT_EQ(w.observe(80, 1, 0.0), "");  // once
  EXPECT_TRUE(w.persisting());           // but the state is tracked on
  EXPECT_EQ(w.observe(90, 9, 2.0), "");
  EXPECT_FALSE(w.persisting());  // recovered
  EXPECT_EQ(w.observe(100, 1, 0.0), "");
  EXPECT_EQ(w.observe(110, 1, 0.0), "");
  EXPECT_FALSE(w.persisting());
  EXPECT_EQ(w.observe(120, 1, 0.0), "");
  EXPECT_TRUE(w.persisting());  // patience 3 again
}

// alpha = 0: each image's distribution drifts to uniform while the batch
// mean stays uniform too (bench/ablations.sh's "alpha 0" row logged 2.244
// nats of ln 10 = 2.303 from step 100).
TEST(CollapseWatch, FlatPredictionsAreTheOtherCollapse) {
  twist::CollapseSettings s;
  s.classes = 10;
  s.alpha = 0;
  twist::CollapseWatch w(s);
  EXPECT_NEAR(w.flat_threshold(), 0.9 * std::log(10.0), 1e-12);
  EXPECT_EQ(w.observe(20, 10, 2.12, 0.99), "");
  EXPECT_EQ(w.observe(40, 10, 2.18, 2.17), "");
  EXPECT_EQ(w.observe(60, 7, 2.28, 2.24), "");
  const std::string m = w.observe(80, 8, 2.28, 2.25);
  EXPECT_NE(m.find("going flat at step 80"), std::string::npos) << m;
  EXPECT_NE(m.find("alpha = 0"), std::string::npos) << m;
  s.alpha = 1;
  s.patience = 1;
  EXPECT_NE(twist::CollapseWatch(s).observe(1, 10, 2.3, 2.2).find("--temperature"), std::string::npos);
  EXPECT_EQ(twist::CollapseWatch(s).observe(1, 10, 2.3, 1.5), "");  // sharp enough, spread: healthy
}

TEST(CollapseWatch, ThresholdFollowsTheBatchWhenClassesOutnumberIt) {
  twist::CollapseSettings s;
  s.classes = 4096;
  s.batch = 64;  // at most 64 classes can appear in a batch
  s.patience = 1;
  twist::CollapseWatch w(s);
  EXPECT_NEAR(w.entropy_threshold(), std::log(32.0), 1e-12);
  EXPECT_EQ(w.observe(1, 60, 4.0), "");  // ln 64 = 4.16: healthy for a batch of 64
  EXPECT_NE(w.observe(2, 20, 3.0), "");  // e^3 = 20 effective classes: below 32
  s.alpha = 2;
  s.beta = 1;
  twist::CollapseWatch v(s);
  const std::string m = v.observe(5, 3, 1.0);
  EXPECT_NE(m.find("below alpha"), std::string::npos) << m;
  s.alpha = 1;
  s.nbs = false;
  EXPECT_NE(twist::CollapseWatch(s).observe(5, 3, 1.0).find("NBS"), std::string::npos);
  s.nbs = true;
  EXPECT_NE(twist::CollapseWatch(s).observe(5, 3, 1.0).find("learning rate"), std::string::npos);
  EXPECT_EQ(twist::CollapseWatch(s).observe(5, 3, NAN), "");  // a NaN is the non-finite check's business
}
