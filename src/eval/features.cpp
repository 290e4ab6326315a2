#include "twist/augment.h"
#include "twist/device.h"
#include "twist/eval.h"

namespace twist {

torch::Tensor backbone_features(Backbone backbone, const torch::Tensor& images_u8, const Normalization& norm,
                                int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = backbone->is_training();
  backbone->eval();
  // Computed where the backbone is (a GPU after training there), returned on the host.
  const auto params = backbone->parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  std::vector<torch::Tensor> feats;
  for (int64_t i = 0; i < images_u8.size(0); i += batch_size) {
    const int64_t n = std::min(batch_size, images_u8.size(0) - i);
    const auto x = to_device(images_u8.narrow(0, i, n), device).to(torch::kFloat32).div_(255.0);
    feats.push_back(backbone->forward(normalize(x, norm)).cpu());
  }
  backbone->train(was_training);
  return torch::cat(feats);
}

Embeddings embed(TwistModel& model, const Dataset& data, const Normalization& norm, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  Embeddings e;
  e.features = backbone_features(model->backbone, data.images, norm, batch_size);
  const bool was_training = model->head->is_training();
  model->head->eval();
  const auto params = model->head->parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  std::vector<torch::Tensor> logits;
  for (int64_t i = 0; i < e.features.size(0); i += batch_size) {
    const auto f = e.features.narrow(0, i, std::min(batch_size, e.features.size(0) - i)).to(device);
    logits.push_back(model->head->forward(f).cpu());
  }
  e.logits = torch::cat(logits);
  model->head->train(was_training);
  return e;
}

torch::Tensor pixel_features(const Dataset& data) { return data.images.to(torch::kFloat32).div_(255.0).flatten(1); }

torch::Tensor centered_pixel_features(const Dataset& data, const Normalization& norm) {
  return normalize(pixel_features(data).view(data.images.sizes()), norm).flatten(1);
}

}  // namespace twist
