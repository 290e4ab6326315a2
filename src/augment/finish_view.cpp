// What every view does after its crop: colour jitter, grey, blur, solarize
// and normalization, as batched tensor operations (any device, any float
// type) or, on a CPU float32 batch, fused image by image (finish_fused.cpp).
#include "twist/augment.h"

namespace twist {

torch::Tensor finish_view(torch::Tensor x, const ViewOptions& v, const ColourDraws& d, const Normalization& norm) {
  const bool grey_or_rgb = x.dim() == 4 && (x.size(1) == 1 || x.size(1) == 3);
  if (!x.device().is_cpu() || x.scalar_type() != torch::kFloat32 || !grey_or_rgb)
    return finish_view_batched(std::move(x), v, d, norm);
  // A batch nothing else refers to (a caller's moved temporary) is finished
  // in place; any other is copied first, so the caller's stays as it was.
  const bool own = x.is_contiguous() && x.use_count() == 1 && x.storage().use_count() == 1;
  if (!own) return finish_view_fused(x, d, norm);
  finish_view_fused_(x, d, norm);
  return x;
}

torch::Tensor finish_view_batched(torch::Tensor x, const ViewOptions& v, const ColourDraws& d,
                                  const Normalization& norm) {
  // Colour jitter applies its four adjustments in a random order (per batch).
  if (v.jitter_p > 0) {
    auto ord = d.order.accessor<int64_t, 1>();
    for (int k = 0; k < 4; ++k) {
      switch (ord[k]) {
        case 0:
          if (v.brightness > 0) x = adjust_brightness(x, d.brightness);
          break;
        case 1:
          if (v.contrast > 0) x = adjust_contrast(x, d.contrast);
          break;
        case 2:
          if (v.saturation > 0) x = adjust_saturation(x, d.saturation);
          break;
        case 3:
          if (v.hue > 0) x = adjust_hue(x, d.hue);
          break;
      }
    }
  }
  if (x.size(1) == 3 && v.grayscale_p > 0)
    x = torch::where(d.grey.view({-1, 1, 1, 1}), rgb_to_grayscale(x).expand_as(x), x);
  if (v.blur_p > 0) x = gaussian_blur(x, d.sigma);
  if (v.solarize_p > 0) x = torch::where(d.solarize.view({-1, 1, 1, 1}), solarize(x), x);
  return normalize(x, norm);
}

}  // namespace twist
