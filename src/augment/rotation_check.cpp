#include "twist/rotation_check.h"

#include <algorithm>
#include <cmath>

#include "twist/error.h"

namespace twist {

const double kElongation = 1.5;
const int64_t kMinElongated = 16;
const double kLeanThreshold = 4.0;
const double kLeanScale = 1.5;
const double kAutoRotationDegrees = 20.0;
const double kAutoShearDegrees = 15.0;
const double kShearMaxLean = 10.0;

bool RotationCheck::rotations_suit() const { return elongated < kMinElongated || lean > kLeanThreshold; }

namespace {

// Each image's content (N x H x W): its grey pixels' distance from the
// median of its border.
torch::Tensor content(const torch::Tensor& images) {
  const torch::Tensor grey = images.to(torch::kFloat64).mean(1);
  const int64_t n = grey.size(0), h = grey.size(1), w = grey.size(2);
  const torch::Tensor border =
      torch::cat({grey.select(1, 0), grey.select(1, h - 1), grey.select(2, 0), grey.select(2, w - 1)}, 1);
  return (grey - std::get<0>(border.median(1)).view({n, 1, 1})).abs();
}

}  // namespace

RotationCheck rotation_check(const torch::Tensor& images) {
  check(images.dim() == 4 && images.size(0) >= 1, "the rotation check needs images (N x C x H x W)");
  torch::NoGradGuard no_grad;
  const torch::Tensor m = content(images);
  const auto f = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor y = torch::arange(m.size(1), f).view({1, -1, 1}),
                      x = torch::arange(m.size(2), f).view({1, 1, -1});
  const torch::Tensor total = m.sum({1, 2}), mass = total.clamp_min(1e-12);
  auto mean_of = [&](const torch::Tensor& t) { return (m * t).sum({1, 2}) / mass; };
  const torch::Tensor cy = mean_of(y).view({-1, 1, 1}), cx = mean_of(x).view({-1, 1, 1});
  const torch::Tensor dy = y - cy, dx = x - cx;
  const torch::Tensor sxx = mean_of(dx * dx), syy = mean_of(dy * dy), sxy = mean_of(dx * dy);
  // The second moments' eigenvalues and the larger one's direction.
  const torch::Tensor half = (sxx - syy) / 2, root = (half.square() + sxy.square()).sqrt();
  const torch::Tensor big = (sxx + syy) / 2 + root, small = (sxx + syy) / 2 - root;
  const torch::Tensor axis = 0.5 * torch::atan2(2 * sxy, sxx - syy).abs() * (180.0 / M_PI);  // 0..90
  const torch::Tensor off = torch::minimum(axis, 90.0 - axis);
  const torch::Tensor keep = (total > 0) & (big >= kElongation * small.clamp_min(1e-12));
  RotationCheck c;
  c.images = images.size(0);
  c.elongated = keep.sum().item<int64_t>();
  if (c.elongated > 0) c.lean = off.masked_select(keep).median().item<double>();
  return c;
}

double auto_rotation(const RotationCheck& check) {
  if (!check.rotations_suit()) return 0.0;
  if (check.elongated < kMinElongated) return kAutoRotationDegrees;  // no lean to measure
  return std::min(kAutoRotationDegrees, std::round(kLeanScale * check.lean));
}

double auto_shear(const RotationCheck& check) {
  const bool slight = check.elongated >= kMinElongated && check.lean > kLeanThreshold && check.lean <= kShearMaxLean;
  return slight ? kAutoShearDegrees : 0.0;
}

}  // namespace twist
