// folder:DIR: the two layouts and the split layout, file-backed decoding
// (crop before resize, evaluation fit), the loader on files, bad folders,
// and a short `twist train` on a generated folder.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"
#include "twist/augment.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/image.h"
#include "twist/loader.h"
#include "twist/report.h"
#include "twist/train.h"

namespace {

using namespace twist::testing;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The line of a command's output that is its --json object.
std::string json_line(const std::string& output) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') return line;
  return "";
}

void mkdirs(const std::string& dir) { ASSERT_EQ(run_command("mkdir -p '" + dir + "'").exit_code, 0); }

// A C x H x W image filled with one value per channel.
torch::Tensor solid(std::vector<int> rgb, int64_t h, int64_t w) {
  auto v = torch::tensor(std::vector<int64_t>(rgb.begin(), rgb.end()), torch::kInt64).to(torch::kUInt8);
  return v.view({-1, 1, 1}).expand({int64_t(rgb.size()), h, w}).contiguous();
}

void write_png(const std::string& path, const torch::Tensor& image_u8) {
  write_text(path, twist::encode_png(image_u8));
}

// Binary PGM (one channel) or PPM (three) of a uint8 C x H x W image.
void write_pnm(const std::string& path, const torch::Tensor& image_u8) {
  const int64_t c = image_u8.size(0), h = image_u8.size(1), w = image_u8.size(2);
  auto hwc = image_u8.permute({1, 2, 0}).contiguous();
  std::string bytes =
      std::string(c == 1 ? "P5" : "P6") + "\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  bytes.append(reinterpret_cast<const char*>(hwc.data_ptr<uint8_t>()), size_t(hwc.numel()));
  write_text(path, bytes);
}

// The side a run trains at by default follows the images: the median
// shorter side of a sample, at most 224.
TEST(ImageFolder, DefaultSideIsTheImagesOwn) {
  TempDir t;
  mkdirs(t / "small/a");
  mkdirs(t / "small/b");
  for (int i = 0; i < 5; ++i) write_png(t / ("small/a/" + std::to_string(i) + ".png"), solid({1, 2, 3}, 30, 40));
  write_png(t / "small/b/odd.png", solid({1, 2, 3}, 12, 12));
  write_png(t / "small/b/big.png", solid({1, 2, 3}, 64, 64));
  EXPECT_EQ(twist::load_dataset("folder:" + (t / "small")).height(), 30);
  mkdirs(t / "large");
  for (int i = 0; i < 3; ++i) write_png(t / ("large/" + std::to_string(i) + ".png"), solid({9}, 300, 400));
  EXPECT_EQ(twist::load_dataset("folder:" + (t / "large")).height(), twist::kDefaultFileSide);
}

TEST(ImageFolder, ClassSubFoldersAreSortedClasses) {
  TempDir t;
  const std::string dir = t / "pets";
  for (const char* c : {"dog", "ant", "cat"}) mkdirs(dir + "/" + c);
  mkdirs(dir + "/cat/more");
  mkdirs(dir + "/.cache");
  write_png(dir + "/cat/b.png", solid({1, 2, 3}, 4, 5));
  write_pnm(dir + "/cat/a.pgm", solid({7}, 3, 3));
  write_png(dir + "/cat/more/c.PNG", solid({1, 2, 3}, 4, 5));  // nested, upper-case extension
  write_png(dir + "/dog/d.png", solid({9, 9, 9}, 2, 2));
  write_pnm(dir + "/ant/e.ppm", solid({4, 5, 6}, 2, 2));
  write_text(dir + "/cat/notes.txt", "not an image");
  write_text(dir + "/.cache/x.png", "ignored: hidden");
  write_text(dir + "/README", "ignored: not an image name");

  twist::Dataset d = twist::load_dataset("folder:" + dir);
  EXPECT_EQ(d.name, "folder:" + dir);
  EXPECT_TRUE(d.file_backed());
  EXPECT_FALSE(d.images.defined());
  ASSERT_EQ(d.size(), 5);
  EXPECT_EQ(d.channels(), 3);
  EXPECT_EQ(d.height(), 8);  // the median shorter side (3 px), raised to the 8-pixel floor
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"ant", "cat", "dog"}));
  EXPECT_EQ(d.num_classes, 3);
  EXPECT_EQ(d.files, (std::vector<std::string>{dir + "/ant/e.ppm", dir + "/cat/a.pgm", dir + "/cat/b.png",
                                               dir + "/cat/more/c.PNG", dir + "/dog/d.png"}));
  ASSERT_TRUE(d.has_labels());
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0, 1, 1, 1, 2}, torch::kInt64)));
  EXPECT_FALSE(twist::has_split("folder:" + dir, "test"));

  // A subset keeps the file-backed form, its labels and class names.
  auto sub = d.subset(torch::tensor({4, 0}, torch::kInt64), "[s]");
  EXPECT_EQ(sub.files, (std::vector<std::string>{dir + "/dog/d.png", dir + "/ant/e.ppm"}));
  EXPECT_TRUE(torch::equal(sub.labels, torch::tensor({2, 0}, torch::kInt64)));
  EXPECT_EQ(sub.class_names, d.class_names);
}

