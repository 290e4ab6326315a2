#include <gtest/gtest.h>

#include <cmath>

#include "twist/error.h"
#include "twist/optim.h"
#include "twist/train.h"

namespace {

torch::Tensor param(std::vector<float> v, std::vector<int64_t> shape) {
  return torch::tensor(v).view(shape).requires_grad_(true);
}

void set_grad(torch::Tensor& p, std::vector<float> g) { p.mutable_grad() = torch::tensor(g).view(p.sizes()); }

// p = [[3,4]] (|p| = 5), g = [[.6,.8]] (|g| = 1), eta = .001, wd = 0, lr = 1:
// step 1: trust ratio .001*5/1 = .005 -> d = [.003,.004] = mu -> p = [2.997, 3.996]
// step 2: |p| = 4.995 -> d = .004995*[.6,.8] = [.002997,.003996];
//         mu = .9*[.003,.004] + d = [.005697,.007596] -> p = [2.991303, 3.988404]
TEST(Lars, TwoHandComputedSteps) {
  auto p = param({3, 4}, {1, 2});
  twist::Lars opt({p});
  set_grad(p, {.6f, .8f});
  opt.step(1.0, 0.0);
  EXPECT_NEAR(p[0][0].item<double>(), 2.997, 1e-6);
  EXPECT_NEAR(p[0][1].item<double>(), 3.996, 1e-6);
  set_grad(p, {.6f, .8f});
  opt.step(1.0, 0.0);
  EXPECT_NEAR(p[0][0].item<double>(), 2.991303, 1e-6);
  EXPECT_NEAR(p[0][1].item<double>(), 3.988404, 1e-6);
}

// Weight decay enters before adaptation: g = 0, wd = .1: d = [.3,.4] (|d| = .5),
// ratio .001*5/.5 = .01 -> d = [.003,.004]; lr .5 -> p = [2.9985, 3.998]
TEST(Lars, WeightDecayIsAdapted) {
  auto p = param({3, 4}, {1, 2});
  twist::Lars opt({p});
  set_grad(p, {0, 0});
  opt.step(0.5, 0.1);
  EXPECT_NEAR(p[0][0].item<double>(), 2.9985, 1e-6);
  EXPECT_NEAR(p[0][1].item<double>(), 3.998, 1e-6);
}

// 1-D parameters (biases, BatchNorm) get plain momentum SGD: no decay, no ratio.
TEST(Lars, OneDimensionalParamsExcluded) {
  auto b = param({1.0f}, {1});
  twist::Lars opt({b});
  set_grad(b, {.5f});
  opt.step(0.1, 0.1);
  EXPECT_NEAR(b.item<double>(), 1.0 - 0.1 * 0.5, 1e-7);
  set_grad(b, {.5f});
  opt.step(0.1, 0.1);  // mu = .9*.5 + .5 = .95
  EXPECT_NEAR(b.item<double>(), 0.95 - 0.1 * 0.95, 1e-7);
}

// bias_lr_ratio scales the 1-D parameters' steps only (SGD mode here): the
// weight steps by lr * g, the bias by lr * ratio * mu.
TEST(Lars, BiasLearningRateRatio) {
  auto w = param({3, 4}, {1, 2});
  auto b = param({1.0f}, {1});
  twist::LarsOptions o;
  o.adapt = false;
  o.bias_lr_ratio = 0.25;
  twist::Lars opt({w, b}, o);
  set_grad(w, {.6f, .8f});
  set_grad(b, {.5f});
  opt.step(0.1, 0.0);
  EXPECT_NEAR(w[0][0].item<double>(), 3 - 0.06, 1e-6);  // the weight at lr .1
  EXPECT_NEAR(b.item<double>(), 1.0 - 0.025 * 0.5, 1e-7);
  set_grad(b, {.5f});
  set_grad(w, {0.f, 0.f});
  opt.step(0.1, 0.0);  // mu = .9*.5 + .5 = .95
  EXPECT_NEAR(b.item<double>(), 0.9875 - 0.025 * 0.95, 1e-7);
}

// Per-parameter rules: the first weight adapted at ratio 1 (as LARS), the
// second unscaled at ratio .5 (d = g + wd*p = [.9, 1.2], step lr*.5*d), the
// bias at ratio .5 too; a rule for each parameter, or an error.
TEST(Lars, PerParameterRules) {
  auto a = param({3, 4}, {1, 2});
  auto w = param({3, 4}, {1, 2});
  auto b = param({1.0f}, {1});
  twist::Lars opt({a, w, b}, {}, {{true, 1.0}, {false, 0.5}, {false, 0.5}});
  set_grad(a, {.6f, .8f});
  set_grad(w, {.6f, .8f});
  set_grad(b, {.5f});
  opt.step(0.1, 0.1);
  // a: d = [.9, 1.2] (|d| 1.5), trust .001*5/1.5 -> d = [.003, .004], lr .1
  EXPECT_NEAR(a[0][0].item<double>(), 3 - 0.1 * 0.003, 1e-7);
  EXPECT_NEAR(w[0][0].item<double>(), 3 - 0.05 * 0.9, 1e-6);
  EXPECT_NEAR(w[0][1].item<double>(), 4 - 0.05 * 1.2, 1e-6);
  EXPECT_NEAR(b.item<double>(), 1 - 0.05 * 0.5, 1e-7);
  EXPECT_THROW(twist::Lars({a, w}, {}, {{true, 1.0}}), twist::Error);
}

// The default rules: weights as options.adapt says at ratio 1, 1-D
// parameters unscaled at bias_lr_ratio.
TEST(Lars, DefaultRulesFollowTheOptions) {
  twist::LarsOptions o;
  o.adapt = false;
  o.bias_lr_ratio = 0.25;
  const auto r = twist::lars_rules({param({3, 4}, {1, 2}), param({1.0f}, {1})}, o);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_FALSE(r[0].adapt);
  EXPECT_EQ(r[0].lr_ratio, 1.0);
  EXPECT_FALSE(r[1].adapt);
  EXPECT_EQ(r[1].lr_ratio, 0.25);
}

// SGD mode: d = g + wd*p, unscaled: [.6,.8] + .1*[3,4] = [.9,1.2]; lr .1
TEST(Lars, SgdModeSkipsAdaptation) {
  auto p = param({3, 4}, {1, 2});
  twist::LarsOptions o;
  o.adapt = false;
  twist::Lars opt({p}, o);
  set_grad(p, {.6f, .8f});
  opt.step(0.1, 0.1);
  EXPECT_NEAR(p[0][0].item<double>(), 3 - 0.09, 1e-6);
  EXPECT_NEAR(p[0][1].item<double>(), 4 - 0.12, 1e-6);
}

TEST(Lars, ZeroParameterKeepsGradientScale) {
  auto p = param({0, 0}, {1, 2});  // |p| = 0: ratio 1
  twist::Lars opt({p});
  set_grad(p, {1, 2});
  opt.step(1.0, 0.0);
  EXPECT_NEAR(p[0][1].item<double>(), -2.0, 1e-6);
}

// cosine from 1 to 0 over 5 steps: 1, (1+cos(pi/4))/2, .5, (1+cos(3pi/4))/2, 0
TEST(Schedule, CosineHandValues) {
  auto s = twist::cosine_schedule(1.0, 0.0, 5);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_NEAR(s[0], 1.0, 1e-12);
  EXPECT_NEAR(s[1], 0.8535533906, 1e-9);
  EXPECT_NEAR(s[2], 0.5, 1e-12);
  EXPECT_NEAR(s[3], 0.1464466094, 1e-9);
  EXPECT_NEAR(s[4], 0.0, 1e-12);
}

// 2 warm-up steps (0, .5), then cosine 1 -> .1 over 4: 1, .775, .325, .1
TEST(Schedule, WarmupThenCosine) {
  auto s = twist::cosine_schedule(1.0, 0.1, 6, 2);
  std::vector<double> want = {0.0, 0.5, 1.0, 0.775, 0.325, 0.1};
  ASSERT_EQ(s.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(s[i], want[i], 1e-12) << i;
}

TEST(Schedule, LearningRateScalesWithBatch) {
  EXPECT_DOUBLE_EQ(twist::scaled_lr(0.5, 256), 0.5);
  EXPECT_DOUBLE_EQ(twist::scaled_lr(0.5, 512), 1.0);
  EXPECT_DOUBLE_EQ(twist::scaled_lr(0.3, 64), 0.075);
}

// head_lr: every parameter outside the backbone (five cluster heads, the
// over-clustering head) unscaled at head_lr / lr; the backbone as LARS'
// default rules. 0 leaves every rule as the default.
TEST(Lars, HeadLearningRateRulesCoverTheHeadsOnly) {
  twist::TrainConfig c;
  c.width = 0.125;
  twist::TwistModel m(twist::model_options(c, 1));
  const auto named = m->named_parameters();
  const auto plain = twist::lars_rules(named.values(), twist::optimizer_options(c));
  auto same = twist::optimizer_rules(c, m);
  ASSERT_EQ(same.size(), named.size());
  for (size_t i = 0; i < same.size(); ++i) {
    EXPECT_EQ(same[i].adapt, plain[i].adapt) << named[i].key();
    EXPECT_EQ(same[i].lr_ratio, plain[i].lr_ratio) << named[i].key();
  }
  c.head_lr = 0.05;
  const auto rules = twist::optimizer_rules(c, m);
  size_t heads = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    const bool backbone = named[i].key().rfind("backbone.", 0) == 0;
    heads += !backbone;
    EXPECT_EQ(rules[i].adapt, backbone && plain[i].adapt) << named[i].key();
    EXPECT_DOUBLE_EQ(rules[i].lr_ratio, backbone ? plain[i].lr_ratio : 0.05 / c.lr) << named[i].key();
  }
  // Every head has the same layers (the last one's width aside).
  const size_t per_head = m->head->parameters().size();
  EXPECT_GT(per_head, 0u);
  EXPECT_EQ(heads, per_head * size_t(twist::kAutoClusterHeads + 1));
}

}  // namespace
