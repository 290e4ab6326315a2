#include "twist/augment.h"
#include "twist/error.h"

namespace twist {
namespace {

torch::Tensor uniform(int64_t n, double lo, double hi, at::Generator& gen) {
  return torch::rand({n}, gen, torch::kFloat32) * (hi - lo) + lo;
}

torch::Tensor coin(int64_t n, double p, at::Generator& gen) {
  return torch::rand({n}, gen, torch::kFloat32) < p;
}

// Jitter factor: uniform in [1-s, 1+s] where the sample is jittered, else 1.
torch::Tensor factor(int64_t n, double strength, const torch::Tensor& on, at::Generator& gen) {
  auto f = uniform(n, std::max(0.0, 1.0 - strength), 1.0 + strength, gen);
  return torch::where(on, f, torch::ones_like(f));
}

}  // namespace

MultiCropOptions MultiCropOptions::paper(int64_t image_size, int n_local, int64_t local_size) {
  MultiCropOptions m;
  ViewOptions g1;
  g1.size = image_size;
  g1.blur_p = 1.0;
  ViewOptions g2 = g1;
  g2.blur_p = 0.1;
  g2.solarize_p = 0.2;
  ViewOptions local = g1;
  local.size = local_size;
  local.scale_min = 0.05;
  local.scale_max = 0.4;
  local.blur_p = 0.5;
  m.views = {g1, g2};
  for (int i = 0; i < n_local; ++i) m.views.push_back(local);
  return m;
}

torch::Tensor augment_view(const torch::Tensor& images_u8, const ViewOptions& v,
                           const Normalization& norm, at::Generator& gen) {
  check(images_u8.dim() == 4, "augment_view expects B x C x H x W images");
  const int64_t B = images_u8.size(0), H = images_u8.size(2), W = images_u8.size(3);
  auto x = images_u8.to(torch::kFloat32).div_(255.0);
  // Draw every random number up front, in a fixed order, so the stream a view
  // consumes does not depend on which operations happen to be active.
  auto boxes = random_crop_boxes(B, H, W, v.scale_min, v.scale_max, v.ratio_min, v.ratio_max, gen);
  auto flip = coin(B, v.flip_p, gen);
  auto jitter = coin(B, v.jitter_p, gen);
  auto fb = factor(B, v.brightness, jitter, gen);
  auto fc = factor(B, v.contrast, jitter, gen);
  auto fs = factor(B, v.saturation, jitter, gen);
  auto fh = torch::where(jitter, uniform(B, -v.hue, v.hue, gen), torch::zeros({B}));
  auto order = torch::randperm(4, gen, torch::kInt64);
  auto gray = coin(B, v.grayscale_p, gen);
  const double sigma_scale = double(v.size) / 224.0;
  auto sigma = uniform(B, v.sigma_min * sigma_scale, v.sigma_max * sigma_scale, gen);
  sigma = torch::where(coin(B, v.blur_p, gen), sigma, torch::zeros_like(sigma));
  auto sol = coin(B, v.solarize_p, gen);
  if (!x.device().is_cpu()) {
    // Drawn on the host generator (so a view is the same wherever it is
    // made), applied where the images are.
    const auto d = x.device();
    for (auto* t : {&boxes, &flip, &fb, &fc, &fs, &fh, &gray, &sigma, &sol}) *t = t->to(d, /*non_blocking=*/true);
  }

  x = crop_resize(x, boxes, v.size, flip);
  // Colour jitter applies its four adjustments in a random order (per batch).
  if (v.jitter_p > 0) {
    auto ord = order.accessor<int64_t, 1>();
    for (int k = 0; k < 4; ++k) {
      switch (ord[k]) {
        case 0: if (v.brightness > 0) x = adjust_brightness(x, fb); break;
        case 1: if (v.contrast > 0) x = adjust_contrast(x, fc); break;
        case 2: if (v.saturation > 0) x = adjust_saturation(x, fs); break;
        case 3: if (v.hue > 0) x = adjust_hue(x, fh); break;
      }
    }
  }
  if (x.size(1) == 3 && v.grayscale_p > 0)
    x = torch::where(gray.view({-1, 1, 1, 1}), rgb_to_grayscale(x).expand_as(x), x);
  if (v.blur_p > 0) x = gaussian_blur(x, sigma);
  if (v.solarize_p > 0) x = torch::where(sol.view({-1, 1, 1, 1}), solarize(x), x);
  return normalize(x, norm);
}

std::vector<torch::Tensor> augment_views(const torch::Tensor& images_u8,
                                         const MultiCropOptions& crops, const Normalization& norm,
                                         at::Generator& gen) {
  std::vector<torch::Tensor> out;
  out.reserve(crops.views.size());
  for (const auto& v : crops.views) out.push_back(augment_view(images_u8, v, norm, gen));
  return out;
}

}  // namespace twist