TEST(ImageFolder, FlatFolderIsUnlabelled) {
  TempDir t;
  const std::string dir = t / "flat";
  mkdirs(dir + "/empty-subfolder");
  write_png(dir + "/b.png", solid({1, 2, 3}, 4, 5));
  write_pnm(dir + "/a.pgm", solid({7}, 3, 3));
  twist::Dataset d = twist::load_dataset("folder:" + dir);
  EXPECT_EQ(d.files, (std::vector<std::string>{dir + "/a.pgm", dir + "/b.png"}));
  EXPECT_FALSE(d.has_labels());
  EXPECT_EQ(d.num_classes, 0);
}

TEST(ImageFolder, SplitLayoutUsesTheTrainClasses) {
  TempDir t;
  const std::string dir = t / "inet";
  for (const char* c : {"train/a", "train/b", "train/c", "val/b", "val/c"}) mkdirs(dir + "/" + c);
  for (const char* f : {"train/a/1.png", "train/b/2.png", "train/c/3.png", "val/b/4.png", "val/c/5.png"})
    write_png(dir + "/" + f, solid({0, 0, 0}, 2, 2));
  const std::string spec = "folder:" + dir;
  twist::Dataset train = twist::load_dataset(spec);  // the default split is train
  EXPECT_EQ(train.name, spec + "@train");
  EXPECT_EQ(train.size(), 3);
  twist::Dataset val = twist::load_dataset(spec + "@val");
  EXPECT_EQ(val.name, spec + "@val");
  EXPECT_EQ(val.class_names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(val.num_classes, 3);
  EXPECT_TRUE(torch::equal(val.labels, torch::tensor({1, 2}, torch::kInt64)));  // b and c, as in train
  EXPECT_TRUE(twist::has_split(spec, "val"));
  EXPECT_FALSE(twist::has_split(spec, "test"));
  // Without DIR/test the run is judged on DIR/val, ImageNet's layout.
  twist::TrainEvalSplits s = twist::load_train_eval_splits(spec, 0);
  EXPECT_EQ(s.eval_name, "val");
  EXPECT_EQ(s.eval.size(), 2);
  EXPECT_EQ(s.train.size(), 3);

  auto e = error_of([&] { twist::load_dataset(spec + "@test"); });
  EXPECT_TRUE(contains(e, "folder '" + dir + "' has no test split: '" + dir + "/test' does not exist")) << e;
  mkdirs(dir + "/test/z");
  write_png(dir + "/test/z/6.png", solid({0, 0, 0}, 2, 2));
  e = error_of([&] { twist::load_dataset(spec + "@test"); });
  EXPECT_TRUE(contains(e, "class folder '" + dir + "/test/z' is not a class of the train split")) << e;
  // A folder without splits refuses a split suffix.
  e = error_of([&] { twist::load_dataset("folder:" + dir + "/val@train"); });
  EXPECT_TRUE(contains(e, "has no splits (no train/ sub-folder), so @train does not apply")) << e;
}

TEST(ImageFolder, DataSpecAcceptsFolderAndItsSplits) {
  auto s = twist::parse_data_spec("folder:/d/x@val");
  EXPECT_EQ(s.kind, "folder");
  EXPECT_EQ(s.path, "/d/x");
  EXPECT_EQ(s.split, "val");
  EXPECT_EQ(twist::parse_data_spec("folder:/d").split, "");
  auto e = error_of([] { twist::parse_data_spec("folder:/d@unlabeled"); });
  EXPECT_TRUE(contains(e, "unknown split 'unlabeled' (use @train, @val or @test)")) << e;
  e = error_of([] { twist::parse_data_spec("folder:"); });
  EXPECT_TRUE(contains(e, "folder: needs a directory, e.g. folder:/data/imagenet")) << e;
}

TEST(ImageFolder, BadFoldersNameTheRule) {
  TempDir t;
  auto e = error_of([&] { twist::load_dataset("folder:" + (t / "none")); });
  EXPECT_TRUE(contains(e, "data directory '" + (t / "none") + "' does not exist")) << e;

  mkdirs(t / "empty");
  e = error_of([&] { twist::load_dataset("folder:" + (t / "empty")); });
  EXPECT_TRUE(contains(e, "folder '" + (t / "empty") + "' is empty: expected images")) << e;

  mkdirs(t / "text");
  write_text(t / "text/a.txt", "x");
  e = error_of([&] { twist::load_dataset("folder:" + (t / "text")); });
  EXPECT_TRUE(contains(e, "folder '" + (t / "text") + "' holds no images (.jpg, .jpeg, .png, .pgm, .ppm or .bmp)"))
      << e;

  mkdirs(t / "mixed/cat");
  write_png(t / "mixed/top.png", solid({0}, 2, 2));
  write_png(t / "mixed/cat/a.png", solid({0}, 2, 2));
  e = error_of([&] { twist::load_dataset("folder:" + (t / "mixed")); });
  EXPECT_TRUE(contains(e,
                       "mixes images ('top.png') with class sub-folders of images ('cat/'): a folder holds "
                       "either one sub-folder of images per class (labelled) or images only (unlabelled)"))
      << e;

  mkdirs(t / "hole/cat");
  mkdirs(t / "hole/dog");
  write_png(t / "hole/cat/a.png", solid({0}, 2, 2));
  write_text(t / "hole/dog/a.txt", "x");
  e = error_of([&] { twist::load_dataset("folder:" + (t / "hole")); });
  EXPECT_TRUE(contains(e, "class folder '" + (t / "hole/dog") + "' holds no images")) << e;

  // A corrupt image is found when it is decoded, and named.
  if (!twist::image_decoding_available()) return;
  mkdirs(t / "bad");
  write_png(t / "bad/good.png", solid({0}, 2, 2));
  write_text(t / "bad/broken.png", "\x89PNG\r\n\x1a\n not really");
  twist::Dataset d = twist::load_dataset("folder:" + (t / "bad"));
  e = error_of([&] { twist::in_memory(d, 8); });
  EXPECT_TRUE(contains(e, t / "bad/broken.png")) << e;

  // Too large to decode whole: the limit is named, nothing is allocated.
  e = error_of([&] { twist::in_memory(d, 20000); });
  EXPECT_TRUE(contains(e, "above twist's 1024 MiB limit for holding an image folder in memory")) << e;
}

// Two colours side by side, 16 wide. Resampled to 16 x 16 (the columns
// at their own scale, the rows enlarged 4x) every pixel keeps its colour.
// Reduced to 4 columns, antialiased: output column u weighs input column j
// by k((j + 0.5 - (4u + 2)) / 4), k the a = -0.5 cubic, taps past the
// edges dropped and the rest normalized; summed by hand, the share of the
// right colour is -0.0137566 in column 0 and 0.0761813 in column 1
// (columns 3 and 2 mirror them).
TEST(CropThenResize, FullBoxOfTwoColoursGivesExactPixels) {
  auto img = torch::cat({solid({200, 10, 0}, 4, 8), solid({50, 90, 255}, 4, 8)}, 2);  // 3 x 4 x 16
  auto box = torch::tensor({0.0f, 0.0f, 4.0f, 16.0f});
  auto a = torch::tensor({200.0f, 10.0f, 0.0f}).view({3, 1}) / 255.0;
  auto b = torch::tensor({50.0f, 90.0f, 255.0f}).view({3, 1}) / 255.0;
  auto same = twist::crop_then_resize(img, box, 16, false);
  auto expect = torch::cat({a.expand({3, 8}), b.expand({3, 8})}, 1);  // 3 x 16
  for (int64_t y = 0; y < 16; ++y) EXPECT_TRUE(torch::allclose(same[0].select(1, y), expect, 0, 1e-5)) << y;
  auto out = twist::crop_then_resize(img, box, 4, false);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
  auto mix = [&](const torch::Tensor& from, const torch::Tensor& to, double share) {
    return (from + share * (to - from)).clamp(0, 1).squeeze(1);
  };
  auto want =
      torch::stack({mix(a, b, -0.0137566), mix(a, b, 0.0761813), mix(b, a, 0.0761813), mix(b, a, -0.0137566)}, 1);
  for (int64_t y = 0; y < 4; ++y) EXPECT_TRUE(torch::allclose(out[0].select(1, y), want, 0, 1e-5)) << y;
  auto flipped = twist::crop_then_resize(img, box, 4, true);
  EXPECT_TRUE(torch::allclose(flipped, out.flip({3}), 0, 1e-6));
  // A box inside one half sees one colour only.
  auto left = twist::crop_then_resize(img, torch::tensor({1.0f, 2.0f, 3.0f, 5.0f}), 6, false);
  EXPECT_TRUE(torch::allclose(left[0], a.view({3, 1, 1}).expand({3, 6, 6}), 0, 1e-5));
}

// Cropping the box then resizing only it (what the loader does on a file)
// equals the reference "decode whole, crop, resize" done with a different
// implementation, torch's bicubic interpolate, within float rounding: plain
// where the box is enlarged, antialiased (as PIL's resize) where reduced.
TEST(CropThenResize, MatchesCropOfTheWholeImageThenResize) {
  auto gen = twist::make_generator(7, 0);
  auto img = (torch::rand({3, 300, 400}, gen) * 255).round().to(torch::kUInt8);
  namespace F = torch::nn::functional;
  auto reference = [&](int64_t top, int64_t left, int64_t h, int64_t w, int64_t size, bool antialias) {
    return F::interpolate(img.to(torch::kFloat32).div(255.0).narrow(1, top, h).narrow(2, left, w).unsqueeze(0),
                          F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{size, size})
                              .mode(torch::kBicubic)
                              .align_corners(false)
                              .antialias(antialias))
        .clamp(0, 1);
  };
  auto box = [](int64_t top, int64_t left, int64_t h, int64_t w) {
    return torch::tensor({float(top), float(left), float(h), float(w)});
  };
  // Enlarged: 20 x 24 -> 32.
  auto up = twist::crop_then_resize(img, box(37, 51, 20, 24), 32, false);
  EXPECT_LT((up - reference(37, 51, 20, 24, 32, false)).abs().max().item<double>(), 1e-5);
  // Reduced: 120 x 200 -> 32; without the antialiasing it would alias.
  auto down = twist::crop_then_resize(img, box(37, 51, 120, 200), 32, false);
  EXPECT_LT((down - reference(37, 51, 120, 200, 32, true)).abs().max().item<double>(), 1e-5);
  EXPECT_GT((down - reference(37, 51, 120, 200, 32, false)).abs().max().item<double>(), 0.05);
  // The whole image, reduced: every edge of the box on the image's edge.
  auto whole = twist::crop_then_resize(img, box(0, 0, 300, 400), 56, true);
  EXPECT_LT((whole - reference(0, 0, 300, 400, 56, true).flip({3})).abs().max().item<double>(), 1e-5);
}

