#include "probe_inputs.h"

#include "twist/error.h"

namespace twist {

void FeatureMoments::add(const torch::Tensor& x) {
  check(x.dim() == 2, "feature moments: expected rows of features (N x d)");
  const auto d = x.to(torch::kFloat64);
  if (!sum.defined()) {
    sum = d.sum(0);
    sum_sq = d.pow(2).sum(0);
  } else {
    sum.add_(d.sum(0));
    sum_sq.add_(d.pow(2).sum(0));
  }
  rows += x.size(0);
}

torch::Tensor FeatureMoments::mean() const {
  check(rows > 0, "feature moments: no rows were added");
  return sum / double(rows);
}

torch::Tensor FeatureMoments::variance() const {
  const auto m = mean();
  return (sum_sq / double(rows) - m * m).clamp_min(0);
}

Standardize Standardize::per_dimension(const FeatureMoments& m) {
  Standardize s;
  s.mean = m.mean().to(torch::kFloat32);
  s.inv_std = (1.0 / m.variance().sqrt().clamp_min(1e-6)).to(torch::kFloat32);
  return s;
}

Standardize Standardize::overall(const FeatureMoments& m) {
  Standardize s;
  s.mean = m.mean().to(torch::kFloat32);
  s.inv_std = (1.0 / m.variance().mean().sqrt().clamp_min(1e-6)).to(torch::kFloat32);
  return s;
}

void ProbeImages::prefetch(const torch::Tensor& rows) {
  if (!data_.file_backed()) return;
  if (pending_.valid()) pending_.wait();  // a batch never taken: its decoding ends first
  pending_rows_ = rows;
  pending_ = std::async(std::launch::async, [this, rows] { return eval_images_at(data_, rows, side_); });
}

torch::Tensor ProbeImages::take(const torch::Tensor& rows) {
  if (pending_.valid() && pending_rows_.is_same(rows)) {
    pending_rows_ = torch::Tensor();
    return pending_.get();
  }
  return eval_images_at(data_, rows, side_);
}

}  // namespace twist
