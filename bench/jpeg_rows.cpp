// Milliseconds per image that decode_scaled takes on a folder's JPEGs for
// the crops of the paper's two global views (random-resized-crop boxes of
// area [scale_min, 1] and ratio [3/4, 4/3], output `size`): each JPEG
// decoded whole at the DCT scale its crops allow (the loader before partial
// decoding), against only the rows and columns its two boxes cover
// (decode_scaled with a region, the loader now). Same files, same boxes,
// alternately in `rounds` rounds; also the mean share of the rows and of
// the columns that the boxes cover.
//   build/jpeg_rows DIR [images 300] [size 224] [scale_min 0.08] [rounds 5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "jpeg_files.h"
#include "twist/twist.h"

namespace {

struct Prepared {
  twist::EncodedImage file;
  double min_scale = 0;
  twist::ImageRegion region;
};

// Each file opened, and the scale and region the loader asks for when it
// cuts the paper's two global views from it (recorded from augment_views
// itself, so the bench decodes exactly what the loader would).
std::vector<Prepared> prepare(const std::vector<std::string>& paths, int64_t size, double scale_min) {
  std::vector<Prepared> out;
  const auto n = int64_t(paths.size());
  auto heights = torch::empty({n}, torch::kInt64), widths = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    out.push_back({twist::open_image(paths[size_t(i)]), 0, {}});
    heights[i] = out.back().file.height;
    widths[i] = out.back().file.width;
  }
  if (out.empty()) return out;
  auto crops = twist::MultiCropOptions::paper(size, 0, size);
  for (auto& v : crops.views) v.scale_min = scale_min;
  auto record = [&](int64_t i, double min_scale, const twist::ImageRegion& needed) {
    out[size_t(i)].min_scale = min_scale;
    out[size_t(i)].region = needed;
    return twist::decode_scaled(out[size_t(i)].file, min_scale, needed);
  };
  auto gen = twist::make_generator(1, 0);
  twist::augment_views(heights, widths, record, crops, twist::Normalization{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}}, gen);
  return out;
}

// Seconds to decode every file, whole at its scale or only its region.
double decode_all(const std::vector<Prepared>& files, bool part) {
  const auto t0 = std::chrono::steady_clock::now();
  int64_t sink = 0;
  for (const auto& f : files)
    sink += (part ? twist::decode_scaled(f.file, f.min_scale, f.region) : twist::decode_scaled(f.file, f.min_scale))
                .pixels.size(1);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sink > 0 ? s : -1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: jpeg_rows DIR [images 300] [size 224] [scale_min 0.08] [rounds 5]\n");
    return 2;
  }
  const size_t limit = argc > 2 ? size_t(std::atol(argv[2])) : 300;
  const int64_t size = argc > 3 ? std::atoll(argv[3]) : 224;
  const double scale_min = argc > 4 ? std::atof(argv[4]) : 0.08;
  const int rounds = argc > 5 ? std::atoi(argv[5]) : 5;
  twist::check(twist::jpeg_rows_available(), "this twist was built without libjpeg (libjpeg62-turbo-dev)");
  const auto files = prepare(jpeg_paths(argv[1], limit), size, scale_min);
  twist::check(!files.empty(), std::string("no .jpg or .jpeg files under '") + argv[1] + "'");
  double rows = 0, cols = 0;
  for (const auto& f : files) {
    rows += f.region.height / double(f.file.height) / double(files.size());
    cols += f.region.width / double(f.file.width) / double(files.size());
  }
  std::printf(
      "%zu JPEGs, output %lld, crop area [%.2f, 1]: the boxes cover %.1f%% of the rows, %.1f%% of the columns\n",
      files.size(), static_cast<long long>(size), scale_min, 100 * rows, 100 * cols);
  std::printf("%-6s %14s %14s %8s\n", "round", "whole ms/img", "part ms/img", "ratio");
  decode_all(files, false);  // warm-up: caches, allocator
  decode_all(files, true);
  std::vector<double> whole, part, ratio;
  for (int r = 0; r < rounds; ++r) {
    const bool part_first = r % 2 == 1;  // alternate the order
    const double a = part_first ? decode_all(files, true) : 0;
    const double w = decode_all(files, false);
    const double p = part_first ? a : decode_all(files, true);
    whole.push_back(1000 * w / double(files.size()));
    part.push_back(1000 * p / double(files.size()));
    ratio.push_back(w / p);
    std::printf("%-6d %14.3f %14.3f %8.3f\n", r + 1, whole.back(), part.back(), ratio.back());
  }
  std::printf("median %14.3f %14.3f %8.3f  (each column's median; ratio: whole time / part time)\n", median(whole),
              median(part), median(ratio));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "jpeg_rows: error: %s\n", e.what());
  return 1;
}