// Antialiasing: a one-pixel checkerboard reduced 4x is its mean grey (0.5)
// everywhere but at the edges; plain bicubic sampling would alias it.
TEST(CropThenResize, ReducingAFinePatternGivesItsMean) {
  auto idx = torch::arange(64);
  auto board = ((idx.view({64, 1}) + idx.view({1, 64})) % 2 * 255).to(torch::kUInt8).expand({3, 64, 64}).contiguous();
  auto out = twist::crop_then_resize(board, torch::tensor({0.0f, 0.0f, 64.0f, 64.0f}), 16, false);
  auto inner = out.narrow(2, 2, 12).narrow(3, 2, 12);
  EXPECT_LT((inner - 0.5).abs().max().item<double>(), 0.01);
}

// Per-sample boxes: each lies inside its own image; a batch of one size
// draws exactly what the single-size form draws.
TEST(RandomCropBoxes, PerSampleSizesStayInsideEachImage) {
  auto g1 = twist::make_generator(3, 1), g2 = twist::make_generator(3, 1);
  auto one = twist::random_crop_boxes(64, 20, 30, 0.08, 1.0, 0.75, 4.0 / 3.0, g1);
  auto per = twist::random_crop_boxes(torch::full({64}, 20, torch::kInt64), torch::full({64}, 30, torch::kInt64), 0.08,
                                      1.0, 0.75, 4.0 / 3.0, g2);
  EXPECT_TRUE(torch::equal(one, per));
  auto g3 = twist::make_generator(4, 1);
  auto hs = torch::tensor({10, 500, 37, 3}, torch::kInt64), ws = torch::tensor({400, 20, 37, 90}, torch::kInt64);
  auto boxes = twist::random_crop_boxes(hs, ws, 0.05, 0.4, 0.75, 4.0 / 3.0, g3);
  for (int64_t i = 0; i < 4; ++i) {
    auto b = boxes[i];
    EXPECT_GE(b[0].item<float>(), 0);
    EXPECT_GE(b[1].item<float>(), 0);
    EXPECT_LE(b[0].item<float>() + b[2].item<float>(), hs[i].item<int64_t>()) << i;
    EXPECT_LE(b[1].item<float>() + b[3].item<float>(), ws[i].item<int64_t>()) << i;
  }
}

