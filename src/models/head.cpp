#include "twist/error.h"
#include "twist/models.h"

namespace twist {
namespace nn = torch::nn;

ProjectionHeadImpl::ProjectionHeadImpl(const HeadOptions& o) {
  check(o.classes >= 2, "the number of classes C must be at least 2, got " + std::to_string(o.classes));
  check(o.hidden >= 1, "the head's hidden width must be positive");
  layers = nn::Sequential(nn::Linear(o.in_dim, o.hidden), nn::BatchNorm1d(o.hidden), nn::ReLU(),
                          nn::Linear(o.hidden, o.hidden), nn::BatchNorm1d(o.hidden), nn::ReLU(),
                          nn::Linear(o.hidden, o.classes));
  // NBS: normalization before softmax, without affine parameters (paper §3.2).
  if (o.nbs) layers->push_back(nn::BatchNorm1d(nn::BatchNormOptions(o.classes).affine(false)));
  register_module("layers", layers);
}

torch::Tensor ProjectionHeadImpl::forward(const torch::Tensor& features) {
  return layers->forward(features);
}

}  // namespace twist
