#include "twist/error.h"
#include "twist/models.h"

namespace twist {
namespace {

// `x` in the forward pass; its gradient divided by `n` in the backward one.
torch::Tensor scale_gradient(const torch::Tensor& x, int64_t n) {
  if (n == 1) return x;
  const double s = 1.0 / double(n);
  return x * s + x.detach() * (1.0 - s);
}

// The moving average's weight on the past: about the last 100 steps.
constexpr double kHeadLossMomentum = 0.99;

}  // namespace

TwistModelImpl::TwistModelImpl(const TwistModelOptions& options) {
  check(options.cluster_heads >= 1, "the number of cluster heads must be at least 1");
  backbone = register_module("backbone", make_backbone(options.backbone));
  HeadOptions h = options.head;
  h.in_dim = backbone->feature_dim();
  head = register_module("head", ProjectionHead(h));
  for (int64_t k = 1; k < options.cluster_heads; ++k)
    extra_heads.push_back(register_module("head_" + std::to_string(k), ProjectionHead(h)));
  if (options.cluster_heads > 1)
    head_loss = register_buffer("head_loss", torch::full({options.cluster_heads}, NAN, torch::kFloat64));
  if (options.aux_classes > 0) {
    h.classes = options.aux_classes;
    aux_head = register_module("aux_head", ProjectionHead(h));
  }
}

int64_t TwistModelImpl::chosen_head() const {
  if (!head_loss.defined()) return 0;
  const auto known = torch::nan_to_num(head_loss.cpu(), INFINITY);
  if (!torch::isfinite(known).any().item<bool>()) return 0;
  return known.argmin().item<int64_t>();
}

void TwistModelImpl::record_head_losses(const torch::Tensor& losses) {
  check(head_loss.defined() && losses.numel() == head_loss.numel(),
        "record_head_losses: one loss per cluster head expected");
  torch::NoGradGuard no_grad;
  const auto now = losses.detach().to(head_loss.device(), torch::kFloat64).reshape({-1});
  const auto mixed = head_loss * kHeadLossMomentum + now * (1 - kHeadLossMomentum);
  head_loss.copy_(torch::where(torch::isnan(head_loss), now, mixed));
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
  if (!extra_heads.empty()) {
    const auto shared = scale_gradient(all, num_heads());
    for (int64_t k = 0; k < num_heads(); ++k) out.heads.push_back(cluster_head(k)->forward(shared).chunk(n));
    out.logits = out.heads.at(size_t(chosen_head()));
  } else {
    out.logits = head->forward(all).chunk(n);
  }
  if (aux_head) out.aux = aux_head->forward(all).chunk(n);
  out.features = all;
  return out;
}

}  // namespace twist