TEST(InMemory, FitsEachImageAndMakesGreyRgb) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "f";
  mkdirs(dir);
  write_png(dir + "/a.png", solid({10, 20, 30}, 40, 60));
  write_pnm(dir + "/b.pgm", solid({77}, 30, 12));
  twist::Dataset files = twist::load_dataset("folder:" + dir);
  EXPECT_EQ(twist::in_memory_bytes(files, 8), 2 * 3 * 8 * 8);
  twist::Dataset d = twist::in_memory(files, 8);
  EXPECT_FALSE(d.file_backed());
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 3, 8, 8}));
  EXPECT_TRUE(torch::equal(d.images[0], solid({10, 20, 30}, 8, 8)));
  EXPECT_TRUE(torch::equal(d.images[1], solid({77, 77, 77}, 8, 8)));
  // An in-memory set passes through untouched.
  EXPECT_TRUE(twist::in_memory(d, 4).images.is_same(d.images));
  // Statistics of a file-backed set come from its decoded images.
  auto n = twist::channel_statistics(files);
  ASSERT_EQ(n.mean.size(), 3u);
  EXPECT_NEAR(n.mean[0], (10 + 77) / 2.0 / 255, 1e-6);
  EXPECT_NEAR(n.mean[2], (30 + 77) / 2.0 / 255, 1e-6);
}

