#include "twist/error.h"
#include "twist/optim.h"

#include <string>

namespace twist {

std::vector<LarsRule> lars_rules(const std::vector<torch::Tensor>& params, const LarsOptions& options) {
  std::vector<LarsRule> rules;
  rules.reserve(params.size());
  for (const auto& p : params) {
    if (p.dim() > 1)
      rules.push_back({options.adapt, 1.0});
    else
      rules.push_back({false, options.bias_lr_ratio});
  }
  return rules;
}

Lars::Lars(std::vector<torch::Tensor> params, LarsOptions options, std::vector<LarsRule> rules)
    : Optimizer(std::move(params)), momentum_(params_.size()), options_(options), rules_(std::move(rules)) {
  if (rules_.empty()) rules_ = lars_rules(params_, options_);
  check(rules_.size() == params_.size(),
        "Lars: " + std::to_string(rules_.size()) + " rules for " + std::to_string(params_.size()) + " parameters");
}

void Lars::step(double lr, double weight_decay) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    torch::Tensor d = p.grad();
    if (p.dim() > 1) {  // weights decay; 1-D parameters never do
      d = d.add(p, weight_decay);
      if (rules_[i].adapt) {
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
    p.add_(momentum_[i], -lr * rules_[i].lr_ratio);
  }
}

}  // namespace twist
