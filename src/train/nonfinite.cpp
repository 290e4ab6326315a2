#include "twist/nonfinite.h"

#include <cmath>

namespace twist {

std::string nonfinite_loss(double loss) {
  if (std::isnan(loss)) return "the loss is NaN";
  if (std::isinf(loss)) return "the loss is infinite";
  return "";
}

std::string nonfinite_gradient(const torch::OrderedDict<std::string, torch::Tensor>& named_parameters) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> finite;
  std::vector<size_t> which;
  for (size_t i = 0; i < named_parameters.size(); ++i) {
    const torch::Tensor& g = named_parameters[i].value().grad();
    if (!g.defined()) continue;
    finite.push_back(torch::isfinite(g).all());
    which.push_back(i);
  }
  if (finite.empty()) return "";
  // One read for all parameters: .item() on every gradient would sync each.
  torch::Tensor ok = torch::stack(finite);
  if (ok.all().item<bool>()) return "";
  const int64_t first = ok.logical_not().nonzero().view(-1)[0].item<int64_t>();
  const auto& p = named_parameters[which[first]];
  const bool nan = torch::isnan(p.value().grad()).any().item<bool>();
  return "the gradient of " + p.key() + " is " + (nan ? "NaN" : "infinite");
}

}  // namespace twist