// The loader decodes a file-backed batch on its worker: views of the
// requested sizes, a pure function of (seed, step), and a corrupt file is
// one error naming it.
TEST(FileBackedLoader, DecodesBatchesAndReportsACorruptFile) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "f";
  mkdirs(dir);
  for (int i = 0; i < 8; ++i)
    write_png(dir + "/" + std::to_string(i) + ".png", solid({i * 30, 100, 200 - i * 20}, 20 + 3 * i, 30 - 2 * i));
  write_pnm(dir + "/grey.pgm", solid({128}, 25, 25));
  twist::Dataset d = twist::load_dataset("folder:" + dir);
  ASSERT_EQ(d.size(), 9);
  twist::EpochSampler sampler(d.size(), 4, 11);
  auto crops = twist::MultiCropOptions::paper(12, 2, 6);
  twist::Normalization norm{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
  auto a = twist::BatchLoader::make_batch(d, sampler, crops, norm, 5, 1);
  auto b = twist::BatchLoader::make_batch(d, sampler, crops, norm, 5, 1);
  ASSERT_EQ(a.views.size(), 4u);
  EXPECT_EQ(a.views[0].sizes(), (std::vector<int64_t>{4, 3, 12, 12}));
  EXPECT_EQ(a.views[3].sizes(), (std::vector<int64_t>{4, 3, 6, 6}));
  for (size_t v = 0; v < a.views.size(); ++v) EXPECT_TRUE(torch::equal(a.views[v], b.views[v])) << v;

  // Break a file that the first batch reads.
  const std::string broken = d.files[size_t(sampler.indices(0)[2].item<int64_t>())];
  write_text(broken, "\x89PNG\r\n\x1a\n cut");
  twist::BatchLoader loader(d, sampler, crops, norm, 5, 0, 2, {2, 2});
  const std::string e = error_of([&] {
    loader.next();
    loader.next();
  });
  EXPECT_TRUE(contains(e, "'" + broken + "'")) << e;
}

