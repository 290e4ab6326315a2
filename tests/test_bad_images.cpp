// --skip-bad-images: image files that do not decode are passed over while
// the allowance lasts, each counted once; the loader reads a seeded stand-in
// so the batch keeps its shape; a run on a folder with a truncated JPEG
// stops at the first such file (the default) or finishes and counts it.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"
#include "twist/bad_images.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/image.h"
#include "twist/loader.h"
#include "twist/npy.h"
#include "twist/report.h"

namespace bad_images_test {

using namespace twist::testing;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

size_t occurrences(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}

void mkdirs(const std::string& dir) { ASSERT_EQ(run_command("mkdir -p '" + dir + "'").exit_code, 0); }

// A noisy h x w PNG around one colour.
void write_png(const std::string& path, std::vector<int> rgb, int64_t h, int64_t w, at::Generator& gen) {
  auto c = torch::tensor(std::vector<float>(rgb.begin(), rgb.end())).view({3, 1, 1}).expand({3, h, w});
  write_text(path, twist::encode_png((c + torch::randn({3, h, w}, gen) * 20).clamp(0, 255).to(torch::kUInt8)));
}

// A JPEG cut short: its start-of-image marker and part of a JFIF header.
const std::string kTruncatedJpeg("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01", 13);

TEST(BadImages, AllowanceCountsEachFileOnce) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  auto gen = twist::make_generator(1, 0);
  write_png(t / "good.png", {10, 20, 30}, 6, 7, gen);
  write_text(t / "cut.jpg", kTruncatedJpeg);
  write_text(t / "cut.png", "\x89PNG\r\n\x1a\n cut");
  twist::BadImages bad(1);
  auto good = bad.read(t / "good.png");
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(good->sizes(), (std::vector<int64_t>{3, 6, 7}));
  EXPECT_FALSE(bad.read(t / "cut.jpg").has_value());
  EXPECT_FALSE(bad.read(t / "cut.jpg").has_value());  // known: not counted again
  EXPECT_EQ(bad.count(), 1);
  EXPECT_EQ(bad.files(), std::vector<std::string>{t / "cut.jpg"});
  auto e = error_of([&] { bad.read(t / "cut.png"); });
  EXPECT_TRUE(contains(e, "'" + (t / "cut.png") + "'")) << e;
  EXPECT_TRUE(contains(e, "it is one more than --skip-bad-images 1 allows (the others were skipped)")) << e;

  twist::BadImages none(0);  // the default: the first one is the error
  e = error_of([&] { none.read(t / "cut.jpg"); });
  EXPECT_TRUE(contains(e, "'" + (t / "cut.jpg") + "'")) << e;
  EXPECT_TRUE(contains(e, "--skip-bad-images N skips up to N image files that do not decode")) << e;
}

// The stand-in of a bad file is another image of the set, the same for
// the same seed; the other samples of the batch are untouched.
TEST(BadImages, LoaderReadsASeededStandIn) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  auto gen = twist::make_generator(2, 0);
  for (int i = 0; i < 8; ++i) write_png(t / (std::to_string(i) + ".png"), {i * 30, 100, 50}, 20 + i, 24, gen);
  twist::Dataset d = twist::load_dataset("folder:" + t.path);
  twist::EpochSampler sampler(d.size(), 4, 11);
  const torch::Tensor planned = sampler.indices(0);
  const int64_t broken = planned[2].item<int64_t>();
  write_text(d.files[size_t(broken)], kTruncatedJpeg);
  auto crops = twist::MultiCropOptions::paper(12, 0, 6);
  twist::Normalization norm{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
  twist::BadImages bad_a(1), bad_b(1);
  auto a = twist::BatchLoader::make_batch(d, sampler, crops, norm, 5, 0, torch::kCPU, &bad_a);
  auto b = twist::BatchLoader::make_batch(d, sampler, crops, norm, 5, 0, torch::kCPU, &bad_b);
  ASSERT_EQ(a.views.size(), 2u);
  EXPECT_EQ(a.views[0].sizes(), (std::vector<int64_t>{4, 3, 12, 12}));
  EXPECT_EQ(bad_a.count(), 1);
  const int64_t stand_in = a.indices[2].item<int64_t>();
  EXPECT_NE(stand_in, broken);
  EXPECT_GE(stand_in, 0);
  EXPECT_LT(stand_in, d.size());
  for (int64_t k : {0, 1, 3}) EXPECT_EQ(a.indices[k].item<int64_t>(), planned[k].item<int64_t>()) << k;
  EXPECT_TRUE(torch::equal(a.indices, b.indices));
  for (size_t v = 0; v < a.views.size(); ++v) EXPECT_TRUE(torch::equal(a.views[v], b.views[v])) << v;
  // Evaluation leaves the skipped file out.
  const twist::Dataset kept = twist::without_bad_images(d, bad_a);
  EXPECT_EQ(kept.size(), d.size() - 1);
  EXPECT_EQ(std::count(kept.files.begin(), kept.files.end(), d.files[size_t(broken)]), 0);
}

