#include <cmath>

#include "twist/augment.h"

#include "resample.h"
#include "twist/error.h"

namespace twist {

torch::Tensor random_crop_boxes(int64_t batch, int64_t height, int64_t width, double scale_min, double scale_max,
                                double ratio_min, double ratio_max, at::Generator& gen) {
  return random_crop_boxes(torch::full({batch}, height, torch::kInt64), torch::full({batch}, width, torch::kInt64),
                           scale_min, scale_max, ratio_min, ratio_max, gen);
}

torch::Tensor random_crop_boxes(const torch::Tensor& heights, const torch::Tensor& widths, double scale_min,
                                double scale_max, double ratio_min, double ratio_max, at::Generator& gen) {
  const int64_t batch = heights.size(0);
  const int64_t tries = 10;
  const auto f = torch::TensorOptions().dtype(torch::kFloat64);
  auto height = heights.to(torch::kFloat64), width = widths.to(torch::kFloat64);  // B
  auto area = (height * width).unsqueeze(1);
  auto target = (torch::rand({batch, tries}, gen, f) * (scale_max - scale_min) + scale_min) * area;
  auto log_ratio =
      torch::rand({batch, tries}, gen, f) * (std::log(ratio_max) - std::log(ratio_min)) + std::log(ratio_min);
  auto ratio = log_ratio.exp();
  auto w = (target * ratio).sqrt().round();
  auto h = (target / ratio).sqrt().round();
  auto valid = (w > 0) & (w <= width.unsqueeze(1)) & (h > 0) & (h <= height.unsqueeze(1));
  // The first valid try of each row, as torchvision's loop takes it.
  auto first = valid & (valid.to(torch::kInt64).cumsum(1) == 1);
  auto idx = first.to(torch::kInt64).argmax(1, true);
  auto any = valid.any(1);
  auto wi = w.gather(1, idx).squeeze(1);
  auto hi = h.gather(1, idx).squeeze(1);
  // Fallback: the largest centred box whose ratio lies within the range.
  auto fw = width.clone(), fh = height.clone();
  auto fwa = fw.accessor<double, 1>(), fha = fh.accessor<double, 1>();
  for (int64_t i = 0; i < batch; ++i) {
    const double in_ratio = fwa[i] / fha[i];
    if (in_ratio < ratio_min) {
      fha[i] = std::round(fwa[i] / ratio_min);
    } else if (in_ratio > ratio_max) {
      fwa[i] = std::round(fha[i] * ratio_max);
    }
  }
  wi = torch::where(any, wi, fw);
  hi = torch::where(any, hi, fh);
  // Offsets uniform over the valid integer positions.
  auto top = (torch::rand({batch}, gen, f) * (height - hi + 1)).floor();
  auto left = (torch::rand({batch}, gen, f) * (width - wi + 1)).floor();
  return torch::stack({top, left, hi, wi}, 1).to(torch::kFloat32);
}

torch::Tensor crop_resize(const torch::Tensor& images, const torch::Tensor& boxes, int64_t size,
                          const torch::Tensor& flip) {
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  auto top = boxes.select(1, 0), left = boxes.select(1, 1);
  auto h = boxes.select(1, 2), w = boxes.select(1, 3);
  // Affine map from output to input in normalized coordinates
  // (align_corners=false): output pixel u samples input x = left + w(u+.5)/size - .5.
  auto sign = torch::where(flip, torch::full_like(w, -1.0), torch::ones_like(w));
  auto sx = w / W * sign;
  auto tx = (2.0 * left + w) / W - 1.0;
  auto sy = h / H;
  auto ty = (2.0 * top + h) / H - 1.0;
  auto zero = torch::zeros_like(sx);
  auto theta = torch::stack({torch::stack({sx, zero, tx}, 1), torch::stack({zero, sy, ty}, 1)}, 1);
  auto grid = at::affine_grid_generator(theta.to(images.dtype()), {B, C, size, size}, false);
  // interpolation 2 = bicubic, padding 1 = border.
  return at::grid_sampler(images, grid, 2, 1, false).clamp_(0.0, 1.0);
}

torch::Tensor crop_then_resize(const torch::Tensor& image_u8, const torch::Tensor& box, int64_t size, bool flip) {
  return crop_scaled_then_resize(image_u8, box, 1.0, 1.0, size, flip);
}

torch::Tensor crop_scaled_then_resize(const torch::Tensor& image_u8, const torch::Tensor& box, double scale_y,
                                      double scale_x, int64_t size, bool flip) {
  auto b = box.to(torch::kFloat64).contiguous();
  const double* v = b.data_ptr<double>();
  check(b.numel() == 4, "crop_then_resize: a box is top, left, height, width");
  auto out = torch::empty({1, image_u8.size(0), size, size}, torch::kFloat32);
  crop_scaled_into(image_u8, CropBox{v[0], v[1], v[2], v[3]}, scale_y, scale_x, flip, out[0]);
  return out;
}

void crop_scaled_into(const torch::Tensor& image_u8, CropBox box, double scale_y, double scale_x, bool flip,
                      torch::Tensor out) {
  const double top = box.top * scale_y, left = box.left * scale_x;
  const double h = box.height * scale_y, w = box.width * scale_x;
  // The whole pixels the box touches; at scale 1 with a box of whole pixels, the box itself.
  const int64_t r0 = int64_t(std::floor(top)), c0 = int64_t(std::floor(left));
  const int64_t r1 = int64_t(std::ceil(top + h - 1e-9)), c1 = int64_t(std::ceil(left + w - 1e-9));
  check(image_u8.dim() == 3 && r0 >= 0 && c0 >= 0 && h > 0 && w > 0 && r1 <= image_u8.size(1) && c1 <= image_u8.size(2),
        "crop_then_resize: the box must lie inside a C x H x W image");
  check(out.dim() == 3 && out.size(0) == image_u8.size(0) && out.size(1) == out.size(2) &&
            out.scalar_type() == torch::kFloat32 && out.is_contiguous() && out.device().is_cpu(),
        "crop_then_resize: the output must be a contiguous CPU float32 C x size x size tensor");
  // Only the box's pixels are read and resampled, rows then columns.
  resample_box(image_u8, top, left, h, w, r0, r1, c0, c1, out.size(1), flip, out.data_ptr<float>());
}

torch::Tensor hflip(const torch::Tensor& images) { return images.flip({3}); }

torch::Tensor rotate(const torch::Tensor& images, const torch::Tensor& degrees) {
  return rotate_and_shear(images, degrees, torch::Tensor());
}

torch::Tensor rotate_and_shear(const torch::Tensor& images, const torch::Tensor& degrees, const torch::Tensor& shear) {
  namespace F = torch::nn::functional;
  check(images.dim() == 4 && images.size(2) == images.size(3), "rotate expects square B x C x S x S images");
  const int64_t B = images.size(0);
  for (const auto* t : {&degrees, &shear})
    check(!t->defined() || (t->dim() == 1 && t->size(0) == B), "rotate needs one angle per image");
  const auto radians = [&](const torch::Tensor& d) {
    return d.defined() ? d.to(images.scalar_type()) * (M_PI / 180.0) : torch::zeros({B}, images.options());
  };
  // Where each output pixel samples the input, in grid_sample's [-1, 1]
  // coordinates (x right, y down): the output turned back by the angle,
  // after its rows slid back by the shear (x_in = x - t y_up = x + t y_down).
  const auto rad = radians(degrees), t = radians(shear).tan();
  const auto c = rad.cos(), s = rad.sin(), zero = torch::zeros_like(c);
  const auto theta = torch::stack({torch::stack({c, c * t - s, zero}, 1), torch::stack({s, s * t + c, zero}, 1)}, 1);
  const auto grid = F::affine_grid(theta, images.sizes(), /*align_corners=*/false);
  return F::grid_sample(
      images, grid,
      F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
}

}  // namespace twist