// A short run on a generated split folder: 4 classes of coloured,
// differently sized PNGs, judged on DIR/val; a corrupt file stops the run
// with one line naming it.
TEST(ImageFolder, TrainsEndToEnd) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "data";
  auto gen = twist::make_generator(1, 2);
  const std::vector<std::vector<int>> colours = {{220, 30, 30}, {30, 220, 30}, {30, 30, 220}, {220, 220, 30}};
  for (const char* split : {"train", "val"}) {
    const int n = std::string(split) == "train" ? 8 : 3;
    for (int k = 0; k < 4; ++k) {
      const std::string cdir = dir + "/" + split + "/class" + std::to_string(k);
      mkdirs(cdir);
      for (int i = 0; i < n; ++i) {
        auto img = solid(colours[size_t(k)], 18 + i, 22 - i).to(torch::kFloat32);
        img = (img + torch::randn(img.sizes(), gen) * 20).clamp(0, 255).to(torch::kUInt8);
        write_png(cdir + "/" + std::to_string(i) + ".png", img);
      }
    }
  }
  const std::string flags =
      " --image-size 16 --batch-size 16 --width 0.125 --hidden 32 --classes 4 --precision fp32 "
      "--warmup-epochs 1 --max-steps 4 --log-every 1 --threads 2 --knn-k 3 --report false";
  auto r = run_twist("train --data folder:" + dir + flags + " --json --out " + (t / "run"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "folder:" + dir + "@train, 32 images 3x16x16")) << r.output;
  auto summary = nlohmann::json::parse(read_text(t / "run/summary.json"));
  EXPECT_EQ(summary["steps"].get<int64_t>(), 4);
  EXPECT_TRUE(summary.contains("knn_top1")) << summary.dump();
  EXPECT_EQ(summary.value("eval_split", ""), "val") << summary.dump();
  // twist eval knn streams the folder, its feature banks in memory or spilled
  // to temporary files at once: the figures of the run's own evaluation.
  for (const std::string memory : {"", " --bank-memory 0"}) {
    r = run_twist("eval knn --run " + (t / "run") + " --threads 2 --json" + memory);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto knn = nlohmann::json::parse(r.output.substr(r.output.rfind("{\"top1\"")));
    EXPECT_DOUBLE_EQ(knn["top1"].get<double>(), summary["knn_top1"].get<double>()) << memory;
    EXPECT_DOUBLE_EQ(knn["top5"].get<double>(), summary["knn_top5"].get<double>()) << memory;
  }
  // So does the run's own evaluation with its banks spilled at once
  // (--bank-memory 0): the same figures, written to config.json.
  r = run_twist("train --data folder:" + dir + flags + " --bank-memory 0 --json --out " + (t / "spilled"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto spilled = nlohmann::json::parse(read_text(t / "spilled/summary.json"));
  EXPECT_DOUBLE_EQ(spilled["knn_top1"].get<double>(), summary["knn_top1"].get<double>());
  EXPECT_EQ(nlohmann::json::parse(read_text(t / "spilled/config.json"))["bank_memory"].get<int64_t>(), 0);
  r = run_twist("train --data folder:" + dir + flags + " --bank-memory -1 --out " + (t / "refused"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "bank_memory")) << r.output;
  // The precomputed linear probe streams the folder's features too.
  r = run_twist("eval linear --precomputed --epochs 2 --batch-size 8 --run " + (t / "run") + " --threads 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto linear = nlohmann::json::parse(r.output.substr(r.output.rfind("{\"top1\"")));
  EXPECT_GE(linear["top1"].get<double>(), 0.0);
  EXPECT_EQ(linear["mode"], "precomputed");

  write_text(dir + "/train/class2/5.png", "\x89PNG\r\n\x1a\n cut");
  r = run_twist("train --data folder:" + dir + flags + " --out " + (t / "bad"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "twist: error:")) << r.output;
  EXPECT_TRUE(contains(r.output, dir + "/train/class2/5.png")) << r.output;
}

