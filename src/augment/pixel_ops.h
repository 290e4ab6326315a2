#pragma once
// Arithmetic shared by the batched colour operations (color.cpp) and the
// fused finishing of a view (finish_fused.cpp), so both compute the same.
#include <algorithm>
#include <cmath>
#include <cstdint>

// On x86-64 with GCC, a function so marked is compiled twice, for AVX2 and
// for the baseline, and the loader picks the one the CPU runs (an ifunc):
// its loops vectorize 8 floats wide where AVX2 is there. No FMA, so both
// versions round alike and give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TWIST_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TWIST_VECTOR_CLONES
#endif

namespace twist {

// x clamped to [0, 1], as the colour operations clamp their results.
inline float unit(float x) { return std::min(std::max(x, 0.0f), 1.0f); }

// ITU-R 601-2 luma, as PIL's convert("L") (rgb_to_grayscale's weights).
inline float luma(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

// The hue of n pixels (planes r, g, b) shifted by `shift` turns, in place:
// each pixel's HSV round trip with the arithmetic of adjust_hue's tensor
// operations (pixel_ops.cpp).
void shift_hue(float* r, float* g, float* b, int64_t n, float shift);

// out[i] += w * line[i] for i < n: one tap of a separable filter.
void add_scaled(float* out, const float* line, float w, int64_t n);
void add_scaled(float* out, const uint8_t* line, float w, int64_t n);

// The blur's radius for the batch's largest sigma: 3 sigma (99.7% of the
// mass), at least 1, at most the image's shorter side less one (so a
// reflected tap stays inside the image). 0 when no sample is blurred.
inline int64_t blur_radius(double max_sigma, int64_t height, int64_t width) {
  if (max_sigma <= 0) return 0;
  const int64_t r = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3.0 * max_sigma)));
  return std::max<int64_t>(0, std::min<int64_t>(r, std::min(height, width) - 1));
}

}  // namespace twist