// A split folder of 4 classes (8 training and 3 held-out PNGs each) with a
// truncated JPEG in train/, which is returned.
std::string folder_with_a_cut_jpeg(const std::string& dir) {
  auto gen = twist::make_generator(3, 0);
  const std::vector<std::vector<int>> colours = {{220, 30, 30}, {30, 220, 30}, {30, 30, 220}, {220, 220, 30}};
  for (const char* split : {"train", "val"})
    for (int k = 0; k < 4; ++k) {
      const std::string cdir = dir + "/" + split + "/class" + std::to_string(k);
      mkdirs(cdir);
      for (int i = 0; i < (std::string(split) == "train" ? 8 : 3); ++i)
        write_png(cdir + "/" + std::to_string(i) + ".png", colours[size_t(k)], 18 + i, 22 - i, gen);
    }
  const std::string cut = dir + "/train/class2/9.jpg";
  write_text(cut, kTruncatedJpeg);
  return cut;
}

const std::string kTinyRun =
    " --image-size 16 --batch-size 16 --width 0.125 --hidden 32 --classes 4 --precision fp32 "
    "--warmup-epochs 1 --log-every 1 --threads 2 --knn-k 3";

// A folder with a truncated JPEG in train/: stopped at it by default,
// trained, evaluated and reported with --skip-bad-images 1 (the file named
// once, counted in summary.json), stopped at a second one.
TEST(BadImages, TrainingSkipsUpToTheAllowance) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "data";
  const std::string cut = folder_with_a_cut_jpeg(dir);
  const std::string flags = kTinyRun + " --max-steps 4";
  auto r = run_twist("train --data folder:" + dir + flags + " --out " + (t / "stop"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "twist: error: '" + cut + "' is not a JPEG twist can read") ||
              contains(r.output, "twist: error: cannot read JPEG '" + cut + "'"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "--skip-bad-images N")) << r.output;

  r = run_twist("train --data folder:" + dir + flags + " --skip-bad-images 1 --out " + (t / "skip"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(occurrences(r.output, cut), 1u) << r.output;
  EXPECT_TRUE(contains(r.output, "twist: warning: skipped image 1 of at most 1 (--skip-bad-images)")) << r.output;
  auto summary = nlohmann::json::parse(read_text(t / "skip/summary.json"));
  EXPECT_EQ(summary["skipped_images"].get<int64_t>(), 1) << summary.dump();
  EXPECT_EQ(summary["steps"].get<int64_t>(), 4);
  EXPECT_EQ(summary.value("eval_split", ""), "val") << summary.dump();
  EXPECT_TRUE(summary.contains("knn_top1")) << summary.dump();
  EXPECT_TRUE(contains(r.output, "report written to")) << r.output;
  // Without a held-out split the report shows training images: the readable ones.
  r = run_twist("train --data folder:" + dir + "/train" + flags + " --skip-bad-images 1 --out " + (t / "train"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(occurrences(r.output, cut), 1u) << r.output;
  EXPECT_TRUE(contains(r.output, "report written to")) << r.output;

  write_text(dir + "/train/class0/9.jpg", kTruncatedJpeg);
  r = run_twist("train --data folder:" + dir + flags + " --skip-bad-images 1 --out " + (t / "second"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "it is one more than --skip-bad-images 1 allows (the others were skipped)"))
      << r.output;
}

// A resumed run keeps the files skipped before the stop: counted against the
// allowance and in summary.json, not read or named again (33 files, 2 steps
// an epoch: the 3 epochs after the stop would each meet the cut file).
TEST(BadImages, ResumeKeepsTheSkippedFiles) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "data";
  const std::string cut = folder_with_a_cut_jpeg(dir);
  const std::string run = " --eval false --report false --out " + (t / "run");
  auto r = run_twist("train --data folder:" + dir + "/train" + kTinyRun +
                     " --max-steps 8 --stop-after-steps 2 --skip-bad-images 1" + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(occurrences(r.output, cut), 1u) << r.output;
  r = run_twist("train --resume" + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(occurrences(r.output, cut), 0u) << r.output;
  auto summary = nlohmann::json::parse(read_text(t / "run/summary.json"));
  EXPECT_EQ(summary["steps"].get<int64_t>(), 8) << summary.dump();
  EXPECT_EQ(summary["skipped_images"].get<int64_t>(), 1) << summary.dump();
}

// A bad file among the held-out images, and one among the training images
// that the curves' bank decodes whether or not the loader met it: stopped at
// the first by default; evaluated without them, during the run and at its
// end, and both counted, with --skip-bad-images 2 (also when only the
// end-of-run evaluation meets the held-out one).
TEST(BadImages, EvaluationSkipsFilesThatDoNotDecode) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "data";
  const std::string cut = folder_with_a_cut_jpeg(dir);
  const std::string held_out = dir + "/val/class1/9.jpg";
  write_text(held_out, kTruncatedJpeg);
  const std::string flags = kTinyRun + " --max-steps 2 --eval-every 1 --report false";
  auto r = run_twist("train --data folder:" + dir + flags + " --out " + (t / "stop"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "twist: error: ")) << r.output;

  r = run_twist("train --data folder:" + dir + flags + " --skip-bad-images 2 --out " + (t / "skip"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(occurrences(r.output, cut), 1u) << r.output;
  EXPECT_EQ(occurrences(r.output, held_out), 1u) << r.output;
  auto summary = nlohmann::json::parse(read_text(t / "skip/summary.json"));
  EXPECT_EQ(summary["skipped_images"].get<int64_t>(), 2) << summary.dump();
  EXPECT_EQ(summary.value("eval_split", ""), "val") << summary.dump();
  EXPECT_TRUE(summary.contains("knn_top1")) << summary.dump();
  EXPECT_EQ(occurrences(read_text(t / "skip/metrics.jsonl"), "\"eval_knn_top1\""), 2u);

  // Without curves the held-out file is met only by the end-of-run
  // evaluation, after the training's count: summary.json still counts it.
  r = run_twist("train --data folder:" + dir + kTinyRun + " --max-steps 4 --report false --skip-bad-images 2 --out " +
                (t / "end"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(occurrences(r.output, held_out), 1u) << r.output;
  summary = nlohmann::json::parse(read_text(t / "end/summary.json"));
  EXPECT_EQ(summary["skipped_images"].get<int64_t>(), 2) << summary.dump();
}

// skipping_bad_images sifts only for a file that does not read: another
// error passes through with nothing read or counted.
TEST(BadImages, OnlyImageErrorsAreSifted) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string cut = folder_with_a_cut_jpeg(t / "data");
  EXPECT_THROW(twist::read_image(cut), twist::ImageError);
  twist::Dataset d = twist::load_dataset("folder:" + (t / "data"), "train");
  twist::BadImages bad(5, /*announce=*/false);
  int calls = 0;
  EXPECT_THROW(twist::skipping_bad_images(&bad, {&d},
                                          [&] {
                                            ++calls;
                                            throw twist::Error("not about an image");
                                          }),
               twist::Error);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(bad.count(), 0);
  EXPECT_EQ(d.size(), 33);
  calls = 0;
  twist::skipping_bad_images(&bad, {&d}, [&] {
    ++calls;
    for (const auto& f : d.files) twist::read_image(f);
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(bad.count(), 1);
  EXPECT_EQ(d.size(), 32);
}

// The commands that read a run's data (eval, embed, finetune) pass over
// files that do not decode up to --skip-bad-images (by default the run's
// own allowance), count them and stop at the first without an allowance.
TEST(BadImages, EvalEmbedAndFinetuneSkipFilesThatDoNotDecode) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "data", run = t / "run";
  const std::string cut = folder_with_a_cut_jpeg(dir), held_out = dir + "/val/class1/9.jpg";
  write_text(held_out, kTruncatedJpeg);
  auto r = run_twist("train --data folder:" + dir + kTinyRun + " --max-steps 1 --report false --skip-bad-images 2 " +
                     "--out " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string on = " --run " + run + " --threads 2 --json";

  r = run_twist("eval knn" + on + " --skip-bad-images 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "twist: error: ")) << r.output;
  EXPECT_TRUE(contains(r.output, "--skip-bad-images")) << r.output;

  auto json_of = [](const CommandResult& c) {  // the --json line among the logs
    std::istringstream lines(c.output);
    std::string line, last;
    while (std::getline(lines, line))
      if (!line.empty() && line.front() == '{') last = line;
    return nlohmann::json::parse(last);
  };
  r = run_twist("eval knn" + on);  // the run's own allowance: 2
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = json_of(r);
  EXPECT_EQ(j["skipped_images"].get<int64_t>(), 2) << j.dump();
  EXPECT_EQ(j["train_images"].get<int64_t>(), 32) << j.dump();
  EXPECT_EQ(j["eval_images"].get<int64_t>(), 12) << j.dump();
  EXPECT_EQ(occurrences(r.output, held_out), 1u) << r.output;

  for (const std::string cmd : {"eval cluster", "eval cluster --method kmeans", "eval diagnostics --max-samples 8"}) {
    r = run_twist(cmd + on);
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
    EXPECT_EQ(json_of(r)["skipped_images"].get<int64_t>(), 1) << cmd << "\n" << r.output;  // the held-out split's
  }
  for (const std::string cmd :
       {"eval linear --epochs 1", "eval linear --epochs 1 --precomputed", "finetune --label-fraction 1 --epochs 1"}) {
    r = run_twist(cmd + on);
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
    EXPECT_EQ(json_of(r)["skipped_images"].get<int64_t>(), 2) << cmd << "\n" << r.output;
  }

  r = run_twist("embed" + on + " --data folder:" + dir + "@val --out " + (t / "f.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = json_of(r);
  EXPECT_EQ(j["rows"].get<int64_t>(), 12) << j.dump();
  EXPECT_EQ(j["skipped_files"], nlohmann::json::array({held_out})) << j.dump();
  EXPECT_EQ(twist::read_npy(t / "f.labels.npy").size(0), 12);
}

#ifdef TWIST_DIST_TESTS
// Under twist launch each rank meets the bad files of its own shard and
// names them in its own output; the summary that rank 0 writes counts
// every rank's, each once. 511 images, so that the normalization
// statistics, which every rank takes from 256 evenly spaced images (every
// second one here), pass over the bad files at odd places; the flip fixed,
// so that the mirror check does not sample them; one epoch (36 steps of
// 14), in which each file is read by one rank or none; no evaluation.
TEST(BadImages, ADistributedRunCountsEveryRanksFiles) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "train";
  auto gen = twist::make_generator(5, 0);
  std::vector<std::string> cut;
  for (int g = 0; g < 511; ++g) {
    const int k = g / 128;
    char name[32];
    std::snprintf(name, sizeof name, "/class%d/%03d", k, g % 128);
    if (g % 128 == 0) mkdirs(dir + "/class" + std::to_string(k));
    if (g == 129 || g == 387) {
      cut.push_back(dir + name + ".jpg");
      write_text(cut.back(), kTruncatedJpeg);
    } else {
      write_png(dir + name + ".png", {60 * k, 200 - 50 * k, 120}, 16, 16, gen);
    }
  }
  std::string flags = kTinyRun;
  flags.replace(flags.find("--threads 2"), 11, "--threads 1");
  flags.replace(flags.find("--batch-size 16"), 15, "--batch-size 14");
  const std::string rank = std::string("exec ") + TWIST_BIN + " train --data folder:" + dir + flags +
                           " --flip-p 0.5 --max-steps 36 --skip-bad-images 2 --eval false --report false --out " +
                           (t / "run") + " 2> " + (t / "rank") + "$RANK.log";
  auto r = run_command(std::string(TWIST_BIN) + " launch --nproc 2 -- sh -c '" + rank + "'");
  const std::string out0 = read_text(t / "rank0.log"), out1 = read_text(t / "rank1.log");
  ASSERT_EQ(r.exit_code, 0) << r.output << out0 << out1;
  // The precondition: this seed's shards put one bad file on each rank.
  ASSERT_NE(contains(out0, cut[0]), contains(out0, cut[1])) << out0;
  ASSERT_NE(contains(out1, cut[0]), contains(out1, cut[1])) << out1;
  ASSERT_NE(contains(out0, cut[0]), contains(out1, cut[0])) << out0 << out1;
  auto summary = nlohmann::json::parse(read_text(t / "run/summary.json"));
  EXPECT_EQ(summary["skipped_images"].get<int64_t>(), 2) << summary.dump();
  EXPECT_EQ(summary["steps"].get<int64_t>(), 36) << summary.dump();
}
#endif

}  // namespace bad_images_test
