// The training step shared by twist train and twist bench, in float32 and in
// bfloat16 autocast, and the precision setting's validation.
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"
#include "twist/config.h"
#include "twist/feature_spread.h"
#include "twist/train_step.h"

namespace {

using namespace twist;
using twist::testing::error_of;

TwistModel small_model(uint64_t seed) {
  torch::manual_seed(seed);
  TwistModelOptions o;
  o.backbone.width = 0.25;  // 16 base channels, the default recipe's backbone
  o.backbone.in_channels = 1;
  o.head.hidden = 64;
  o.head.classes = 10;
  return TwistModel(o);
}

std::vector<torch::Tensor> two_views(int64_t batch) {
  torch::manual_seed(7);
  return {torch::randn({batch, 1, 28, 28}), torch::randn({batch, 1, 28, 28})};
}

// A small model with a 40-class over-clustering head beside its 10-class
// one; equal seeds give equal weights.
TwistModel aux_model(uint64_t seed) {
  torch::manual_seed(seed);
  TwistModelOptions o;
  o.backbone.width = 0.125;
  o.backbone.in_channels = 1;
  o.head.hidden = 32;
  o.head.classes = 10;
  o.aux_classes = 40;
  return TwistModel(o);
}

// The over-clustering head: its own logits for every view, trained by the
// step beside the C-class head.
TEST(TrainStep, AuxHeadTrainsBesideTheMainHead) {
  TwistModel m = aux_model(0);
  ASSERT_TRUE(m->aux_head);
  const auto views = two_views(32);
  const HeadLogits h = m->forward_heads(views);
  ASSERT_EQ(h.aux.size(), 2u);
  EXPECT_EQ(h.aux[0].sizes(), (std::vector<int64_t>{32, 40}));
  EXPECT_EQ(h.logits[0].sizes(), (std::vector<int64_t>{32, 10}));
  const auto aux_before = m->aux_head->parameters()[0].clone();
  const auto head_before = m->head->parameters()[0].clone();
  Lars lars(m->parameters());
  TrainStep step(m, lars, {});
  const StepOutcome out = step(views, 0.5, 1e-6);
  ASSERT_TRUE(out.bad.empty()) << out.bad;
  EXPECT_FALSE(torch::equal(aux_before, m->aux_head->parameters()[0]));
  EXPECT_FALSE(torch::equal(head_before, m->head->parameters()[0]));
  EXPECT_FALSE(small_model(0)->aux_head);  // none unless asked for
}

// The step's total is the C-class head's TWIST loss plus aux_weight times
// the over-clustering head's, both from the same forward pass; the latter
// with its own entropy weights where they are set (< 0: the C-class head's).
TEST(TrainStep, AuxWeightAndEntropyWeightsShapeTheOverClusteringHeadsLoss) {
  const auto views = two_views(32);
  struct Case {
    double weight, alpha, beta;
  };
  for (const Case c : {Case{1.0, -1, -1}, Case{3.0, -1, -1}, Case{1.0, 3.0, 0.5}, Case{2.0, -1, 0.0}}) {
    TwistModel m = aux_model(0), copy = aux_model(0);
    const HeadLogits h = copy->forward_heads(views);
    const double main = twist_loss(h.logits).total.item<double>();
    TwistLossOptions aux_options;
    if (c.alpha >= 0) aux_options.alpha = c.alpha;
    if (c.beta >= 0) aux_options.beta = c.beta;
    const double aux = twist_loss(h.aux, aux_options).total.item<double>();
    Lars lars(m->parameters());
    TrainStep step(m, lars, {});
    step.set_aux_weight(c.weight);
    step.set_aux_entropy_weights(c.alpha, c.beta);
    const StepOutcome out = step(views, 0.5, 1e-6);
    ASSERT_TRUE(out.bad.empty()) << out.bad;
    const double want = main + c.weight * aux;
    EXPECT_NEAR(out.stats.total, want, 1e-4 * std::abs(want)) << c.weight << " " << c.alpha << " " << c.beta;
  }
}

// With a spread weight the step's total adds that weight times the
// feature-spread penalty of the backbone's features of both views.
TEST(TrainStep, SpreadWeightAddsTheFeatureSpreadPenalty) {
  const auto views = two_views(32);
  TwistModel copy = small_model(0);
  const HeadLogits h = copy->forward_heads(views);
  const double loss = twist_loss(h.logits).total.item<double>();
  const double spread = feature_spread_penalty(h.features).item<double>();
  EXPECT_EQ(h.features.sizes(), (std::vector<int64_t>{64, copy->backbone->feature_dim()}));
  EXPECT_GT(spread, 0.1);
  for (double weight : {0.0, 2.0}) {
    TwistModel m = small_model(0);
    Lars lars(m->parameters());
    TrainStep step(m, lars, {});
    step.set_spread_weight(weight);
    const StepOutcome out = step(views, 0.5, 1e-6);
    ASSERT_TRUE(out.bad.empty()) << out.bad;
    EXPECT_NEAR(out.stats.total, loss + weight * spread, 1e-4 * std::abs(loss + weight * spread))
        << "weight " << weight;
  }
}

TEST(TrainStep, Bf16LossIsFiniteAndCloseToFp32OnTheSameBatch) {
  TwistModel a = small_model(0), b = small_model(0);
  Lars la(a->parameters()), lb(b->parameters());
  TrainStep fp32(a, la, {}, Precision::fp32), bf16(b, lb, {}, Precision::bf16);
  const auto views = two_views(64);
  for (int s = 0; s < 3; ++s) {
    // The same weights in both: the bf16 model's, updated by its own steps.
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < a->parameters().size(); ++i) a->parameters()[i].copy_(b->parameters()[i]);
    }
    const StepOutcome x = fp32(views, 0.5, 1e-6), y = bf16(views, 0.5, 1e-6);
    ASSERT_TRUE(x.bad.empty()) << x.bad;
    ASSERT_TRUE(y.bad.empty()) << y.bad;
    ASSERT_TRUE(std::isfinite(y.stats.total));
    // bfloat16 really ran: the same weights and batch give another loss.
    EXPECT_NE(x.stats.total, y.stats.total) << "step " << s;
    // The terms are of order 2 (at most ln 10 = 2.3 here); bfloat16 rounds
    // each value to 2^-8 = 0.4% of itself, which on the terms is 0.01: the
    // loss must be as accurate as one bfloat16 rounding of its terms. Measured
    // on this batch over these 3 steps: at most 0.0025 on the total, 0.002 on
    // a term.
    EXPECT_NEAR(y.stats.total, x.stats.total, 0.01) << "step " << s;
    EXPECT_NEAR(y.stats.consistency, x.stats.consistency, 0.01) << "step " << s;
    EXPECT_NEAR(y.stats.sharpness, x.stats.sharpness, 0.01) << "step " << s;
    EXPECT_NEAR(y.stats.diversity, x.stats.diversity, 0.01) << "step " << s;
    // The loss ran in float32 on float32 logits.
    EXPECT_EQ(y.logits[0].scalar_type(), torch::kFloat32);
  }
  // Parameters and their gradients stay float32.
  for (const auto& p : b->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);
  }
  // Autocast is off again outside the step.
  auto m = torch::randn({4, 4});
  EXPECT_EQ(torch::mm(m, m).scalar_type(), torch::kFloat32);
}

