#include "twist/error.h"
#include "twist/models.h"

namespace twist {

TwistModelImpl::TwistModelImpl(const TwistModelOptions& options) {
  backbone = register_module("backbone", make_backbone(options.backbone));
  HeadOptions h = options.head;
  h.in_dim = backbone->feature_dim();
  head = register_module("head", ProjectionHead(h));
  if (options.aux_classes > 0) {
    h.classes = options.aux_classes;
    aux_head = register_module("aux_head", ProjectionHead(h));
  }
}

std::vector<torch::Tensor> TwistModelImpl::forward(const std::vector<torch::Tensor>& views) {
  return forward_heads(views).logits;
}

HeadLogits TwistModelImpl::forward_heads(const std::vector<torch::Tensor>& views) {
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
  const auto all = torch::cat(feats);
  const auto n = static_cast<int64_t>(views.size());
  HeadLogits out;
  out.logits = head->forward(all).chunk(n);
  if (aux_head) out.aux = aux_head->forward(all).chunk(n);
  return out;
}

}  // namespace twist
