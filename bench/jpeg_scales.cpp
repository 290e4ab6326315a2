// Milliseconds per image that libjpeg-turbo (TurboJPEG) takes to decode a
// folder's JPEGs at each of its DCT scaling factors up to 1, and the pixels
// each produces: which scales are worth decoding at (src/data/image_file.cpp
// uses 1/2, 1/4 and 1/8). The files are read into memory first; each scale
// decodes them all, in two passes, the second reported.
//   build/jpeg_scales DIR [images 200]
#include <turbojpeg.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "jpeg_files.h"

namespace {

std::vector<std::string> read_jpegs(const std::string& dir, size_t limit) {
  const std::vector<std::string> paths = jpeg_paths(dir, limit);
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    files.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return files;
}

// Seconds to decode every file at `scale`, and the mean pixels per image.
std::pair<double, double> decode_all(tjhandle h, const std::vector<std::string>& files, tjscalingfactor scale) {
  std::vector<unsigned char> out;
  double pixels = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& f : files) {
    const auto* buf = reinterpret_cast<const unsigned char*>(f.data());
    int w = 0, ht = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(h, buf, f.size(), &w, &ht, &subsamp, &colorspace) != 0) continue;
    const int sw = TJSCALED(w, scale), sh = TJSCALED(ht, scale);
    out.resize(size_t(sw) * size_t(sh) * 3);
    if (tjDecompress2(h, buf, f.size(), out.data(), sw, 0, sh, TJPF_RGB, 0) == 0) pixels += double(sw) * sh;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {s, pixels / double(files.size())};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: jpeg_scales DIR [images]\n");
    return 2;
  }
  const std::vector<std::string> files = read_jpegs(argv[1], argc > 2 ? size_t(std::atol(argv[2])) : 200);
  if (files.empty()) {
    std::fprintf(stderr, "jpeg_scales: error: no .jpg or .jpeg files under '%s'\n", argv[1]);
    return 1;
  }
  tjhandle h = tjInitDecompress();
  int n = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&n);
  std::printf("%zu JPEGs\n%-6s %12s %14s\n", files.size(), "scale", "ms/image", "pixels/image");
  for (int k = 0; k < n; ++k) {
    if (factors[k].num > factors[k].denom) continue;
    decode_all(h, files, factors[k]);  // first pass: caches, allocator
    const auto [s, pixels] = decode_all(h, files, factors[k]);
    std::printf("%d/%-4d %12.2f %14.0f\n", factors[k].num, factors[k].denom, 1000 * s / double(files.size()), pixels);
  }
  tjDestroy(h);
  return 0;
}
