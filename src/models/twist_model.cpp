#include "twist/error.h"
#include "twist/models.h"

namespace twist {

TwistModelImpl::TwistModelImpl(const TwistModelOptions& options) {
  backbone = register_module("backbone", make_backbone(options.backbone));
  HeadOptions h = options.head;
  h.in_dim = backbone->feature_dim();
  head = register_module("head", ProjectionHead(h));
}

std::vector<torch::Tensor> TwistModelImpl::forward(const std::vector<torch::Tensor>& views) {
  check(!views.empty(), "TwistModel::forward needs at least one view");
  std::vector<torch::Tensor> feats;
  size_t i = 0;
  while (i < views.size()) {
    size_t j = i;
    while (j < views.size() && views[j].sizes() == views[i].sizes()) ++j;
    std::vector<torch::Tensor> group(views.begin() + i, views.begin() + j);
    feats.push_back(backbone->forward(torch::cat(group)));
    i = j;
  }
  auto logits = head->forward(torch::cat(feats));
  return logits.chunk(static_cast<int64_t>(views.size()));
}

}  // namespace twist
