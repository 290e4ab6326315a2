#pragma once
// Arithmetic shared by the batched colour operations (color.cpp) and the
// fused finishing of a view (finish_fused.cpp), so both compute the same.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace twist {

// The hue of n pixels (planes r, g, b) shifted by `shift` turns, in place:
// each pixel's HSV round trip with the arithmetic of adjust_hue's tensor
// operations, written without branches so that the compiler vectorizes it.
inline void shift_hue(float* r, float* g, float* b, int64_t n, float shift) {
  // floor(x) for the 0 <= x < 2^31 here, as a truncation (vectorizable).
  auto down = [](float x) { return float(int32_t(x)); };
  auto unit = [](float x) { return std::min(std::max(x, 0.0f), 1.0f); };
  for (int64_t i = 0; i < n; ++i) {
    const float R = r[i], G = g[i], B = b[i];
    const float maxc = std::max(std::max(R, G), B), minc = std::min(std::min(R, G), B);
    const float v = maxc, delta = maxc - minc;
    const bool grey = delta == 0.0f;
    const float s = delta / (grey ? 1.0f : maxc), d = grey ? 1.0f : delta;
    const float rc = (maxc - R) / d, gc = (maxc - G) / d, bc = (maxc - B) / d;
    float h = maxc == R ? bc - gc : maxc == G ? 2.0f + rc - bc : 4.0f + gc - rc;
    h = h / 6.0f + 1.0f;  // fmod(x, 1) as x - floor(x): exact for x >= 0
    h -= down(h);
    h = h + shift + 1.0f;
    h -= down(h);
    const float h6 = h * 6.0f, i6 = down(h6), f = h6 - i6;
    const float sector = i6 >= 6.0f ? i6 - 6.0f : i6;
    const float p = unit(v * (1.0f - s)), q = unit(v * (1.0f - s * f)), t = unit(v * (1.0f - s * (1.0f - f)));
    // By sector 0..5: r = v q p p t v, g = t v v q p p, b = p p t v v q.
    r[i] = sector == 0.0f || sector == 5.0f ? v : sector == 1.0f ? q : sector == 4.0f ? t : p;
    g[i] = sector == 1.0f || sector == 2.0f ? v : sector == 0.0f ? t : sector == 3.0f ? q : p;
    b[i] = sector == 3.0f || sector == 4.0f ? v : sector == 2.0f ? t : sector == 5.0f ? q : p;
  }
}

// The blur's radius for the batch's largest sigma: 3 sigma (99.7% of the
// mass), at least 1, at most the image's shorter side less one (so a
// reflected tap stays inside the image). 0 when no sample is blurred.
inline int64_t blur_radius(double max_sigma, int64_t height, int64_t width) {
  if (max_sigma <= 0) return 0;
  const int64_t r = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3.0 * max_sigma)));
  return std::max<int64_t>(0, std::min<int64_t>(r, std::min(height, width) - 1));
}

}  // namespace twist
