// The finishing of a view (finish_view) on a CPU float32 batch, image by
// image: each stage is one pass over the image's pixels, in place, with no
// batch-sized temporaries. It computes what the batched tensor form does
// (finish_view.cpp, color.cpp) up to float rounding; a stage whose draw
// leaves the image as it is (factor 1, hue shift 0, sigma 0) is skipped.
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "pixel_ops.h"
#include "twist/augment.h"
#include "twist/error.h"

namespace twist {
namespace {

// One image's channel planes (1 or 3), each h x w floats.
struct Planes {
  float* p;
  int64_t c, h, w;
  int64_t n() const { return h * w; }
  float* plane(int64_t k) const { return p + k * n(); }
};

TWIST_VECTOR_CLONES void brightness(const Planes& im, float f) {
  for (int64_t i = 0; i < im.c * im.n(); ++i) im.p[i] = unit(im.p[i] * f);
}

// Blends every pixel with the image's mean grey level.
TWIST_VECTOR_CLONES void contrast(const Planes& im, float f) {
  const int64_t n = im.n();
  double sum = 0;
  if (im.c == 1) {
    for (int64_t i = 0; i < n; ++i) sum += im.p[i];
  } else {
    const float *r = im.plane(0), *g = im.plane(1), *b = im.plane(2);
    for (int64_t i = 0; i < n; ++i) sum += luma(r[i], g[i], b[i]);
  }
  const float mean = float(sum / double(n)), rest = (1.0f - f) * mean;
  for (int64_t i = 0; i < im.c * n; ++i) im.p[i] = unit(f * im.p[i] + rest);
}

// Blends every pixel with its own grey level (RGB only).
TWIST_VECTOR_CLONES void saturation(const Planes& im, float f) {
  if (im.c != 3) return;
  float *r = im.plane(0), *g = im.plane(1), *b = im.plane(2);
  for (int64_t i = 0; i < im.n(); ++i) {
    const float rest = (1.0f - f) * luma(r[i], g[i], b[i]);
    r[i] = unit(f * r[i] + rest), g[i] = unit(f * g[i] + rest), b[i] = unit(f * b[i] + rest);
  }
}

void hue(const Planes& im, float shift) {
  if (im.c != 3) return;
  shift_hue(im.plane(0), im.plane(1), im.plane(2), im.n(), shift);
}

TWIST_VECTOR_CLONES void grey(const Planes& im) {
  if (im.c != 3) return;
  float *r = im.plane(0), *g = im.plane(1), *b = im.plane(2);
  for (int64_t i = 0; i < im.n(); ++i) r[i] = g[i] = b[i] = luma(r[i], g[i], b[i]);
}

// Index i reflected into 0..n-1 (no edge repeat, as pad's reflect mode);
// |i| stays below n, as blur_radius ensures.
int64_t reflect(int64_t i, int64_t n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; }

// The normalized Gaussian taps -radius..radius for sigma.
std::vector<float> gaussian_taps(float sigma, int64_t radius) {
  std::vector<float> k(size_t(2 * radius + 1));
  float sum = 0;
  for (int64_t t = -radius; t <= radius; ++t)
    sum += k[size_t(t + radius)] = std::exp(-float(t * t) / (2 * sigma * sigma));
  for (auto& v : k) v /= sum;
  return k;
}

// Separable blur of every plane: rows into `tmp` (h x w), then columns back.
void blur(const Planes& im, float sigma, int64_t radius, std::vector<float>& tmp, std::vector<float>& row) {
  const auto k = gaussian_taps(sigma, radius);
  const int64_t h = im.h, w = im.w, taps = 2 * radius + 1;
  tmp.resize(size_t(h * w));
  row.resize(size_t(w + 2 * radius));
  for (int64_t c = 0; c < im.c; ++c) {
    float* p = im.plane(c);
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w + 2 * radius; ++x) row[size_t(x)] = p[y * w + reflect(x - radius, w)];
      float* o = tmp.data() + y * w;
      std::fill(o, o + w, 0.0f);
      for (int64_t t = 0; t < taps; ++t) add_scaled(o, row.data() + t, k[size_t(t)], w);
    }
    for (int64_t y = 0; y < h; ++y) {
      float* o = p + y * w;
      std::fill(o, o + w, 0.0f);
      for (int64_t t = 0; t < taps; ++t) add_scaled(o, tmp.data() + reflect(y + t - radius, h) * w, k[size_t(t)], w);
    }
  }
}

