#pragma once
// LARS (You et al.) as TWIST's reference code uses it, plain SGD, and
// per-iteration schedules precomputed as arrays (DINO's habit): the training
// loop only indexes them.
#include <torch/torch.h>

#include <vector>

namespace twist {

struct LarsOptions {
  double momentum = 0.9;
  double eta = 0.001;  // trust coefficient
  // false: plain SGD with momentum (weight decay still applied to >1-D params)
  bool adapt = true;
};

// For each parameter with more than one dimension (weights of convolutions and
// linear layers):  d = g + wd*p;  d *= eta*|p|/|d| (when both norms > 0).
// 1-D parameters (biases, BatchNorm) get neither weight decay nor adaptation.
// Then mu = momentum*mu + d;  p -= lr*mu.
class Lars {
 public:
  Lars(std::vector<torch::Tensor> params, LarsOptions options = {});
  void step(double lr, double weight_decay);
  void zero_grad();
  const std::vector<torch::Tensor>& params() const { return params_; }
  // Momentum buffers, for checkpoints (undefined until the first step).
  std::vector<torch::Tensor>& buffers() { return momentum_; }

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> momentum_;
  LarsOptions options_;
};

// Linear warm-up from 0 over `warmup_steps`, then cosine from `base` down to
// `final_value` at step total_steps-1 (DINO's cosine_scheduler).
std::vector<double> cosine_schedule(double base, double final_value, int64_t total_steps,
                                    int64_t warmup_steps = 0);

// The learning rate is given per 256 images, scaled linearly with the batch.
double scaled_lr(double lr_per_256, int64_t batch_size);

}  // namespace twist
