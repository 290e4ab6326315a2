// Streamed evaluation: feature banks that spill to disk, chunked kNN, the
// streamed .npy writer, and evaluation of image folders batch by batch, equal
// to the whole-set in-memory path and no longer refused above its limit.
#include <gtest/gtest.h>

#include <filesystem>

#include "../src/eval/probe_inputs.h"
#include "../src/train/run_eval.h"
#include "test_util.h"
#include "twist/config.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/image.h"
#include "twist/npy.h"
#include "twist/probe.h"
#include "twist/report.h"

namespace {

using namespace twist::testing;

bool mentions(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(FeatureBank, SpillsAboveItsBudgetAndReadsTheSameRows) {
  torch::manual_seed(1);
  auto rows = torch::randn({100, 6});
  twist::FeatureBank memory, disk(/*budget_bytes=*/40 * 6 * 4);
  for (int64_t i = 0; i < 100; i += 30) {
    memory.append(rows.narrow(0, i, std::min<int64_t>(30, 100 - i)));
    disk.append(rows.narrow(0, i, std::min<int64_t>(30, 100 - i)).to(torch::kFloat64));
    EXPECT_EQ(disk.spilled(), i + 30 > 40) << i;
  }
  EXPECT_FALSE(memory.spilled());
  ASSERT_EQ(disk.rows(), 100);
  EXPECT_EQ(disk.dim(), 6);
  EXPECT_TRUE(torch::equal(memory.all(), rows));
  EXPECT_TRUE(torch::equal(disk.all(), rows));
  EXPECT_TRUE(torch::equal(disk.read(37, 21), rows.narrow(0, 37, 21)));
  const auto picks = torch::tensor({99, 3, 41, 3, 0}, torch::kInt64);
  EXPECT_TRUE(torch::equal(disk.gather(picks), rows.index_select(0, picks)));
  EXPECT_TRUE(torch::equal(memory.gather(picks), rows.index_select(0, picks)));
  EXPECT_TRUE(mentions(error_of([&] { disk.gather(torch::tensor({100}, torch::kInt64)); }), "row 100 outside"));
  twist::FeatureBank moved = std::move(disk);
  EXPECT_TRUE(torch::equal(moved.read(90, 10), rows.narrow(0, 90, 10)));
  EXPECT_TRUE(mentions(error_of([&] { moved.append(torch::zeros({1, 5})); }), "rows of 5 values"));
  EXPECT_TRUE(mentions(error_of([&] { moved.read(95, 10); }), "outside the bank's 100"));
  EXPECT_TRUE(mentions(error_of([] {
                         twist::FeatureBank(0, "/nonexistent-dir").append(torch::zeros({1, 1}));
                       }),
                       "cannot create a temporary file for the feature bank in '/nonexistent-dir'"));
}

// A run's bank_memory defaults to the budget twist eval knn uses.
TEST(FeatureBank, TrainingDefaultIsTheBanksDefaultBudget) {
  EXPECT_EQ(twist::TrainConfig{}.bank_memory << 20, twist::kFeatureBankBudgetBytes);
}

// Small chunks (a running top-k over many bank chunks) give the figures of
// one chunk holding everything.
TEST(FeatureBank, ChunkedKnnEqualsOneChunk) {
  torch::manual_seed(2);
  auto centres = torch::randn({5, 12}) * 2;
  auto by = torch::arange(5).repeat(60), qy = torch::arange(5).repeat(20);
  auto bx = centres.index_select(0, by) + torch::randn({300, 12}),
       qx = centres.index_select(0, qy) + torch::randn({100, 12});
  twist::KnnOptions whole;
  whole.k = 7;
  whole.query_chunk = whole.bank_chunk = 100000;
  twist::KnnOptions chunked = whole;
  chunked.query_chunk = 13;
  chunked.bank_chunk = 17;
  twist::FeatureBank spilled(0);
  spilled.append(bx);
  const auto a = twist::knn_classify(bx, by, qx, qy, whole);
  const auto b = twist::knn_classify(spilled, by, twist::FeatureBank::of(qx), qy, chunked);
  EXPECT_GT(a.top1, 0.5);
  EXPECT_DOUBLE_EQ(a.top1, b.top1);
  EXPECT_DOUBLE_EQ(a.top5, b.top5);
}

TEST(FeatureBank, RankedAccuracyEqualsTopkOfLogits) {
  torch::manual_seed(3);
  auto logits = torch::randn({50, 8});
  auto labels = torch::randint(0, 4, {50}, torch::kInt64);
  std::vector<int64_t> mapping = {0, 1, 2, 3, -1, 1, 2};  // cluster 7 unknown
  auto ranked = std::get<1>(logits.topk(5, 1));
  EXPECT_DOUBLE_EQ(twist::mapped_topk_accuracy(logits, labels, mapping, 5),
                   twist::mapped_ranked_accuracy(ranked, labels, mapping));
}

TEST(NpyRowWriter, WritesBlockByBlockWhatReadNpyReads) {
  TempDir t;
  auto x = torch::randn({10, 3});
  {
    twist::NpyRowWriter w(t / "a.npy", 10, 3);
    w.append(x.narrow(0, 0, 4));
    w.append(x.narrow(0, 4, 6).to(torch::kFloat64));
    EXPECT_FALSE(exists(t / "a.npy"));
    w.finish();
  }
  EXPECT_TRUE(torch::equal(twist::read_npy(t / "a.npy"), x));
  {
    twist::NpyRowWriter w(t / "b.npy", 10, 3);
    w.append(x.narrow(0, 0, 4));
    EXPECT_TRUE(mentions(error_of([&] { w.finish(); }), "4 rows written"));
    EXPECT_TRUE(mentions(error_of([&] { w.append(torch::zeros({1, 2})); }), "rows of 3 values"));
  }
  EXPECT_FALSE(exists(t / "b.npy"));
  EXPECT_FALSE(exists(t / "b.npy.tmp"));
  {
    twist::NpyRowWriter w(t / "h.npy", 10, 3, torch::kHalf);  // float16: '<f2', half the bytes
    w.append(x.narrow(0, 0, 7));
    w.append(x.narrow(0, 7, 3));
    w.finish();
  }
  const auto h = twist::read_npy(t / "h.npy");
  EXPECT_EQ(h.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(h, x.to(torch::kHalf)));
  EXPECT_LT(std::filesystem::file_size(t / "h.npy"), std::filesystem::file_size(t / "a.npy") - 50);
}

// DIR/train and DIR/test, three classes of colour with noise, 10 x 14 PNGs.
void write_folder(const std::string& dir, int64_t per_class_train, int64_t per_class_test) {
  torch::manual_seed(4);
  const std::vector<std::vector<int>> colours = {{200, 40, 40}, {40, 200, 40}, {40, 40, 200}};
  for (const char* split : {"train", "test"}) {
    const int64_t n = std::string(split) == "train" ? per_class_train : per_class_test;
    for (size_t c = 0; c < colours.size(); ++c) {
      const std::string cls = dir + "/" + split + "/c" + std::to_string(c);
      ASSERT_EQ(run_command("mkdir -p '" + cls + "'").exit_code, 0);
      auto base = torch::tensor(std::vector<int64_t>(colours[c].begin(), colours[c].end())).view({3, 1, 1});
      for (int64_t i = 0; i < n; ++i) {
        auto img = (base + torch::randint(-60, 60, {3, 10, 14}, torch::kInt64)).clamp(0, 255).to(torch::kUInt8);
        write_text(cls + "/" + std::to_string(i) + ".png", twist::encode_png(img));
      }
    }
  }
}

twist::TwistModel rgb_model() {
  torch::manual_seed(5);
  twist::TwistModelOptions o;
  o.backbone.width = 0.125;
  o.backbone.in_channels = 3;
  o.head.hidden = 16;
  o.head.classes = 3;
  return twist::TwistModel(o);
}

const twist::Normalization kNorm = {{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};

// The streamed path (small batches, banks spilled to disk) gives the figures
// of the old one: the sets decoded whole, embedded whole, one kNN product.
TEST(StreamEval, FolderFiguresEqualTheInMemoryPath) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  write_folder(t / "f", 20, 8);
  const auto s = twist::load_train_eval_splits("folder:" + (t / "f"), 0);
  ASSERT_TRUE(s.train.file_backed());
  const int64_t side = 8;
  twist::TwistModel model = rgb_model();
  const twist::Dataset bank = twist::in_memory(s.train, side), query = twist::in_memory(s.eval, side);
  const twist::Embeddings b = twist::embed(model, bank, kNorm), q = twist::embed(model, query, kNorm);
  twist::KnnOptions ko;
  ko.k = 5;
  ko.num_classes = 3;
  const auto old_knn = twist::knn_classify(b.features, bank.labels, q.features, query.labels, ko);
  const auto old_cluster = twist::cluster_metrics(q.logits.argmax(1), query.labels);

  twist::StreamOptions o;
  o.batch_size = 7;
  o.bank_budget_bytes = 1000;
  const auto streamed = twist::stream_features(
      s.train, side, [&](const torch::Tensor& x) { return twist::backbone_batch_features(model->backbone, x, kNorm); },
      o);
  EXPECT_TRUE(streamed.spilled());
  EXPECT_TRUE(torch::allclose(streamed.all(), b.features, 1e-5, 1e-6));
  // An in-memory set's bank stays in memory whatever the budget.
  EXPECT_FALSE(twist::stream_features(bank, side, twist::pixel_batch_features, o).spilled());
  const twist::EvalFigures f = twist::evaluate_model(model, s.train, s.eval, side, kNorm, ko.k, 3, o);
  EXPECT_NEAR(f.knn_top1, old_knn.top1, 1e-12);
  EXPECT_NEAR(f.knn_top5, old_knn.top5, 1e-12);
  ASSERT_TRUE(f.clustered);
  EXPECT_NEAR(f.cluster.acc, old_cluster.acc, 1e-12);
  EXPECT_NEAR(f.cluster.nmi, old_cluster.nmi, 1e-9);
  EXPECT_NEAR(f.cluster.ari, old_cluster.ari, 1e-9);
  // twist eval diagnostics' outputs spread, summed batch by batch.
  twist::OutputSpreadSum spread;
  twist::for_each_eval_batch(s.eval, side, 7, [&](int64_t, const torch::Tensor& x) {
    spread.add(twist::head_batch_logits(model, twist::backbone_batch_features(model->backbone, x, kNorm)));
  });
  const auto whole = twist::output_spread(q.logits);
  EXPECT_NEAR(spread.result().row_std, whole.row_std, 1e-5);
  EXPECT_NEAR(spread.result().col_std, whole.col_std, 1e-5);
}

// Lowers the in-memory rule for one test.
struct InMemoryLimit {
  explicit InMemoryLimit(int64_t bytes) { twist::set_in_memory_limit_bytes(bytes); }
  ~InMemoryLimit() { twist::set_in_memory_limit_bytes(0); }
};

// A folder above the in-memory rule (lowered here to 1 KiB, as 1 GiB would
// be on a real folder) was refused; it is now evaluated, streamed, to the
// figures of the in-memory path, without the pixel baselines.
TEST(StreamEval, FolderAboveTheInMemoryRuleIsEvaluated) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  write_folder(t / "f", 20, 8);
  auto s = twist::load_train_eval_splits("folder:" + (t / "f"), 0);
  const int64_t side = 8;
  twist::TwistModel model = rgb_model();
  twist::TrainConfig cfg;
  cfg.knn_k = 5;
  cfg.classes = 3;
  twist::TrainSummary reference;
  twist::RunEvaluator(s, side, cfg, kNorm).final(model, reference);
  EXPECT_GE(reference.pixel_knn_top1, 0);

  InMemoryLimit limit(1024);
  EXPECT_GT(twist::in_memory_bytes(s.train, side), 1024);
  EXPECT_TRUE(mentions(error_of([&] { twist::in_memory(s.train, side); }), "limit for holding an image folder"));
  twist::StreamOptions o;
  o.batch_size = 16;
  o.bank_budget_bytes = 2048;
  twist::RunEvaluator evaluator(s, side, cfg, kNorm, nullptr, o);
  ASSERT_TRUE(evaluator.possible()) << evaluator.reason();
  twist::TrainSummary summary;
  evaluator.final(model, summary);
  EXPECT_TRUE(summary.evaluated);
  EXPECT_NEAR(summary.knn_top1, reference.knn_top1, 1e-12);
  EXPECT_NEAR(summary.knn_top5, reference.knn_top5, 1e-12);
  ASSERT_TRUE(summary.clustered);
  EXPECT_NEAR(summary.acc, reference.acc, 1e-12);
  EXPECT_NEAR(summary.nmi, reference.nmi, 1e-9);
  EXPECT_EQ(summary.pixel_knn_top1, -1);  // skipped above the rule
}

// The classifier's images drawn batch by batch: a prefetched batch and one
// taken without prefetching are the rows eval_images gives.
TEST(StreamEval, ProbeImagesAreTheEvaluationImagesOfTheirRows) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  write_folder(t / "f", 4, 1);
  const auto s = twist::load_train_eval_splits("folder:" + (t / "f"), 0);
  const auto whole = twist::eval_images(s.train, 0, s.train.size(), 8);
  const auto a = torch::tensor({3, 0, 7}, torch::kInt64), b = torch::tensor({11, 5}, torch::kInt64);
  twist::ProbeImages images(s.train, 8);
  images.prefetch(a);
  EXPECT_TRUE(torch::equal(images.take(b), whole.index_select(0, b)));  // not the prefetched rows
  EXPECT_TRUE(torch::equal(images.take(a), whole.index_select(0, a)));
  images.prefetch(b);
  EXPECT_TRUE(torch::equal(images.take(b), whole.index_select(0, b)));
  EXPECT_TRUE(mentions(error_of([&] { twist::eval_images_at(s.train, torch::tensor({12}, torch::kInt64), 8); }),
                       "row 12 out of range"));
}

