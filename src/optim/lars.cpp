#include "twist/error.h"
#include "twist/optim.h"

namespace twist {

Lars::Lars(std::vector<torch::Tensor> params, LarsOptions options)
    : Optimizer(std::move(params)), momentum_(params_.size()), options_(options) {}

void Lars::step(double lr, double weight_decay) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    torch::Tensor d = p.grad();
    const bool matrix = p.dim() > 1;  // weights: decayed and adapted; 1-D: neither, at lr * bias_lr_ratio
    if (matrix) {
      d = d.add(p, weight_decay);
      if (options_.adapt) {
        auto pn = p.norm();
        auto dn = d.norm();
        auto one = torch::ones_like(pn);
        auto q = torch::where((pn > 0) & (dn > 0), options_.eta * pn / dn, one);
        d = d.mul(q);
      }
    }
    if (!momentum_[i].defined()) {
      momentum_[i] = d.clone();  // mu_0 = 0, so mu_1 = d
    } else {
      momentum_[i].mul_(options_.momentum).add_(d);
    }
    p.add_(momentum_[i], matrix ? -lr : -lr * options_.bias_lr_ratio);
  }
}

}  // namespace twist
