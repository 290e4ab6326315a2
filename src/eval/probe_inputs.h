#pragma once
// What the linear probe and fine-tuning read besides the model: running
// moments of features and the fixed standardization made from them, and the
// training images drawn batch by batch, so that an image folder of any size
// is read as it goes rather than decoded whole.
#include <torch/torch.h>

#include <cstdint>
#include <future>

#include "twist/data.h"

namespace twist {

// Per-dimension sums of rows (float64), added batch by batch.
struct FeatureMoments {
  torch::Tensor sum, sum_sq;  // d each
  int64_t rows = 0;
  void add(const torch::Tensor& x);
  torch::Tensor mean() const;
  torch::Tensor variance() const;  // per dimension, population
};

// A fixed affine map of features; identity when mean/inv_std are undefined.
struct Standardize {
  torch::Tensor mean, inv_std;  // float32
  torch::Tensor operator()(const torch::Tensor& x) const { return mean.defined() ? (x - mean) * inv_std : x; }
  // Centred and scaled to unit variance per dimension.
  static Standardize per_dimension(const FeatureMoments& m);
  // Centred per dimension, one scale for all: unit variance on average. A
  // dimension nearly constant on the measured images keeps its small scale
  // instead of being blown up to unit variance (which, when the backbone
  // then moves, multiplies its changes by up to 1e6).
  static Standardize overall(const FeatureMoments& m);
};

// A data set's images at given rows (eval_images_at at `side`); prefetch()
// starts decoding the next batch on another thread while the current one
// trains. An in-memory set's rows are copied out at once.
class ProbeImages {
 public:
  ProbeImages(const Dataset& data, int64_t side) : data_(data), side_(side) {}
  void prefetch(const torch::Tensor& rows);
  // The images at `rows`: the prefetched ones when these are the rows last
  // prefetched. Rethrows a decoding error (an ImageError naming the file).
  torch::Tensor take(const torch::Tensor& rows);

 private:
  const Dataset& data_;
  int64_t side_;
  torch::Tensor pending_rows_;
  std::future<torch::Tensor> pending_;
};

}  // namespace twist
