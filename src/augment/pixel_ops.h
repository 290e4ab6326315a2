#pragma once
// Arithmetic shared by the batched colour operations (color.cpp) and the
// fused finishing of a view (finish_fused.cpp), so both compute the same.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace twist {

// One pixel's HSV round trip with its hue shifted by `shift` turns: the
// arithmetic of adjust_hue's tensor operations, pixel by pixel.
inline void shift_hue(float r, float g, float b, float shift, float* ro, float* go, float* bo) {
  const float maxc = std::max(std::max(r, g), b), minc = std::min(std::min(r, g), b);
  const float v = maxc, delta = maxc - minc;
  const bool grey = delta == 0.0f;
  const float s = delta / (grey ? 1.0f : maxc), d = grey ? 1.0f : delta;
  const float rc = (maxc - r) / d, gc = (maxc - g) / d, bc = (maxc - b) / d;
  float h = maxc == r ? bc - gc : maxc == g ? 2.0f + rc - bc : 4.0f + gc - rc;
  // fmod(x, 1) for the x >= 0 here, exactly (x - floor(x) is exact).
  auto turn = [](float x) { return x - std::floor(x); };
  h = turn(h / 6.0f + 1.0f);
  h = turn(h + shift + 1.0f);
  const float h6 = h * 6.0f, i = std::floor(h6), f = h6 - i;
  auto unit = [](float x) { return std::min(std::max(x, 0.0f), 1.0f); };
  const float p = unit(v * (1.0f - s)), q = unit(v * (1.0f - s * f)), t = unit(v * (1.0f - s * (1.0f - f)));
  switch (int(i) % 6) {
    case 0:
      *ro = v, *go = t, *bo = p;
      break;
    case 1:
      *ro = q, *go = v, *bo = p;
      break;
    case 2:
      *ro = p, *go = v, *bo = t;
      break;
    case 3:
      *ro = p, *go = q, *bo = v;
      break;
    case 4:
      *ro = t, *go = p, *bo = v;
      break;
    default:
      *ro = v, *go = p, *bo = q;
      break;
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