// Solarize (where `on`) and normalize, one pass.
TWIST_VECTOR_CLONES void solarize_normalize(const Planes& im, bool on, const Normalization& norm) {
  const float threshold = float(128.0 / 255.0);
  for (int64_t c = 0; c < im.c; ++c) {
    float* p = im.plane(c);
    const float mean = float(norm.mean[size_t(c)]), sd = float(norm.std[size_t(c)]);
    for (int64_t i = 0; i < im.n(); ++i) {
      const float v = on && p[i] >= threshold ? 1.0f - p[i] : p[i];
      p[i] = (v - mean) / sd;
    }
  }
}

// Per-sample draws as host arrays.
struct Draws {
  std::vector<float> fb, fc, fs, fh, sigma;
  std::vector<bool> grey, sol;
  std::array<int64_t, 4> order{};
};

std::vector<float> floats(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<bool> bools(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU, torch::kBool).contiguous();
  return std::vector<bool>(c.data_ptr<bool>(), c.data_ptr<bool>() + c.numel());
}

Draws host_draws(const ColourDraws& d, int64_t batch) {
  Draws h{floats(d.brightness), floats(d.contrast), floats(d.saturation), floats(d.hue),
          floats(d.sigma),      bools(d.grey),      bools(d.solarize)};
  for (const auto* v : {&h.fb, &h.fc, &h.fs, &h.fh, &h.sigma})
    check(int64_t(v->size()) == batch, "finish_view: one draw per image expected");
  check(int64_t(h.grey.size()) == batch && int64_t(h.sol.size()) == batch, "finish_view: one coin per image expected");
  const auto ord = d.order.to(torch::kCPU, torch::kInt64).contiguous();
  check(ord.numel() == 4, "finish_view: the jitter's order has 4 entries");
  std::copy(ord.data_ptr<int64_t>(), ord.data_ptr<int64_t>() + 4, h.order.begin());
  return h;
}

// The four jitter adjustments of image k in the drawn order.
void jitter(const Planes& im, const Draws& d, size_t k) {
  for (const int64_t op : d.order) {
    if (op == 0 && d.fb[k] != 1.0f) brightness(im, d.fb[k]);
    if (op == 1 && d.fc[k] != 1.0f) contrast(im, d.fc[k]);
    if (op == 2 && d.fs[k] != 1.0f) saturation(im, d.fs[k]);
    if (op == 3 && d.fh[k] != 0.0f) hue(im, d.fh[k]);
  }
}

}  // namespace

torch::Tensor finish_view_fused(const torch::Tensor& x, const ColourDraws& d, const Normalization& norm) {
  torch::Tensor out = x.contiguous().clone();
  finish_view_fused_(out, d, norm);
  return out;
}

void finish_view_fused_(torch::Tensor& x, const ColourDraws& d, const Normalization& norm) {
  check(x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous(),
        "finish_view_fused needs a contiguous CPU float32 B x C x H x W batch");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  check(C == 1 || C == 3, "finish_view: images need 1 or 3 channels, got " + std::to_string(C));
  norm.check_channels(C);
  const Draws draws = host_draws(d, B);
  const float max_sigma = B ? *std::max_element(draws.sigma.begin(), draws.sigma.end()) : 0.0f;
  const int64_t radius = blur_radius(max_sigma, H, W);
  float* base = x.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> tmp, row;
    for (int64_t k = lo; k < hi; ++k) {
      const Planes im{base + k * C * H * W, C, H, W};
      const auto s = size_t(k);
      jitter(im, draws, s);
      if (draws.grey[s]) grey(im);
      if (radius > 0 && draws.sigma[s] > 0) blur(im, draws.sigma[s], radius, tmp, row);
      solarize_normalize(im, draws.sol[s], norm);
    }
  });
}

}  // namespace twist
