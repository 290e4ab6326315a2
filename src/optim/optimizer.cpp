#include "twist/optim.h"

namespace twist {

void Optimizer::state_to(const torch::Device& device) {
  for (auto& entry : state())
    for (auto& t : *entry.second)
      if (t.defined() && t.dim() > 0) t = t.to(device);  // counters (0-dim) stay on the host
}

void Optimizer::zero_grad() {
  for (auto& p : params_) {
    if (p.grad().defined()) {
      p.mutable_grad().detach_();
      p.mutable_grad().zero_();
    }
  }
}

}  // namespace twist
