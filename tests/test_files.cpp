// Files twist reads and writes for other tools: .npy arrays, label lists,
// label subsets, image files, the torchvision export.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/export.h"
#include "twist/image.h"
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
