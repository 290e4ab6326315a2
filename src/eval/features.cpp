#include "twist/augment.h"
#include "twist/eval.h"

namespace twist {

Embeddings embed(TwistModel& model, const Dataset& data, const Normalization& norm,
                 int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<torch::Tensor> feats, logits;
  for (int64_t i = 0; i < data.size(); i += batch_size) {
    const int64_t n = std::min(batch_size, data.size() - i);
    auto x = normalize(data.images.narrow(0, i, n).to(torch::kFloat32).div_(255.0), norm);
    auto f = model->backbone->forward(x);
    feats.push_back(f);
    logits.push_back(model->head->forward(f));
  }
  model->train(was_training);
  return {torch::cat(feats), torch::cat(logits)};
}

torch::Tensor pixel_features(const Dataset& data) {
  return data.images.to(torch::kFloat32).div_(255.0).flatten(1);
}

torch::Tensor centered_pixel_features(const Dataset& data, const Normalization& norm) {
  return normalize(pixel_features(data).view(data.images.sizes()), norm).flatten(1);
}

}  // namespace twist
