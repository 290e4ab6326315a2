#include "resample.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "pixel_ops.h"

namespace twist {
namespace {

// Keys' cubic convolution kernel.
double cubic(double x, double a) {
  x = std::abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

// For each of `size` outputs along one axis, the weights (summing to 1) of
// the consecutive input pixels first[u] .. first[u] + count[u] - 1, all in
// [lo, hi). Enlarging (the box at most `size`): grid_sampler's and
// interpolate's bicubic (a = -0.75), a tap outside [lo, hi) reading the
// edge pixel (its weight moves to the edge's). Reducing: the kernel widened
// by the ratio (a = -0.5) and taps outside [lo, hi) dropped, as PIL's
// resize and interpolate's antialias.
struct Taps {
  int64_t stride = 0;  // weights per output, zero-padded
  std::vector<int64_t> first, count;
  std::vector<float> weight;
};

Taps taps_for(double start, double length, int64_t lo, int64_t hi, int64_t size) {
  const double step = length / double(size);
  const bool reduce = step > 1.0;
  const double widen = reduce ? step : 1.0, support = 2.0 * widen, a = reduce ? -0.5 : -0.75;
  const int64_t span = 2 * int64_t(std::ceil(support)) + 2;  // taps looked at per output
  Taps t;
  t.stride = std::min(span, hi - lo);
  t.first.resize(size_t(size));
  t.count.resize(size_t(size));
  t.weight.assign(size_t(size * t.stride), 0.0f);
  std::vector<double> w(size_t(hi - lo), 0.0);  // by input pixel, zero outside the current output's
  for (int64_t u = 0; u < size; ++u) {
    const double centre = start + (double(u) + 0.5) * step;  // pixel j spans [j, j + 1)
    const int64_t from = int64_t(std::floor(centre - support));
    int64_t lo_used = hi, hi_used = lo;  // the pixels with a weight
    double sum = 0;
    for (int64_t k = 0; k < span; ++k) {
      const int64_t j = from + k;
      if (reduce && (j < lo || j >= hi)) continue;
      const double v = cubic((double(j) + 0.5 - centre) / widen, a);
      if (v == 0.0) continue;
      const int64_t at = std::clamp(j, lo, hi - 1);
      lo_used = std::min(lo_used, at);
      hi_used = std::max(hi_used, at + 1);
      w[size_t(at - lo)] += v;
      sum += v;
    }
    t.first[size_t(u)] = lo_used;
    t.count[size_t(u)] = hi_used - lo_used;
    for (int64_t j = lo_used; j < hi_used; ++j) {
      t.weight[size_t(u * t.stride + j - lo_used)] = float(w[size_t(j - lo)] / sum);
      w[size_t(j - lo)] = 0.0;  // clean for the next output
    }
  }
  return t;
}

// Plane `in` (rows x cols) transposed into `out` (cols x rows), in blocks
// that stay in cache; with `mirror`, out's columns in reverse order.
void transpose(const float* in, int64_t rows, int64_t cols, float* out, bool mirror = false) {
  constexpr int64_t block = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += block)
    for (int64_t c0 = 0; c0 < cols; c0 += block)
      for (int64_t r = r0; r < std::min(rows, r0 + block); ++r) {
        const int64_t to = mirror ? rows - 1 - r : r;
        for (int64_t x = c0; x < std::min(cols, c0 + block); ++x) out[x * rows + to] = in[r * cols + x];
      }
}

}  // namespace

void resample_box(const torch::Tensor& image, double top, double left, double height, double width, int64_t r0,
                  int64_t r1, int64_t c0, int64_t c1, int64_t size, bool flip, float* out) {
  const torch::Tensor src = image.contiguous();
  const int64_t C = src.size(0), H = src.size(1), W = src.size(2), cols = c1 - c0;
  const uint8_t* in = src.data_ptr<uint8_t>();
  const Taps ty = taps_for(top, height, r0, r1, size), tx = taps_for(left, width, c0, c1, size);
  // Rows first, on the box's columns only: C x size x cols.
  std::vector<float> rows(size_t(C * size * cols), 0.0f);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t u = 0; u < size; ++u) {
      float* out = &rows[size_t((c * size + u) * cols)];
      const float* w = &ty.weight[size_t(u * ty.stride)];
      const uint8_t* line = in + (c * H + ty.first[size_t(u)]) * W + c0;
      for (int64_t k = 0; k < ty.count[size_t(u)]; ++k, line += W) add_scaled(out, line, w[k], cols);
    }
  // Then columns, on the transpose (C x cols x size), so that each output
  // column is a weighted sum of whole contiguous lines, as the rows were;
  // the columns (size x size) are transposed back into `out`.
  std::vector<float> across(rows.size()), columns(size_t(size * size));
  for (int64_t c = 0; c < C; ++c)
    transpose(&rows[size_t(c * size * cols)], size, cols, &across[size_t(c * cols * size)]);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t v = 0; v < size; ++v) {
      float* acc = &columns[size_t(v * size)];
      std::fill(acc, acc + size, 0.0f);
      const float* w = &tx.weight[size_t(v * tx.stride)];
      const float* line = &across[size_t((c * cols + tx.first[size_t(v)] - c0) * size)];
      for (int64_t k = 0; k < tx.count[size_t(v)]; ++k, line += size) add_scaled(acc, line, w[k], size);
      for (int64_t u = 0; u < size; ++u) acc[u] = std::clamp(acc[u] / 255.0f, 0.0f, 1.0f);
    }
    transpose(columns.data(), size, size, out + c * size * size, flip);
  }
}

}  // namespace twist
