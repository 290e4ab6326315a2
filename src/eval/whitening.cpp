// ZCA whitening of feature rows, fitted on a bank chunk by chunk (sums in
// double precision) so a bank spilled to disk is read once.
#include "twist/error.h"
#include "twist/eval.h"

namespace twist {

Whitening Whitening::fit(const FeatureBank& rows, double eps, int64_t chunk) {
  torch::NoGradGuard no_grad;
  check(rows.rows() >= 2, "whitening needs at least two feature rows");
  check(eps > 0, "whitening: eps must be positive");
  const int64_t d = rows.dim();
  auto sum = torch::zeros({d}, torch::kFloat64);
  auto outer = torch::zeros({d, d}, torch::kFloat64);
  rows.for_each_chunk(chunk, [&](int64_t, const torch::Tensor& part) {
    const auto x = part.to(torch::kFloat64);
    sum += x.sum(0);
    outer += x.t().mm(x);
  });
  const double n = double(rows.rows());
  auto mean = sum / n;
  auto cov = outer / n - mean.view({-1, 1}).mm(mean.view({1, -1}));
  auto [e, V] = torch::linalg_eigh(cov);
  // A constant feature has eigenvalue 0 (or a rounding error below it): the
  // floor keeps its scale finite; an all-constant bank keeps W = 0.
  const double top = std::max(e.max().item<double>(), 0.0);
  auto inv_sqrt = (e.clamp_min(0) + eps * top).clamp_min(1e-30).rsqrt();
  if (top == 0) inv_sqrt.zero_();
  Whitening w;
  w.mean = mean.to(torch::kFloat32);
  w.matrix = V.mm(torch::diag(inv_sqrt)).mm(V.t()).to(torch::kFloat32);
  return w;
}

torch::Tensor Whitening::apply(const torch::Tensor& x) const {
  check(x.dim() == 2 && x.size(1) == mean.size(0),
        "whitening: rows of " + std::to_string(mean.size(0)) + " features expected");
  return (x.to(torch::kFloat32) - mean).mm(matrix);
}

}  // namespace twist
