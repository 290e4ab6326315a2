// Several C-class heads trained side by side (cluster_heads): each trains as
// if alone, the backbone sees their mean, and the one of lowest moving
// training loss is the one used.
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"
#include "twist/config.h"
#include "twist/train.h"
#include "twist/train_step.h"

namespace {

using namespace twist;
using twist::testing::error_of;

TwistModelOptions heads_options(int64_t heads) {
  TwistModelOptions o;
  o.backbone.width = 0.125;
  o.backbone.in_channels = 1;
  o.head.hidden = 32;
  o.head.classes = 10;
  o.cluster_heads = heads;
  return o;
}

std::vector<torch::Tensor> views_of(int64_t batch) {
  torch::manual_seed(11);
  return {torch::randn({batch, 1, 28, 28}), torch::randn({batch, 1, 28, 28})};
}

// Copies `from`'s parameter `from_name` into `to`'s parameter `to_name`.
void copy_parameters(TwistModel& from, const std::string& from_prefix, TwistModel& to, const std::string& to_prefix) {
  torch::NoGradGuard no_grad;
  auto source = from->named_parameters();
  for (auto& p : to->named_parameters()) {
    if (p.key().rfind(to_prefix, 0) != 0) continue;
    p.value().copy_(source[from_prefix + p.key().substr(to_prefix.size())]);
  }
}

// Equal up to float32 rounding, relative to the tensor's size.
bool nearly_equal(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).norm().item<double>() <= 1e-4 * b.norm().item<double>() + 1e-7;
}

std::map<std::string, torch::Tensor> gradients(TwistModel& m) {
  std::map<std::string, torch::Tensor> g;
  for (auto& p : m->named_parameters())
    if (p.value().grad().defined()) g[p.key()] = p.value().grad().clone();
  return g;
}

// The summed loss of three heads: each head's gradient is what it gets
// trained alone on the same backbone, and the backbone's is the mean of
// what each head alone gives it.
TEST(ClusterHeads, EachHeadTrainsAsIfAloneAndTheBackboneSeesTheirMean) {
  torch::manual_seed(0);
  TwistModel many(heads_options(3));
  ASSERT_EQ(many->num_heads(), 3);
  const auto views = views_of(24);
  const HeadLogits h = many->forward_heads(views);
  ASSERT_EQ(h.heads.size(), 3u);
  EXPECT_TRUE(torch::equal(h.logits[0], h.heads[0][0]));  // no loss known yet: head 0 is used
  torch::Tensor total = torch::zeros({});
  for (const auto& head : h.heads) total = total + twist_loss(head, {}).total;
  total.backward();
  const auto together = gradients(many);
  std::map<std::string, torch::Tensor> backbone_mean;
  for (int64_t k = 0; k < 3; ++k) {
    TwistModel alone(heads_options(1));
    copy_parameters(many, "backbone.", alone, "backbone.");
    const std::string name = k == 0 ? "head." : "head_" + std::to_string(k) + ".";
    copy_parameters(many, name, alone, "head.");
    twist_loss(alone->forward(views), {}).total.backward();
    for (const auto& [key, g] : gradients(alone)) {
      // Every Linear of the head feeds a BatchNorm: its bias's gradient is
      // zero but for rounding noise, which has no scale to compare against.
      if (key.rfind("head.", 0) == 0 && key.size() > 5 && key.substr(key.size() - 5) == ".bias") continue;
      if (key.rfind("head.", 0) == 0) {
        EXPECT_TRUE(nearly_equal(together.at(name + key.substr(5)), g)) << name << key;
      } else {
        backbone_mean[key] = backbone_mean.count(key) ? backbone_mean[key] + g / 3 : g / 3;
      }
    }
  }
  ASSERT_FALSE(backbone_mean.empty());
  for (const auto& [key, g] : backbone_mean) EXPECT_TRUE(nearly_equal(together.at(key), g)) << key;
}

