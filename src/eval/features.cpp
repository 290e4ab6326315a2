#include "twist/augment.h"
#include "twist/device.h"
#include "twist/eval.h"

namespace twist {
namespace {

torch::Device module_device(const std::vector<torch::Tensor>& params) {
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

}  // namespace

torch::Tensor backbone_batch_features(Backbone backbone, const torch::Tensor& images_u8, const Normalization& norm) {
  torch::NoGradGuard no_grad;
  const bool was_training = backbone->is_training();
  backbone->eval();
  // Computed where the backbone is (a GPU after training there), returned on the host.
  const auto x = to_device(images_u8, module_device(backbone->parameters())).to(torch::kFloat32).div_(255.0);
  auto out = backbone->forward(normalize(x, norm)).cpu();
  backbone->train(was_training);
  return out;
}

torch::Tensor head_batch_logits(TwistModel& model, const torch::Tensor& features) {
  return head_batch_logits(model, features, model->chosen_head());
}

torch::Tensor head_batch_logits(TwistModel& model, const torch::Tensor& features, int64_t k) {
  torch::NoGradGuard no_grad;
  ProjectionHead& head = model->cluster_head(k);
  const bool was_training = head->is_training();
  head->eval();
  auto out = head->forward(features.to(module_device(head->parameters()))).cpu();
  head->train(was_training);
  return out;
}

torch::Tensor backbone_features(Backbone backbone, const torch::Tensor& images_u8, const Normalization& norm,
                                int64_t batch_size) {
  std::vector<torch::Tensor> feats;
  for (int64_t i = 0; i < images_u8.size(0); i += batch_size) {
    const int64_t n = std::min(batch_size, images_u8.size(0) - i);
    feats.push_back(backbone_batch_features(backbone, images_u8.narrow(0, i, n), norm));
  }
  return torch::cat(feats);
}

Embeddings embed(TwistModel& model, const Dataset& data, const Normalization& norm, int64_t batch_size) {
  Embeddings e;
  e.features = backbone_features(model->backbone, data.images, norm, batch_size);
  std::vector<torch::Tensor> logits;
  for (int64_t i = 0; i < e.features.size(0); i += batch_size)
    logits.push_back(head_batch_logits(model, e.features.narrow(0, i, std::min(batch_size, e.features.size(0) - i))));
  e.logits = torch::cat(logits);
  return e;
}

torch::Tensor pixel_batch_features(const torch::Tensor& images_u8) {
  return images_u8.to(torch::kFloat32).div_(255.0).flatten(1);
}

torch::Tensor centered_pixel_batch_features(const torch::Tensor& images_u8, const Normalization& norm) {
  return normalize(images_u8.to(torch::kFloat32).div_(255.0), norm).flatten(1);
}

torch::Tensor pixel_features(const Dataset& data) { return pixel_batch_features(data.images); }

torch::Tensor centered_pixel_features(const Dataset& data, const Normalization& norm) {
  return centered_pixel_batch_features(data.images, norm);
}

}  // namespace twist
