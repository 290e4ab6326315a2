// Partial JPEG decoding (decode_scaled with a region): the rows and columns
// a crop needs equal the whole decode's there, for every chroma layout,
// greyscale and progressive files, at every DCT scale; what lies outside is
// not decoded; the views a batch is cut into are the same with and
// without it.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>

#include "test_util.h"
#include "twist/augment.h"
#include "twist/error.h"
#include "twist/image.h"
#include "twist/random.h"

#if __has_include(<turbojpeg.h>)
#include <turbojpeg.h>
#define HAVE_TURBOJPEG 1
#endif

namespace {

using namespace twist;
using namespace twist::testing;

#ifdef HAVE_TURBOJPEG

// A w x h image of waves and seeded noise (detail in every 8 x 8 block),
// as a quality-85 JPEG with chroma subsampling `subsamp` (TJSAMP_GRAY: a
// greyscale JPEG), progressive or not.
std::string write_jpeg(const std::string& path, int w, int h, int subsamp, bool progressive) {
  const int channels = subsamp == TJSAMP_GRAY ? 1 : 3;
  std::vector<uint8_t> px;
  uint32_t noise = 12345;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) {
        noise = noise * 1664525u + 1013904223u;
        const double v = 128 + 90 * std::sin(x / 13.0 + 2 * c + y / 29.0) + double(noise >> 27) - 16;
        px.push_back(uint8_t(std::clamp(v, 1.0, 255.0)));
      }
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, px.data(), w, 0, h, channels == 1 ? TJPF_GRAY : TJPF_RGB, &out, &size, subsamp, 85,
                             progressive ? TJFLAG_PROGRESSIVE : 0);
  tjDestroy(tj);
  EXPECT_EQ(rc, 0);
  write_text(path, std::string(reinterpret_cast<const char*>(out), size));
  tjFree(out);
  return path;
}

bool can_decode_parts() { return jpeg_decoding_available() && jpeg_rows_available(); }

// The whole pixels of the scaled image a region touches, as
// crop_scaled_into cuts a box: rows [r0, r1), columns [c0, c1).
std::tuple<int64_t, int64_t, int64_t, int64_t> touched(const ImageRegion& r, double k) {
  return {int64_t(std::floor(r.top * k)), int64_t(std::ceil((r.top + r.height) * k - 1e-9)),
          int64_t(std::floor(r.left * k)), int64_t(std::ceil((r.left + r.width) * k - 1e-9))};
}

TEST(JpegRows, ThePartDecodedEqualsTheWholeDecodeThere) {
  if (!can_decode_parts()) GTEST_SKIP() << "built without libjpeg (libjpeg62-turbo-dev)";
  TempDir dir;
  std::mt19937 rng(5);
  const int W = 203, H = 157;  // not multiples of 16: partial blocks at the right and bottom
  const std::vector<std::pair<int, bool>> files = {
      {TJSAMP_444, false}, {TJSAMP_422, false}, {TJSAMP_420, false}, {TJSAMP_GRAY, false}, {TJSAMP_420, true}};
  int partial = 0;
  for (const auto& [subsamp, progressive] : files) {
    const EncodedImage e = open_image(write_jpeg(dir / "a.jpg", W, H, subsamp, progressive));
    EXPECT_EQ(e.channels, subsamp == TJSAMP_GRAY ? 1 : 3);
    for (double scale : {1.0, 0.5, 0.25, 0.125}) {
      const ScaledImage whole = decode_scaled(e, scale);
      for (int t = 0; t < 8; ++t) {
        ImageRegion r;
        r.top = double(rng() % (H - 1));
        r.height = double(1 + rng() % (H - int(r.top)));
        r.left = double(rng() % (W - 1));
        r.width = double(1 + rng() % (W - int(r.left)));
        const ScaledImage part = decode_scaled(e, scale, r);
        ASSERT_EQ(part.pixels.sizes(), whole.pixels.sizes());
        EXPECT_EQ(part.scale_y, whole.scale_y);
        const auto [r0, r1, c0, c1] = touched(r, whole.scale_y);
        const std::string where = std::to_string(subsamp) + (progressive ? " progressive" : "") + " at " +
                                  std::to_string(scale) + ", rows " + std::to_string(r0) + "-" + std::to_string(r1) +
                                  ", columns " + std::to_string(c0) + "-" + std::to_string(c1);
        EXPECT_TRUE(
            torch::equal(part.pixels.slice(1, r0, r1).slice(2, c0, c1), whole.pixels.slice(1, r0, r1).slice(2, c0, c1)))
            << where;
        // Two rows below the region: not decoded (zero; the image has no zero pixel).
        if (r1 + 2 < whole.pixels.size(1)) {
          ++partial;
          EXPECT_EQ(part.pixels.slice(1, r1 + 2).max().item<int>(), 0) << where;
          EXPECT_GT(whole.pixels.slice(1, r1 + 2).min().item<int>(), 0) << where;
        }
      }
    }
  }
  EXPECT_GT(partial, 40);  // of 160 regions, most stop above the bottom
}