// The linear probe and fine-tuning on a folder read batch by batch give the
// figures of the same images decoded whole, and a folder above the
// in-memory rule (lowered to 1 KiB) is no longer refused.
TEST(StreamEval, ClassifierOnAFolderEqualsTheInMemoryPath) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  write_folder(t / "f", 20, 8);
  const auto s = twist::load_train_eval_splits("folder:" + (t / "f"), 0);
  const int64_t side = 8;
  const twist::Dataset train = twist::in_memory(s.train, side), test = twist::in_memory(s.eval, side);
  for (const double backbone_lr : {0.0, 0.01}) {
    twist::ClassifierOptions o;
    o.epochs = 3;
    o.batch_size = 16;
    o.backbone_lr = backbone_lr;
    o.progress = false;
    const auto whole = twist::train_classifier(rgb_model()->backbone, train, test, side, kNorm, 3, o);
    InMemoryLimit limit(1024);
    const auto streamed = twist::train_classifier(rgb_model()->backbone, s.train, s.eval, side, kNorm, 3, o);
    ASSERT_EQ(streamed.history.size(), 3u);
    for (size_t e = 0; e < 3; ++e) {
      EXPECT_NEAR(streamed.history[e].loss, whole.history[e].loss, 1e-5) << backbone_lr << " " << e;
      EXPECT_DOUBLE_EQ(streamed.history[e].top1, whole.history[e].top1) << backbone_lr << " " << e;
    }
    if (backbone_lr == 0) {
      EXPECT_GT(streamed.top1, 0.9);  // three colours, linearly apart
    }
  }
}

}  // namespace