// The class folders are listed on several threads: the order (classes
// sorted, then paths) and the labels are those of one sorted walk, with
// nested folders, a folder named like an image, symlinks to a file and to
// a class folder, and more classes than threads.
TEST(ImageFolder, ParallelListingKeepsTheSortedOrder) {
  TempDir t;
  const std::string dir = t / "many";
  std::vector<std::string> expected;
  std::vector<int64_t> labels;
  for (int k = 19; k >= 0; --k) {  // made in reverse order
    char name[8];
    std::snprintf(name, sizeof name, "c%02d", k);
    mkdirs(dir + "/" + name + "/dir.png");
    for (int i = 0; i < k % 5 + 1; ++i) write_text(dir + "/" + name + "/" + std::to_string(7 - i) + ".pgm", "P5");
    write_text(dir + "/" + name + "/dir.png/x.png", "nested");
  }
  ASSERT_EQ(run_command("ln -s '" + dir + "/c03/7.pgm' '" + dir + "/c05/link.png'").exit_code, 0);
  ASSERT_EQ(run_command("ln -s '" + dir + "/c01' '" + dir + "/c20'").exit_code, 0);
  for (int k = 0; k <= 20; ++k) {
    char name[8];
    std::snprintf(name, sizeof name, "c%02d", k);
    const int n = (k == 20 ? 1 : k) % 5 + 1;  // c20 is c01
    std::vector<std::string> files;
    for (int i = 0; i < n; ++i) files.push_back(dir + "/" + name + "/" + std::to_string(7 - i) + ".pgm");
    files.push_back(dir + "/" + name + "/dir.png/x.png");
    if (k == 5) files.push_back(dir + "/" + name + "/link.png");
    std::sort(files.begin(), files.end());
    expected.insert(expected.end(), files.begin(), files.end());
    labels.insert(labels.end(), files.size(), k);
  }
  twist::Dataset d = twist::load_dataset("folder:" + dir);
  EXPECT_EQ(d.num_classes, 21);
  EXPECT_EQ(d.files, expected);
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor(labels, torch::kInt64)));
  // A second listing is the same.
  EXPECT_EQ(twist::load_dataset("folder:" + dir).files, expected);
}

