// Per-pixel arithmetic shared by the batched colour operations and the
// fused finishing of a view (pixel_ops.h).
#include "pixel_ops.h"

namespace twist {

// Written without branches, so that the compiler vectorizes it.
TWIST_VECTOR_CLONES void shift_hue(float* r, float* g, float* b, int64_t n, float shift) {
  // floor(x) for the 0 <= x < 2^31 here, as a truncation (vectorizable).
  auto down = [](float x) { return float(int32_t(x)); };
  for (int64_t i = 0; i < n; ++i) {
    const float R = r[i], G = g[i], B = b[i];
    const float maxc = std::max(std::max(R, G), B), minc = std::min(std::min(R, G), B);
    const float v = maxc, delta = maxc - minc;
    const bool grey = delta == 0.0f;
    const float s = delta / (grey ? 1.0f : maxc), inv = 1.0f / (grey ? 1.0f : delta);
    // (bc - gc, 2 + rc - bc, 4 + gc - rc) of the tensor form, rc = (maxc - R) / delta etc.
    // Every candidate is computed before one is chosen: GCC does not turn a
    // choice between computations into a vector select (they might trap).
    const float hr = (G - B) * inv, hg = 2.0f + (B - R) * inv, hb = 4.0f + (R - G) * inv;
    const bool is_r = maxc == R, is_g = !is_r & (maxc == G);
    float h = is_r ? hr : is_g ? hg : hb;
    h = h / 6.0f + 1.0f;  // fmod(x, 1) as x - floor(x): exact for x >= 0
    h -= down(h);
    h = h + shift + 1.0f;
    h -= down(h);
    const float h6 = h * 6.0f, i6 = down(h6), f = h6 - i6;
    const float wrapped = i6 - 6.0f, sector = i6 >= 6.0f ? wrapped : i6;
    const float p = unit(v * (1.0f - s)), q = unit(v * (1.0f - s * f)), t = unit(v * (1.0f - s * (1.0f - f)));
    // By sector 0..5: r = v q p p t v, g = t v v q p p, b = p p t v v q;
    // the conditions joined with & and |, so that nothing branches.
    const bool s0 = sector == 0.0f, s1 = sector == 1.0f, s2 = sector == 2.0f;
    const bool s3 = sector == 3.0f, s4 = sector == 4.0f, s5 = sector == 5.0f;
    r[i] = (s0 | s5) ? v : s1 ? q : s4 ? t : p;
    g[i] = (s1 | s2) ? v : s0 ? t : s3 ? q : p;
    b[i] = (s3 | s4) ? v : s2 ? t : s5 ? q : p;
  }
}

TWIST_VECTOR_CLONES void add_scaled(float* out, const float* line, float w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += w * line[i];
}

TWIST_VECTOR_CLONES void add_scaled(float* out, const uint8_t* line, float w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] += w * float(line[i]);
}

}  // namespace twist