TEST(JpegRows, AFileCutShortDecodesAboveTheCutAndFailsWithin) {
  if (!can_decode_parts()) GTEST_SKIP() << "built without libjpeg (libjpeg62-turbo-dev)";
  TempDir dir;
  const std::string whole = read_text(write_jpeg(dir / "a.jpg", 160, 240, TJSAMP_420, false));
  write_text(dir / "cut.jpg", whole.substr(0, whole.size() / 2));
  const EncodedImage e = open_image(dir / "cut.jpg");
  const ScaledImage top = decode_scaled(e, 1.0, ImageRegion{0, 0, 40, 160});
  const ScaledImage want = decode_scaled(open_image(dir / "a.jpg"), 1.0);
  EXPECT_TRUE(torch::equal(top.pixels.slice(1, 0, 40), want.pixels.slice(1, 0, 40)));
  for (const ImageRegion& r : {ImageRegion{200, 0, 40, 160}, ImageRegion{0, 0, 240, 160}}) {
    const std::string err = error_of([&] { decode_scaled(e, 1.0, r); });
    EXPECT_NE(err.find("cannot decode JPEG '" + (dir / "cut.jpg") + "'"), std::string::npos) << err;
  }
  try {
    decode_scaled(e, 1.0, ImageRegion{200, 0, 40, 160});
    ADD_FAILURE() << "a region past the cut decoded";
  } catch (const ImageError&) {
    // the loader's --skip-bad-images handles exactly this type
  }
}

// The views of a batch cut from JPEGs decoded only where their boxes lie
// equal those cut from whole decodes at the same scale, global and local
// crops alike, and most decodes are partial.
TEST(JpegRows, ViewsOfPartDecodesEqualViewsOfWholeDecodes) {
  if (!can_decode_parts()) GTEST_SKIP() << "built without libjpeg (libjpeg62-turbo-dev)";
  TempDir dir;
  std::vector<EncodedImage> files;
  auto heights = torch::empty({6}, torch::kInt64), widths = torch::empty({6}, torch::kInt64);
  for (int i = 0; i < 6; ++i) {
    const int subsamp = i % 3 == 0 ? TJSAMP_420 : i % 3 == 1 ? TJSAMP_422 : TJSAMP_444;
    files.push_back(
        open_image(write_jpeg(dir / (std::to_string(i) + ".jpg"), 300 - 17 * i, 200 + 23 * i, subsamp, false)));
    heights[i] = files.back().height;
    widths[i] = files.back().width;
  }
  auto crops = MultiCropOptions::paper(48, 2, 24);
  for (auto& v : crops.views) v.scale_min = std::min(v.scale_min, 0.14);
  const Normalization norm{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
  int parts = 0;
  auto whole = [&](int64_t i, double min_scale, const ImageRegion&) {
    return decode_scaled(files[size_t(i)], min_scale);
  };
  auto part = [&](int64_t i, double min_scale, const ImageRegion& needed) {
    const EncodedImage& e = files[size_t(i)];
    parts += needed.top > 1 || needed.left > 1 || needed.top + needed.height < double(e.height) - 1 ||
             needed.left + needed.width < double(e.width) - 1;
    return decode_scaled(e, min_scale, needed);
  };
  for (uint64_t step = 0; step < 4; ++step) {
    auto g1 = make_generator(9, step), g2 = make_generator(9, step);
    const auto want = augment_views(heights, widths, whole, crops, norm, g1);
    const auto got = augment_views(heights, widths, part, crops, norm, g2);
    ASSERT_EQ(got.size(), want.size());
    for (size_t v = 0; v < want.size(); ++v)
      EXPECT_TRUE(torch::equal(got[v], want[v])) << "step " << step << " view " << v;
  }
  EXPECT_GE(parts, 6);  // of 24 decodes
}

#endif  // HAVE_TURBOJPEG

}  // namespace