// Starting a run on a folder decodes a bounded sample (16 images for the
// side, 256 for the normalization, then the batches), never every image
// to learn the folder's size: 600 images, one step of 4.
TEST(ImageFolder, TrainingStartDecodesABoundedSample) {
  TempDir t;
  const std::string dir = t / "big";
  for (int k = 0; k < 2; ++k) {
    mkdirs(dir + "/c" + std::to_string(k));
    for (int i = 0; i < 300; ++i)
      write_pnm(dir + "/c" + std::to_string(k) + "/" + std::to_string(i) + ".pgm", solid({40 + 100 * k}, 8, 9));
  }
  twist::TrainConfig cfg;
  cfg.data = "folder:" + dir;
  cfg.out = t / "run";
  cfg.image_size = 16;
  cfg.batch_size = 4;
  cfg.width = 0.125;
  cfg.hidden = 32;
  cfg.classes = 4;
  cfg.threads = 1;
  cfg.loader_workers = 0;  // no batches made ahead
  cfg.precision = "fp32";
  cfg.stop_after_steps = 1;
  cfg.eval = false;
  cfg.report = false;
  const int64_t before = twist::image_reads();
  const twist::TrainSummary s = twist::train(cfg, false);
  const int64_t reads = twist::image_reads() - before;
  EXPECT_EQ(s.steps, 1);
  EXPECT_LE(reads, 16 + 256 + 4);
  EXPECT_GE(reads, 4);
}

// A run on unlabelled images (a folder of images only, or the train split
// of a labelled folder named by @train) trains without an evaluation set;
// twist eval then judges it on a labelled folder's val split.
TEST(ImageFolder, UnlabelledTrainingIsEvaluatedOnALabelledVal) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without PNG decoding (libstb-dev)";
  TempDir t;
  const std::string dir = t / "data", flat = t / "flat";
  mkdirs(flat);
  auto gen = twist::make_generator(1, 3);
  const std::vector<std::vector<int>> colours = {{220, 30, 30}, {30, 220, 30}, {30, 30, 220}, {220, 220, 30}};
  for (const char* split : {"train", "val"})
    for (int k = 0; k < 4; ++k) {
      const std::string cdir = dir + "/" + split + "/class" + std::to_string(k);
      mkdirs(cdir);
      for (int i = 0; i < (std::string(split) == "train" ? 8 : 3); ++i) {
        auto img = solid(colours[size_t(k)], 18 + i, 22 - i).to(torch::kFloat32);
        img = (img + torch::randn(img.sizes(), gen) * 20).clamp(0, 255).to(torch::kUInt8);
        write_png(cdir + "/" + std::to_string(i) + ".png", img);
        if (std::string(split) == "train") write_png(flat + "/" + std::to_string(k * 8 + i) + ".png", img);
      }
    }
  const std::string flags =
      " --image-size 16 --batch-size 16 --width 0.125 --hidden 32 --classes 4 --precision fp32 "
      "--warmup-epochs 1 --max-steps 2 --threads 2 --knn-k 3 --report false";
  for (const std::string& spec : {"folder:" + dir + "@train", "folder:" + flat}) {
    const std::string run = t / ("run" + std::to_string(spec.size()));
    auto r = run_twist("train --data " + spec + flags + " --out " + run);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto summary = nlohmann::json::parse(read_text(run + "/summary.json"));
    EXPECT_FALSE(summary.contains("knn_top1")) << summary.dump();  // nothing held out to judge on
    r = run_twist("eval knn --run " + run + " --data folder:" + dir + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(
        contains(r.output, "on folder:" + dir + "@val (12 images) against folder:" + dir + "@train (32 images)"))
        << r.output;
    auto j = nlohmann::json::parse(json_line(r.output));
    EXPECT_GE(j["top1"].get<double>(), 0.0) << r.output;
  }
}

}  // namespace
