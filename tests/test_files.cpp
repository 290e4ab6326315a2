// Files twist reads and writes for other tools: .npy arrays, label lists,
// label subsets, image files (JPEGs decoded at the scale a crop needs
// too), the torchvision export.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <tuple>

#include "test_util.h"
#include "twist/augment.h"
#include "twist/bad_images.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/export.h"
#include "twist/image.h"
#include "twist/loader.h"
#include "twist/npy.h"

#if __has_include(<stb/stb_image_write.h>)
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
#define HAVE_STB_WRITE 1
#endif

namespace {

using namespace twist;
using namespace twist::testing;

// --- .npy -------------------------------------------------------------------

TEST(Npy, RoundTripsAndWritesNumpysHeader) {
  TempDir dir;
  auto x = torch::arange(6, torch::kFloat32).view({2, 3});
  write_npy(dir / "x.npy", x);
  const std::string bytes = read_text(dir / "x.npy");
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);  // the format's alignment
  const std::string header = bytes.substr(10, header_len);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (2,3)"), std::string::npos) << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(bytes.size(), 10 + header_len + 6 * 4);
  EXPECT_TRUE(torch::equal(read_npy(dir / "x.npy"), x));

  auto labels = torch::tensor({3, 1, 4, 1}, torch::kInt64);
  write_npy(dir / "l.npy", labels);
  EXPECT_NE(read_text(dir / "l.npy").find("'shape': (4,)"), std::string::npos);  // 1-tuple
  EXPECT_TRUE(torch::equal(read_npy(dir / "l.npy"), labels));
}