TEST(ClusterHeads, TheHeadOfLowestMovingLossIsUsed) {
  torch::manual_seed(0);
  TwistModel m(heads_options(3));
  EXPECT_EQ(m->chosen_head(), 0);
  m->record_head_losses(torch::tensor({3.0, 1.0, 2.0}));  // the first step's losses as they are
  EXPECT_TRUE(torch::equal(m->head_loss, torch::tensor({3.0, 1.0, 2.0}, torch::kFloat64)));
  EXPECT_EQ(m->chosen_head(), 1);
  m->record_head_losses(torch::tensor({0.0, 5.0, 0.0}));  // then 1% of each step
  EXPECT_TRUE(torch::allclose(m->head_loss, torch::tensor({2.97, 1.04, 1.98}, torch::kFloat64), 0, 1e-12));
  EXPECT_EQ(m->chosen_head(), 1);
  for (int i = 0; i < 200; ++i) m->record_head_losses(torch::tensor({0.0, 5.0, 0.0}));
  EXPECT_EQ(m->chosen_head(), 2);  // 1.98 decays below 2.97, both below 5
  m->eval();
  const auto x = views_of(4)[0];
  EXPECT_TRUE(torch::equal(m->logits(x), m->extra_heads[1]->forward(m->backbone->forward(x))));
  EXPECT_NE(error_of([&] { m->record_head_losses(torch::zeros({2})); }).find("one loss per cluster head"),
            std::string::npos);
  // One head: no moving loss, nothing to choose.
  TwistModel one(heads_options(1));
  EXPECT_FALSE(one->head_loss.defined());
  EXPECT_EQ(one->chosen_head(), 0);
  EXPECT_EQ(one->named_buffers().find("head_loss"), nullptr);
}

// A training step trains every head, logs the mean of their losses as the
// total and feeds each one's loss to the moving average.
TEST(ClusterHeads, ATrainingStepTrainsEveryHeadAndRecordsItsLoss) {
  torch::manual_seed(0);
  TwistModel m(heads_options(3));
  std::vector<torch::Tensor> before;
  for (int64_t k = 0; k < 3; ++k) before.push_back(m->cluster_head(k)->parameters()[0].clone());
  Lars lars(m->parameters());
  TrainStep step(m, lars, {});
  const StepOutcome out = step(views_of(32), 0.5, 1e-6);
  ASSERT_TRUE(out.bad.empty()) << out.bad;
  ASSERT_TRUE(out.head_losses.defined());
  ASSERT_EQ(out.head_losses.numel(), 3);
  EXPECT_TRUE(torch::allclose(m->head_loss, out.head_losses));
  EXPECT_NEAR(out.stats.total, out.head_losses.mean().item<double>(), 1e-6);
  // Different initial weights: different losses.
  EXPECT_NE(out.head_losses[0].item<double>(), out.head_losses[1].item<double>());
  for (int64_t k = 0; k < 3; ++k)
    EXPECT_FALSE(torch::equal(before[size_t(k)], m->cluster_head(k)->parameters()[0])) << "head " << k;
}

TEST(ClusterHeads, SettingsThatCannotTrainSeveralHeadsAreRefused) {
  TrainConfig c;
  for (int64_t bad : {-1, 65}) {
    c.cluster_heads = bad;
    EXPECT_NE(error_of([&] { validate(c); }).find("cluster_heads"), std::string::npos) << bad;
  }
  c.cluster_heads = 4;
  EXPECT_EQ(error_of([&] { validate(c); }), "(no error)");
  c.momentum_teacher = true;
  EXPECT_NE(error_of([&] { validate(c); }).find("not with momentum_teacher"), std::string::npos);
  c.momentum_teacher = false;
  c.self_label_epochs = 2;
  EXPECT_NE(error_of([&] { validate(c); }).find("cluster_heads"), std::string::npos);
}

TEST(ClusterHeads, AutoTrainsFiveWhereTheHeadClustersAndOneElsewhere) {
  TrainConfig c;  // the default: auto
  ASSERT_EQ(c.cluster_heads, 0);
  EXPECT_EQ(resolved_cluster_heads(c), kAutoClusterHeads);
  EXPECT_EQ(model_options(c, 1).cluster_heads, kAutoClusterHeads);
  c.classes = kAutoHeadsMaxClasses + 1;  // a representation head, not a clustering one
  EXPECT_EQ(resolved_cluster_heads(c), 1);
  c.classes = 10;
  c.momentum_teacher = true;  // auto is no error where several heads cannot train
  EXPECT_EQ(error_of([&] { validate(c); }), "(no error)");
  EXPECT_EQ(resolved_cluster_heads(c), 1);
  c.momentum_teacher = false;
  c.self_label_epochs = 2;
  EXPECT_EQ(resolved_cluster_heads(c), 1);
  c.cluster_heads = 3;  // what is named is kept
  c.self_label_epochs = 0;
  EXPECT_EQ(resolved_cluster_heads(c), 3);
}

// A run saved before cluster_heads existed trained one head: its settings
// read back as one head, not as today's auto.
TEST(ClusterHeads, ASavedRunThatPredatesTheKeyReadsAsOneHead) {
  EXPECT_EQ(config_from_json("{\"lr\": 1.0}", "old run", saved_run_base()).cluster_heads, 1);
  EXPECT_EQ(config_from_json("{\"cluster_heads\": 5}", "new run", saved_run_base()).cluster_heads, 5);
  EXPECT_EQ(config_from_json("{}", "a recipe").cluster_heads, 0);
}

}  // namespace
