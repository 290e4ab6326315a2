#include <cmath>
#include <string>

#include "twist/error.h"
#include "twist/optim.h"

namespace twist {

AdamW::AdamW(std::vector<torch::Tensor> params, AdamWOptions options, std::vector<bool> no_decay)
    : Optimizer(std::move(params)),
      exp_avg_(params_.size()),
      exp_avg_sq_(params_.size()),
      steps_(params_.size()),
      options_(options),
      no_decay_(std::move(no_decay)) {
  check(no_decay_.empty() || no_decay_.size() == params_.size(), "AdamW: no_decay must have one entry per parameter");
}

void AdamW::step(double lr, double weight_decay) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    const torch::Tensor& g = p.grad();
    const bool decays = p.dim() > 1 && !(no_decay_.size() > i && no_decay_[i]);
    if (decays && weight_decay != 0) p.mul_(1.0 - lr * weight_decay);
    if (!exp_avg_[i].defined()) {
      exp_avg_[i] = torch::zeros_like(p);
      exp_avg_sq_[i] = torch::zeros_like(p);
      steps_[i] = torch::zeros({}, torch::kInt64);
    }
    // The count lives on the host: it only sets the bias corrections.
    const int64_t t = steps_[i].item<int64_t>() + 1;
    steps_[i].fill_(t);
    const double c1 = 1.0 - std::pow(options_.beta1, double(t));
    const double c2 = 1.0 - std::pow(options_.beta2, double(t));
    exp_avg_[i].mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    exp_avg_sq_[i].mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    auto denom = (exp_avg_sq_[i] / c2).sqrt_().add_(options_.eps);
    p.addcdiv_(exp_avg_[i], denom, -lr / c1);
  }
}

std::vector<bool> token_parameters(const torch::nn::Module& module) {
  std::vector<bool> out;
  auto ends_with = [](const std::string& s, const std::string& end) {
    return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
  };
  for (const auto& item : module.named_parameters())
    out.push_back(ends_with(item.key(), "cls_token") || ends_with(item.key(), "pos_embed"));
  return out;
}

}  // namespace twist
