#include <cmath>

#include "twist/augment.h"

namespace twist {

at::Generator make_generator(uint64_t seed, uint64_t stream) {
  // splitmix64 of the pair, so nearby (seed, stream) pairs get unrelated states.
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return at::detail::createCPUGenerator(z);
}

torch::Tensor random_crop_boxes(int64_t batch, int64_t height, int64_t width, double scale_min,
                                double scale_max, double ratio_min, double ratio_max,
                                at::Generator& gen) {
  const int64_t tries = 10;
  const auto f = torch::TensorOptions().dtype(torch::kFloat64);
  const double area = double(height) * double(width);
  auto target = (torch::rand({batch, tries}, gen, f) * (scale_max - scale_min) + scale_min) * area;
  auto log_ratio = torch::rand({batch, tries}, gen, f) * (std::log(ratio_max) - std::log(ratio_min)) +
                   std::log(ratio_min);
  auto ratio = log_ratio.exp();
  auto w = (target * ratio).sqrt().round();
  auto h = (target / ratio).sqrt().round();
  auto valid = (w > 0) & (w <= width) & (h > 0) & (h <= height);
  // The first valid try of each row, as torchvision's loop takes it.
  auto first = valid & (valid.to(torch::kInt64).cumsum(1) == 1);
  auto idx = first.to(torch::kInt64).argmax(1, true);
  auto any = valid.any(1);
  auto wi = w.gather(1, idx).squeeze(1);
  auto hi = h.gather(1, idx).squeeze(1);
  // Fallback: the largest centred box whose ratio lies within the range.
  double in_ratio = double(width) / double(height);
  double fw = width, fh = height;
  if (in_ratio < ratio_min) {
    fh = std::round(fw / ratio_min);
  } else if (in_ratio > ratio_max) {
    fw = std::round(fh * ratio_max);
  }
  wi = torch::where(any, wi, torch::full_like(wi, fw));
  hi = torch::where(any, hi, torch::full_like(hi, fh));
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

torch::Tensor hflip(const torch::Tensor& images) { return images.flip({3}); }

}  // namespace twist
