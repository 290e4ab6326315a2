#include "twist/mirror_check.h"

#include "twist/error.h"

namespace twist {

const double kMirrorThreshold = 0.7;

bool MirrorCheck::flips_suit() const { return farther < kMirrorThreshold; }

namespace {

// Rows of unit length: each image's pixels less their mean.
torch::Tensor unit_rows(const torch::Tensor& images) {
  torch::Tensor x = images.to(torch::kFloat32).flatten(1);
  x = x - x.mean(1, /*keepdim=*/true);
  return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1).eps(1e-8));
}

// Each row's highest cosine to a row of `bank` other than its own index.
torch::Tensor nearest_other(const torch::Tensor& queries, const torch::Tensor& bank) {
  torch::Tensor sim = queries.matmul(bank.t());
  sim.fill_diagonal_(-2.0);
  return std::get<0>(sim.max(1));
}

}  // namespace

MirrorCheck mirror_check(const torch::Tensor& images) {
  check(images.dim() == 4 && images.size(0) >= 2, "the mirror check needs at least two images (N x C x H x W)");
  torch::NoGradGuard no_grad;
  const torch::Tensor x = unit_rows(images);
  const torch::Tensor m = unit_rows(images.flip({3}));
  const torch::Tensor own = nearest_other(x, x), mirrored = nearest_other(m, x);
  const torch::Tensor farther = (mirrored < own).to(torch::kFloat64) + 0.5 * (mirrored == own).to(torch::kFloat64);
  MirrorCheck c;
  c.images = images.size(0);
  c.farther = farther.mean().item<double>();
  return c;
}

double auto_flip_p(const MirrorCheck& check) { return check.flips_suit() ? 0.5 : 0.0; }

}  // namespace twist