TEST(TrainStep, AutocastScopeSeesWeightsChangedSinceTheLastScope) {
  // A scope caches the bfloat16 copy of each weight; a stale copy after the
  // optimizer's in-place update would train on old weights.
  torch::manual_seed(0);
  torch::nn::Linear lin(8, 8);
  auto x = torch::randn({4, 8});
  torch::Tensor before, after;
  {
    AutocastScope scope(Precision::bf16);
    before = lin(x);
    EXPECT_EQ(before.scalar_type(), torch::kBFloat16);
  }
  {
    torch::NoGradGuard no_grad;
    lin->weight.zero_();
    lin->bias.zero_();
  }
  {
    AutocastScope scope(Precision::bf16);
    after = lin(x);
  }
  EXPECT_GT(before.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(after.abs().sum().item<double>(), 0.0);
  {
    AutocastScope fp32(Precision::fp32);
    EXPECT_EQ(lin(x).scalar_type(), torch::kFloat32);
  }
}

TEST(TrainStep, PrecisionIsValidated) {
  EXPECT_EQ(parse_precision("bf16"), Precision::bf16);
  EXPECT_NE(error_of([] { parse_precision("fp16"); }).find("precision 'fp16' is not one of fp32, bf16"),
            std::string::npos);
  TrainConfig c;
  set_config_value(c, "precision", "half");
  EXPECT_NE(error_of([&] { validate(c); }).find("invalid setting precision: 'half'"), std::string::npos);
  set_config_value(c, "precision", "bf16");
  validate(c);
  set_config_value(c, "precision", "auto");
  validate(c);
  EXPECT_NE(error_of([] { resolve_precision("fp16", torch::kCPU); }).find("'fp16'"), std::string::npos);
}

// "auto": bf16 on a GPU, and on a CPU only where its flags list native
// bfloat16 arithmetic; named precisions are kept as they are.
TEST(TrainStep, AutoPrecisionFollowsTheHardware) {
  const std::string amd =
      "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n"
      "processor\t: 1\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n";
  const std::string spr = "flags\t\t: fpu avx512f amx_bf16 amx_tile amx_int8\n";
  const std::string old = "flags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni\nbugs\t\t: avx512_bf16\n";
  EXPECT_TRUE(cpuinfo_has_native_bf16(amd));
  EXPECT_TRUE(cpuinfo_has_native_bf16(spr));
  EXPECT_FALSE(cpuinfo_has_native_bf16(old));                              // only the flags line counts
  EXPECT_FALSE(cpuinfo_has_native_bf16("flags\t\t: fpu avx512_bf16x\n"));  // whole words
  EXPECT_FALSE(cpuinfo_has_native_bf16(""));
  EXPECT_EQ(resolve_precision("auto", torch::Device(torch::kCUDA, 0)), Precision::bf16);
  EXPECT_EQ(resolve_precision("auto", torch::kCPU), cpu_has_native_bf16() ? Precision::bf16 : Precision::fp32);
  EXPECT_EQ(resolve_precision("fp32", torch::Device(torch::kCUDA, 0)), Precision::fp32);
  EXPECT_EQ(resolve_precision("bf16", torch::kCPU), Precision::bf16);
  EXPECT_STREQ(precision_name(Precision::bf16), "bf16");
}

// Asking for bf16 where it is emulated is said; fp32, a GPU and a CPU with
// native bfloat16 are not.
TEST(Precision, EmulatedBf16IsWarnedAbout) {
  const std::string w = bf16_speed_warning(Precision::bf16, /*on_gpu=*/false, /*native_bf16=*/false);
  EXPECT_NE(w.find("emulated"), std::string::npos) << w;
  EXPECT_NE(w.find("--precision auto"), std::string::npos) << w;
  EXPECT_EQ(bf16_speed_warning(Precision::bf16, false, true), "");
  EXPECT_EQ(bf16_speed_warning(Precision::bf16, true, false), "");
  EXPECT_EQ(bf16_speed_warning(Precision::fp32, false, false), "");
}

}  // namespace