TEST(Npy, NumpyReadsWhatTwistWrites) {
  if (run_command("/usr/bin/python3 -c 'import numpy' 2>/dev/null").exit_code != 0)
    GTEST_SKIP() << "python3 with numpy is not installed (apt install python3-numpy)";
  TempDir dir;
  write_npy(dir / "x.npy", torch::arange(12, torch::kFloat32).view({3, 4}) / 2);
  auto r = run_command("/usr/bin/python3 -c \"import numpy as n; a = n.load('" + (dir / "x.npy") +
                       "'); print(a.dtype, a.shape, a.sum(), a[2, 3])\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "float32 (3, 4) 33.0 5.5\n");  // sum(0..11)/2 = 33
  write_npy(dir / "h.npy", (torch::arange(12, torch::kFloat32).view({3, 4}) / 2).to(torch::kHalf));
  r = run_command("/usr/bin/python3 -c \"import numpy as n; a = n.load('" + (dir / "h.npy") +
                  "'); print(a.dtype, a.shape, a.sum(), a[2, 3])\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "float16 (3, 4) 33.0 5.5\n");
}

TEST(Npy, RejectsMalformedFiles) {
  TempDir dir;
  write_npy(dir / "good.npy", torch::ones({4, 4}));
  const std::string good = read_text(dir / "good.npy");
  write_text(dir / "magic.npy", "GARBAGE!" + good.substr(8));
  EXPECT_NE(error_of([&] { read_npy(dir / "magic.npy"); }).find("bad magic"), std::string::npos);
  write_text(dir / "short.npy", good.substr(0, good.size() - 5));
  EXPECT_NE(error_of([&] { read_npy(dir / "short.npy"); }).find("truncated"), std::string::npos);
  write_text(dir / "long.npy", good + "xx");
  EXPECT_NE(error_of([&] { read_npy(dir / "long.npy"); }).find("after the array"), std::string::npos);
  std::string complex = good;
  complex.replace(complex.find("<f4"), 3, "<c8");
  write_text(dir / "complex.npy", complex);
  EXPECT_NE(error_of([&] { read_npy(dir / "complex.npy"); }).find("unsupported .npy dtype"), std::string::npos);
  std::string huge = good;
  huge.replace(huge.find("(4,4)"), 5, "(9999999999,9999999999)");
  write_text(dir / "huge.npy", huge.substr(0, 128));
  EXPECT_NE(error_of([&] { read_npy(dir / "huge.npy"); }).find("huge.npy"), std::string::npos);
  EXPECT_NE(error_of([&] { read_npy(dir / "missing.npy"); }).find("missing.npy"), std::string::npos);
}

// --- label subsets and lists ----------------------------------------------------

TEST(LabelSubset, IsClassBalancedSeededAndSorted) {
  // 100 of class 0, 50 of class 1, 10 of class 2, interleaved.
  std::vector<int64_t> v;
  for (int i = 0; i < 100; ++i) v.push_back(0);
  for (int i = 0; i < 50; ++i) v.push_back(1);
  for (int i = 0; i < 10; ++i) v.push_back(2);
  torch::manual_seed(0);
  auto labels = torch::tensor(v, torch::kInt64).index_select(0, torch::randperm(160));
  auto s = balanced_label_subset(labels, 0.1, 7);
  auto counts = torch::bincount(labels.index_select(0, s), {}, 3);
  EXPECT_EQ(counts[0].item<int64_t>(), 10);
  EXPECT_EQ(counts[1].item<int64_t>(), 5);
  EXPECT_EQ(counts[2].item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(s, std::get<0>(s.sort())));
  EXPECT_TRUE(torch::equal(s, balanced_label_subset(labels, 0.1, 7)));   // same seed, same subset
  EXPECT_FALSE(torch::equal(s, balanced_label_subset(labels, 0.1, 8)));  // another seed, another
  EXPECT_EQ(balanced_label_subset(labels, 0.001, 7).numel(), 3);         // at least one per class
  EXPECT_TRUE(torch::equal(balanced_label_subset(labels, 1.0, 7), torch::arange(160)));
  EXPECT_THROW(balanced_label_subset(labels, 0.0, 7), twist::Error);
  EXPECT_THROW(balanced_label_subset(labels, 1.5, 7), twist::Error);
}

TEST(IndexList, RoundTripsAndRejectsBadLines) {
  TempDir dir;
  auto idx = torch::tensor({5, 0, 17}, torch::kInt64);
  write_index_list(dir / "l.txt", idx);
  EXPECT_EQ(read_text(dir / "l.txt"), "5\n0\n17\n");
  EXPECT_TRUE(torch::equal(read_index_list(dir / "l.txt", 18), idx));
  EXPECT_NE(error_of([&] { read_index_list(dir / "l.txt", 17); }).find("line 3: index 17 is outside"),
            std::string::npos);
  write_text(dir / "bad.txt", "1\n2 x\n");
  EXPECT_NE(error_of([&] { read_index_list(dir / "bad.txt", 10); }).find("line 2"), std::string::npos);
  write_text(dir / "dup.txt", "1\n2\n1\n");
  EXPECT_NE(error_of([&] { read_index_list(dir / "dup.txt", 10); }).find("repeats"), std::string::npos);
  write_text(dir / "empty.txt", "");
  EXPECT_NE(error_of([&] { read_index_list(dir / "empty.txt", 10); }).find("no index"), std::string::npos);
}

// --- image files ---------------------------------------------------------------

TEST(Image, FitsToTheModelsChannelsAndSize) {
  // RGB (10, 20, 30) everywhere -> grey 0.299*10 + 0.587*20 + 0.114*30 = 18.15.
  auto rgb = torch::tensor({10, 20, 30}, torch::kUInt8).view({3, 1, 1}).expand({3, 40, 20}).contiguous();
  auto grey = fit_image(rgb, 1, 10);
  ASSERT_EQ(grey.sizes(), (std::vector<int64_t>{1, 10, 10}));  // shorter side 20 -> 10, centre crop
  EXPECT_EQ(grey.min().item<int>(), 18);
  EXPECT_EQ(grey.max().item<int>(), 18);
  auto back = fit_image(grey, 3, 10);
  ASSERT_EQ(back.sizes(), (std::vector<int64_t>{3, 10, 10}));
  EXPECT_TRUE(torch::equal(back[0], back[2]));
  // Centre crop: a 2x6 image whose middle columns are bright keeps them.
  auto strip = torch::zeros({1, 2, 6}, torch::kUInt8);
  strip.narrow(2, 2, 2).fill_(200);
  auto c = fit_image(strip, 1, 2);
  EXPECT_EQ(c.sum().item<int64_t>(), 4 * 200);
  // Enlarging works too.
  EXPECT_EQ(fit_image(strip, 1, 8).sizes(), (std::vector<int64_t>{1, 8, 8}));
}

TEST(Image, ReadsPgmAndRejectsNonImages) {
  if (!image_decoding_available()) GTEST_SKIP() << "built without image decoding (libstb-dev)";
  TempDir dir;
  // Binary PGM, 3 wide x 2 high.
  write_text(dir / "a.pgm", std::string("P5\n3 2\n255\n") + std::string("\x00\x10\x20\x30\x40\xff", 6));
  auto img = read_image(dir / "a.pgm");
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(img[0][1][2].item<int>(), 255);
  EXPECT_EQ(img[0][1][0].item<int>(), 0x30);
  // PPM with a comment, 16-bit samples (big-endian, maxval 1023) and a
  // 4-bit PGM: values scaled to 0..255.
  write_text(dir / "b.ppm", std::string("P6 # made by hand\n1 1 1023\n") + std::string("\x03\xff\x00\x00\x02\x00", 6));
  auto ppm = read_image(dir / "b.ppm");
  ASSERT_EQ(ppm.sizes(), (std::vector<int64_t>{3, 1, 1}));
  EXPECT_EQ(ppm[0][0][0].item<int>(), 255);
  EXPECT_EQ(ppm[1][0][0].item<int>(), 0);
  EXPECT_EQ(ppm[2][0][0].item<int>(), 128);  // 512 * 255 / 1023 = 127.6
  write_text(dir / "c.pgm", std::string("P5\n2 1\n15\n") + std::string("\x0f\x05", 2));
  auto four = read_image(dir / "c.pgm");
  EXPECT_EQ(four[0][0][0].item<int>(), 255);
  EXPECT_EQ(four[0][0][1].item<int>(), 85);
  write_text(dir / "text.png", "this is not an image\n");
  EXPECT_NE(error_of([&] { read_image(dir / "text.png"); }).find("text.png' is not an image"), std::string::npos);
  write_text(dir / "empty.jpg", "");
  EXPECT_NE(error_of([&] { read_image(dir / "empty.jpg"); }).find("is empty"), std::string::npos);
  EXPECT_NE(error_of([&] { read_image(dir / "none.png"); }).find("does not exist"), std::string::npos);
  // A truncated PGM: the header promises more pixels than there are.
  write_text(dir / "cut.pgm", std::string("P5\n30 20\n255\n") + std::string(10, '\x01'));
  EXPECT_NE(error_of([&] { read_image(dir / "cut.pgm"); }).find("cut.pgm"), std::string::npos);
}

#ifdef HAVE_STB_WRITE
TEST(Image, ReadsPngAndJpeg) {
  if (!image_decoding_available()) GTEST_SKIP() << "built without image decoding (libstb-dev)";
  TempDir dir;
  // 4 wide x 2 high RGBA: alpha is dropped.
  std::vector<uint8_t> rgba;
  for (int i = 0; i < 8; ++i) rgba.insert(rgba.end(), {uint8_t(i * 30), 7, 200, 128});
  ASSERT_TRUE(stbi_write_png((dir / "a.png").c_str(), 4, 2, 4, rgba.data(), 16));
  auto png = read_image(dir / "a.png");
  ASSERT_EQ(png.sizes(), (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(png[0][1][3].item<int>(), 7 * 30);
  EXPECT_EQ(png[1][0][0].item<int>(), 7);
  // BMP (24-bit, lossless; the check against BMP headers that promise more
  // pixels than the file holds lets a real one through), cut short: refused.
  std::vector<uint8_t> rgb3;
  for (int i = 0; i < 8; ++i) rgb3.insert(rgb3.end(), {uint8_t(i * 30), 9, 250});
  ASSERT_TRUE(stbi_write_bmp((dir / "a.bmp").c_str(), 4, 2, 3, rgb3.data()));
  auto bmp = read_image(dir / "a.bmp");
  ASSERT_EQ(bmp.sizes(), (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(bmp[0][1][3].item<int>(), 7 * 30);
  EXPECT_EQ(bmp[2][0][0].item<int>(), 250);
  write_text(dir / "cut.bmp", read_text(dir / "a.bmp").substr(0, 54));
  const std::string cut_bmp = error_of([&] { read_image(dir / "cut.bmp"); });
  EXPECT_NE(cut_bmp.find("'" + (dir / "cut.bmp") + "'"), std::string::npos) << cut_bmp;
  // JPEG is lossy: a flat grey image comes back within a few levels.
  std::vector<uint8_t> flat(16 * 16, 90);
  ASSERT_TRUE(stbi_write_jpg((dir / "a.jpg").c_str(), 16, 16, 1, flat.data(), 100));
  if (!jpeg_decoding_available()) GTEST_SKIP() << "built without JPEG decoding (libturbojpeg0-dev)";
  auto jpg = read_image(dir / "a.jpg");  // stb writes every JPEG as 3-component YCbCr
  ASSERT_EQ(jpg.sizes(), (std::vector<int64_t>{3, 16, 16}));
  EXPECT_NEAR(jpg.to(torch::kFloat32).mean().item<double>(), 90.0, 2.0);
  // A colour gradient keeps its order (R rises left to right, B falls).
  std::vector<uint8_t> rgb;
  // 256 x 64 with noise in green, so that most of the file is entropy-coded data.
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 256; ++x)
      rgb.insert(rgb.end(), {uint8_t(x), uint8_t((x * 7919 + y * 104729) % 251), uint8_t(255 - x)});
  ASSERT_TRUE(stbi_write_jpg((dir / "g.jpg").c_str(), 256, 64, 3, rgb.data(), 95));
  auto g = read_image(dir / "g.jpg").to(torch::kFloat32);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{3, 64, 256}));
  EXPECT_NEAR(g[0].narrow(1, 0, 16).mean().item<double>(), 7.5, 6.0);
  EXPECT_NEAR(g[0].narrow(1, 240, 16).mean().item<double>(), 247.5, 6.0);
  EXPECT_NEAR(g[2].narrow(1, 0, 16).mean().item<double>(), 247.5, 6.0);
  // Cut short, or with its entropy-coded data overwritten: one clear error
  // (libjpeg-turbo would fill the missing part with grey and only warn).
  const std::string whole = read_text(dir / "g.jpg");
  write_text(dir / "cut.jpg", whole.substr(0, whole.size() / 2));
  const std::string cut = error_of([&] { read_image(dir / "cut.jpg"); });
  EXPECT_NE(cut.find("cannot decode JPEG '" + (dir / "cut.jpg") + "'"), std::string::npos) << cut;
  write_text(dir / "head.jpg", whole.substr(0, 3));
  const std::string head = error_of([&] { read_image(dir / "head.jpg"); });
  EXPECT_NE(head.find("is not a JPEG twist can read"), std::string::npos) << head;
}

// --- JPEGs decoded at the scale the crop needs ---------------------------------

// A smooth colour image (low-frequency waves), w x h RGB, as a JPEG at quality 95.
std::string write_smooth_jpeg(const std::string& path, int w, int h) {
  std::vector<uint8_t> rgb;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      rgb.insert(rgb.end(), {uint8_t(128 + 100 * std::sin(x / 23.0 + y / 37.0)),
                             uint8_t(128 + 100 * std::cos(x / 31.0 - y / 19.0)), uint8_t(255 * (x + y) / (w + h))});
  EXPECT_TRUE(stbi_write_jpg(path.c_str(), w, h, 3, rgb.data(), 95));
  return path;
}

double mean_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs().mean().item<double>();
}

TEST(JpegScaled, DecodesAtTheSmallestDctScaleAtLeastTheOneAskedFor) {
  if (!jpeg_decoding_available()) GTEST_SKIP() << "built without JPEG decoding (libturbojpeg0-dev)";
  TempDir dir;
  const EncodedImage e = open_image(write_smooth_jpeg(dir / "s.jpg", 300, 200));
  EXPECT_EQ(e.height, 200);
  EXPECT_EQ(e.width, 300);
  EXPECT_FALSE(e.decoded.defined());  // the header only
  const torch::Tensor full = read_image(dir / "s.jpg");
  const ScaledImage whole = decode_scaled(e, 1.0);
  EXPECT_TRUE(torch::equal(whole.pixels, full));
  EXPECT_EQ(whole.scale_y, 1.0);
  // min_scale -> the scale used and the decoded size (ceil(side * scale)).
  const std::vector<std::tuple<double, double, int64_t, int64_t>> cases = {
      {2.0, 1.0, 200, 300}, {0.6, 1.0, 200, 300}, {0.5, 0.5, 100, 150},   {0.3, 0.5, 100, 150},
      {0.25, 0.25, 50, 75}, {0.2, 0.25, 50, 75},  {0.125, 0.125, 25, 38}, {0.01, 0.125, 25, 38}};
  for (const auto& [ask, scale, h, w] : cases) {
    const ScaledImage s = decode_scaled(e, ask);
    EXPECT_EQ(s.scale_y, scale) << ask;
    EXPECT_EQ(s.scale_x, scale) << ask;
    EXPECT_EQ(s.pixels.sizes(), (std::vector<int64_t>{3, h, w})) << ask;
  }
  // Known answer: a half-scale decode is the full decode averaged over 2 x 2
  // blocks, to within a grey level or two (the inverse DCT is not an average).
  const torch::Tensor half = decode_scaled(e, 0.5).pixels;
  const torch::Tensor pooled = torch::avg_pool2d(full.to(torch::kFloat32).unsqueeze(0), 2).squeeze(0);
  EXPECT_LT(mean_abs(half, pooled), 1.5);
  // Another format comes back as decoded, at scale 1.
  write_text(dir / "p.pgm", "P5 3 2 255\n" + std::string("\x01\x02\x03\x04\x05\x06", 6));
  const ScaledImage pgm = decode_scaled(open_image(dir / "p.pgm"), 0.125);
  EXPECT_EQ(pgm.scale_y, 1.0);
  EXPECT_TRUE(torch::equal(pgm.pixels, read_image(dir / "p.pgm")));
}

// A crop resampled from a half- or quarter-scale decode is close to the same
// crop from the full decode; at scale 1 the two functions agree exactly.
TEST(JpegScaled, CropOfAScaledDecodeIsCloseToTheFullDecodesCrop) {
  if (!jpeg_decoding_available()) GTEST_SKIP() << "built without JPEG decoding (libturbojpeg0-dev)";
  TempDir dir;
  const EncodedImage e = open_image(write_smooth_jpeg(dir / "s.jpg", 400, 350));
  const torch::Tensor full = decode_scaled(e, 1.0).pixels;
  const auto box = torch::tensor({21.0f, 37.0f, 301.0f, 263.0f});  // top, left, height, width
  for (bool flip : {false, true}) {
    const torch::Tensor want = crop_then_resize(full, box, 64, flip);
    EXPECT_TRUE(torch::equal(crop_scaled_then_resize(full, box, 1.0, 1.0, 64, flip), want));
    for (double scale : {0.5, 0.25}) {
      const ScaledImage s = decode_scaled(e, scale);
      const torch::Tensor got = crop_scaled_then_resize(s.pixels, box, s.scale_y, s.scale_x, 64, flip);
      ASSERT_EQ(got.sizes(), want.sizes());
      EXPECT_LT(mean_abs(got, want), 0.01) << scale << " " << flip;  // in [0, 1]: under 2.6 grey levels
    }
  }
}

// The loader's two paths on a folder of JPEGs: the same images, the same
// random numbers, views within a small distance; a JPEG smaller than the
// output (never scaled) gives exactly the full-decode views.
TEST(JpegScaled, LoaderViewsMatchTheFullDecodePath) {
  if (!jpeg_decoding_available()) GTEST_SKIP() << "built without JPEG decoding (libturbojpeg0-dev)";
  TempDir dir;
  for (int i = 0; i < 6; ++i) write_smooth_jpeg(dir / ("big" + std::to_string(i) + ".jpg"), 360 + 10 * i, 300);
  const Dataset big = load_dataset("folder:" + dir.path);
  const EpochSampler sampler(big.size(), 4, 11);
  MultiCropOptions crops = MultiCropOptions::paper(32, 0, 0);
  for (auto& v : crops.views) v.scale_min = 0.3;  // boxes of at least ~180 pixels: 1/4 scale
  const Normalization norm{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
  const Batch scaled = BatchLoader::make_batch(big, sampler, crops, norm, 5, 1, torch::kCPU, nullptr, true);
  const Batch full = BatchLoader::make_batch(big, sampler, crops, norm, 5, 1, torch::kCPU, nullptr, false);
  EXPECT_TRUE(torch::equal(scaled.indices, full.indices));
  EXPECT_FALSE(torch::equal(scaled.views[0], full.views[0]));  // some images were decoded at a reduced scale
  for (size_t v = 0; v < full.views.size(); ++v) {
    ASSERT_EQ(scaled.views[v].sizes(), full.views[v].sizes());
    EXPECT_LT(mean_abs(scaled.views[v], full.views[v]), 0.05) << v;  // normalized: 0.05 * 0.25 * 255 = 3 grey levels
  }
  TempDir small_dir;
  for (int i = 0; i < 4; ++i) write_smooth_jpeg(small_dir / ("s" + std::to_string(i) + ".jpg"), 20 + i, 14);
  const Dataset small = load_dataset("folder:" + small_dir.path);
  const EpochSampler one(small.size(), 4, 2);
  const Batch a = BatchLoader::make_batch(small, one, crops, norm, 5, 0, torch::kCPU, nullptr, true);
  const Batch b = BatchLoader::make_batch(small, one, crops, norm, 5, 0, torch::kCPU, nullptr, false);
  for (size_t v = 0; v < a.views.size(); ++v) {
    EXPECT_EQ(a.views[v].sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
    EXPECT_TRUE(torch::equal(a.views[v], b.views[v])) << v;
  }
}

// A JPEG whose header reads but whose data are cut: the scaled path finds it
// only when it decodes, after the boxes are drawn, and counts it as the
// full path does (a stand-in within the allowance, else one error).
TEST(JpegScaled, ACutJpegIsSkippedOrStopsTheBatch) {
  if (!jpeg_decoding_available()) GTEST_SKIP() << "built without JPEG decoding (libturbojpeg0-dev)";
  TempDir dir;
  for (int i = 0; i < 4; ++i) write_smooth_jpeg(dir / (std::to_string(i) + ".jpg"), 200, 160);
  const std::string cut = dir / "2.jpg";
  const std::string whole = read_text(cut);
  write_text(cut, whole.substr(0, whole.size() / 2));
  const Dataset d = load_dataset("folder:" + dir.path);
  const EpochSampler sampler(d.size(), 4, 1);
  MultiCropOptions crops = MultiCropOptions::paper(16, 0, 0);
  const Normalization norm{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
  BadImages one(1, /*announce=*/false);
  const Batch b = BatchLoader::make_batch(d, sampler, crops, norm, 5, 0, torch::kCPU, &one, true);
  EXPECT_EQ(one.files(), std::vector<std::string>{cut});
  EXPECT_EQ(b.views[0].sizes(), (std::vector<int64_t>{4, 3, 16, 16}));
  EXPECT_TRUE(torch::isfinite(b.views[1]).all().item<bool>());
  auto idx = b.indices.accessor<int64_t, 1>();
  for (int64_t i = 0; i < 4; ++i) EXPECT_NE(d.files[size_t(idx[i])], cut) << i;  // a stand-in was read
  BadImages none(0, false);
  const std::string e = error_of([&] { BatchLoader::make_batch(d, sampler, crops, norm, 5, 0, torch::kCPU, &none); });
  EXPECT_NE(e.find("cannot decode JPEG '" + cut + "'"), std::string::npos) << e;
  EXPECT_NE(e.find("--skip-bad-images N"), std::string::npos) << e;
}
#endif

// --- torchvision export --------------------------------------------------------

TEST(Export, PickledStateDictRoundTrips) {
  TempDir dir;
  ResNetOptions o;
  o.width = 0.125;
  ResNet net(o);
  export_torchvision(net, dir / "b.pth");
  const std::string bytes = read_text(dir / "b.pth");
  auto value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  ASSERT_TRUE(value.isGenericDict());
  auto dict = value.toGenericDict();
  const auto expected = backbone_state_dict(net);
  ASSERT_EQ(dict.size(), expected.size());
  for (const auto& [name, tensor] : expected) {
    ASSERT_TRUE(dict.contains(name)) << name;
    EXPECT_TRUE(torch::equal(dict.at(name).toTensor(), tensor)) << name;
  }
  EXPECT_TRUE(dict.contains("layer4.1.bn2.running_var"));
  EXPECT_TRUE(dict.contains("bn1.num_batches_tracked"));
}

TEST(Export, TorchvisionLoadsTheStateDict) {
  if (run_command("/usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null").exit_code != 0)
    GTEST_SKIP() << "python3 with torch and torchvision is not installed (apt install python3-torchvision)";
  TempDir dir;
  for (const std::string arch : {"resnet18", "resnet50"}) {
    ResNetOptions o;
    o.arch = arch;
    o.stem = "imagenet";
    ResNet net(o);
    export_torchvision(net, dir / (arch + ".pth"));
    const double conv1_sum = net->conv1->weight.to(torch::kFloat64).sum().item<double>();
    const std::string script =
        "import torch, torchvision\n"
        "sd = torch.load('" +
        dir / (arch + ".pth") +
        "')\n"
        "m = torchvision.models." +
        arch +
        "()\n"
        "r = m.load_state_dict(sd, strict=False)\n"
        "print(sorted(r.missing_keys), sorted(r.unexpected_keys))\n"
        "m.eval(); print(tuple(m(torch.zeros(1, 3, 64, 64)).shape))\n"
        "print(repr(m.conv1.weight.double().sum().item()))\n";
    write_text(dir / "check.py", script);
    auto r = run_command("/usr/bin/python3 " + (dir / "check.py"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Only fc.* missing, nothing unexpected, a forward pass works, and the
    // weights are ours (their sum, up to summation order).
    const std::string expected = "['fc.bias', 'fc.weight'] []\n(1, 1000)\n";
    ASSERT_EQ(r.output.substr(0, expected.size()), expected) << arch << ": " << r.output;
    EXPECT_NEAR(std::stod(r.output.substr(expected.size())), conv1_sum, 1e-9 + 1e-9 * std::abs(conv1_sum)) << arch;
  }
}

}  // namespace
