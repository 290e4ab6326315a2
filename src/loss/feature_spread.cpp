// ln(d * ||C||_F^2 / tr(C)^2): the log of d over the participation ratio of
// the features' covariance (twist/feature_spread.h).
#include "twist/feature_spread.h"

#include "twist/error.h"

namespace twist {

torch::Tensor feature_spread_penalty(const torch::Tensor& features) {
  check(features.dim() == 2 && features.size(0) >= 2 && features.size(1) >= 1,
        "feature_spread_penalty: features must be N x d with N >= 2");
  const auto f = features.to(torch::kFloat32);
  const auto centred = f - f.mean(0, true);
  const auto cov = centred.t().mm(centred) / double(f.size(0) - 1);
  // tr(C) is the total variance; a tiny floor keeps constant features finite.
  const auto trace = cov.diagonal().sum().clamp_min(1e-12);
  return (double(f.size(1)) * cov.pow(2).sum() / trace.pow(2)).log();
}

}  // namespace twist
