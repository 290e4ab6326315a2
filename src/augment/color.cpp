#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "pixel_ops.h"
#include "twist/augment.h"
#include "twist/error.h"

namespace twist {
namespace {

torch::Tensor per_sample(const torch::Tensor& v) { return v.view({-1, 1, 1, 1}).to(torch::kFloat32); }

torch::Tensor blend(const torch::Tensor& x, const torch::Tensor& other, const torch::Tensor& factor) {
  // factor*x + (1-factor)*other, clamped like torchvision's _blend.
  return (per_sample(factor) * x + (1.0 - per_sample(factor)) * other).clamp_(0.0, 1.0);
}

// adjust_hue on a CPU float32 batch in one pass over its pixels, without
// the dozen full-image temporaries of the tensor form (a 224-pixel view:
// about 10x faster).
torch::Tensor adjust_hue_fused(const torch::Tensor& x, const torch::Tensor& shift) {
  const torch::Tensor in = x.contiguous(), sh = shift.to(torch::kFloat32).contiguous();
  torch::Tensor out = torch::empty_like(in);
  const int64_t n = in.size(2) * in.size(3);
  const float* src = in.data_ptr<float>();
  const float* by = sh.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, in.size(0), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      float* r = dst + 3 * n * k;
      std::copy(src + 3 * n * k, src + 3 * n * (k + 1), r);
      shift_hue(r, r + n, r + 2 * n, n, by[k]);
    }
  });
  return out;
}

}  // namespace

torch::Tensor rgb_to_grayscale(const torch::Tensor& x) {
  if (x.size(1) == 1) return x;
  // ITU-R 601-2 luma, as PIL's convert("L").
  return (0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2)).unsqueeze(1);
}

torch::Tensor adjust_brightness(const torch::Tensor& x, const torch::Tensor& factor) {
  return (x * per_sample(factor)).clamp_(0.0, 1.0);
}

torch::Tensor adjust_contrast(const torch::Tensor& x, const torch::Tensor& factor) {
  auto mean = rgb_to_grayscale(x).mean({1, 2, 3}, true);
  return blend(x, mean, factor);
}

torch::Tensor adjust_saturation(const torch::Tensor& x, const torch::Tensor& factor) {
  if (x.size(1) == 1) return x;
  return blend(x, rgb_to_grayscale(x), factor);
}

torch::Tensor adjust_hue(const torch::Tensor& x, const torch::Tensor& shift) {
  if (x.size(1) == 1) return x;
  check(x.size(1) == 3, "adjust_hue needs 1 or 3 channels");
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32) return adjust_hue_fused(x, shift);
  auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  auto maxc = torch::max(torch::max(r, g), b);
  auto minc = torch::min(torch::min(r, g), b);
  auto v = maxc;
  auto delta = maxc - minc;
  auto grey = delta == 0;
  auto ones = torch::ones_like(maxc);
  auto s = delta / torch::where(grey, ones, maxc);
  auto d = torch::where(grey, ones, delta);
  auto rc = (maxc - r) / d, gc = (maxc - g) / d, bc = (maxc - b) / d;
  auto is_r = maxc == r;
  auto is_g = (maxc == g) & ~is_r;
  auto is_b = ~is_g & ~is_r;
  auto h = is_r.to(x.dtype()) * (bc - gc) + is_g.to(x.dtype()) * (2.0 + rc - bc) + is_b.to(x.dtype()) * (4.0 + gc - rc);
  h = torch::fmod(h / 6.0 + 1.0, 1.0);
  h = torch::fmod(h + shift.view({-1, 1, 1}).to(x.dtype()) + 1.0, 1.0);
  // HSV -> RGB by sector.
  auto h6 = h * 6.0;
  auto i = h6.floor();
  auto f = h6 - i;
  auto sector = i.to(torch::kInt64).remainder(6);
  auto p = (v * (1.0 - s)).clamp(0.0, 1.0);
  auto q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
  auto t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
  auto pick = [&](const std::vector<torch::Tensor>& by_sector) {
    auto out = by_sector[5];
    for (int k = 4; k >= 0; --k) out = torch::where(sector == k, by_sector[k], out);
    return out;
  };
  auto ro = pick({v, q, p, p, t, v});
  auto go = pick({t, v, v, q, p, p});
  auto bo = pick({p, p, t, v, v, q});
  return torch::stack({ro, go, bo}, 1);
}

torch::Tensor gaussian_blur(const torch::Tensor& x, const torch::Tensor& sigma) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t radius = blur_radius(sigma.numel() ? sigma.max().item<double>() : 0.0, H, W);
  if (radius < 1) return x;
  auto t = torch::arange(-radius, radius + 1, x.options()).view({1, -1});
  auto s = sigma.to(x.dtype()).view({-1, 1});
  // A sigma of 0 gives a delta kernel: the sample passes unchanged.
  auto safe = torch::where(s > 0, s, torch::ones_like(s));
  auto k = torch::exp(-t * t / (2.0 * safe * safe));
  auto delta = (t == 0).to(x.dtype()).expand_as(k);
  k = torch::where(s > 0, k, delta);
  k = k / k.sum(1, true);
  k = k.repeat_interleave(C, 0);  // (B*C) x K
  const int64_t K = 2 * radius + 1;
  auto y = x.reshape({1, B * C, H, W});
  namespace F = torch::nn::functional;
  y = F::pad(y, F::PadFuncOptions({radius, radius, radius, radius}).mode(torch::kReflect));
  y = F::conv2d(y, k.view({B * C, 1, 1, K}), F::Conv2dFuncOptions().groups(B * C));
  y = F::conv2d(y, k.view({B * C, 1, K, 1}), F::Conv2dFuncOptions().groups(B * C));
  return y.view({B, C, H, W});
}

torch::Tensor solarize(const torch::Tensor& x, double threshold) { return torch::where(x >= threshold, 1.0 - x, x); }

torch::Tensor normalize(const torch::Tensor& x, const Normalization& norm) {
  const int64_t C = x.size(1);
  norm.check_channels(C);
  auto mean = torch::tensor(norm.mean, x.options()).view({1, C, 1, 1});
  auto std = torch::tensor(norm.std, x.options()).view({1, C, 1, 1});
  return (x - mean) / std;
}

}  // namespace twist
