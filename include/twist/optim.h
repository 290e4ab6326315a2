#pragma once
// LARS (You et al.) as TWIST's reference code uses it, plain SGD, AdamW, and
// per-iteration schedules precomputed as arrays (DINO's habit): the training
// loop only indexes them.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace twist {

// What the training step needs of an optimizer: an update with this step's
// learning rate and weight decay (both come from per-step schedules), and
// its per-parameter state, named, for checkpoints.
class Optimizer {
 public:
  explicit Optimizer(std::vector<torch::Tensor> params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  virtual void step(double lr, double weight_decay) = 0;
  void zero_grad();
  const std::vector<torch::Tensor>& params() const { return params_; }
  // One slot per parameter under each name (undefined until the first step);
  // checkpoints store slot i of state `name` as "name.i".
  virtual std::vector<std::pair<std::string, std::vector<torch::Tensor>*>> state() = 0;
  // Moves the defined state to `device` (after the parameters were moved).
  void state_to(const torch::Device& device);

 protected:
  std::vector<torch::Tensor> params_;
};

struct LarsOptions {
  double momentum = 0.9;
  double eta = 0.001;  // trust coefficient
  // Learning rate of the 1-D parameters (biases, BatchNorm), which get
  // neither adaptation nor weight decay, as a ratio of lr.
  double bias_lr_ratio = 1.0;
  // false: plain SGD with momentum (weight decay still applied to >1-D params)
  bool adapt = true;
};

// How one parameter steps: whether its update is scaled layer-wise (LARS'
// trust ratio; weights only) and its learning rate as a ratio of lr.
struct LarsRule {
  bool adapt = true;
  double lr_ratio = 1.0;
};

// The rule LarsOptions gives each parameter: weights {adapt, 1}, 1-D
// parameters {false, bias_lr_ratio}.
std::vector<LarsRule> lars_rules(const std::vector<torch::Tensor>& params, const LarsOptions& options);

// For each parameter with more than one dimension (weights of convolutions and
// linear layers):  d = g + wd*p;  d *= eta*|p|/|d| (when both norms > 0 and
// its rule adapts). 1-D parameters (biases, BatchNorm) get neither weight
// decay nor adaptation. Then mu = momentum*mu + d;  p -= lr*ratio*mu, with
// the parameter's rule's ratio (lars_rules by default: 1 for weights,
// bias_lr_ratio for 1-D parameters).
class Lars : public Optimizer {
 public:
  // `rules`: one per parameter (empty: lars_rules(params, options)).
  Lars(std::vector<torch::Tensor> params, LarsOptions options = {}, std::vector<LarsRule> rules = {});
  void step(double lr, double weight_decay) override;
  std::vector<std::pair<std::string, std::vector<torch::Tensor>*>> state() override {
    return {{"momentum", &momentum_}};
  }

 private:
  std::vector<torch::Tensor> momentum_;
  LarsOptions options_;
  std::vector<LarsRule> rules_;
};

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
};

// AdamW (Loshchilov & Hutter), the ViT recipes' optimizer (DeiT, DINO):
// weights with more than one dimension decay as p *= 1 - lr*wd (decoupled
// from the gradient); biases, norms, the class token and position embeddings
// do not decay (DINO's rule: 1-D parameters, and the tokens, which are
// 1 x N x D but act as biases). Then the bias-corrected Adam update:
// m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
class AdamW : public Optimizer {
 public:
  // `no_decay[i]` true: parameter i never decays, whatever its shape (empty:
  // the dimension rule alone).
  AdamW(std::vector<torch::Tensor> params, AdamWOptions options = {}, std::vector<bool> no_decay = {});
  void step(double lr, double weight_decay) override;
  std::vector<std::pair<std::string, std::vector<torch::Tensor>*>> state() override {
    return {{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}, {"steps", &steps_}};
  }

 private:
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  std::vector<torch::Tensor> steps_;  // one int64 scalar per parameter: its updates so far
  AdamWOptions options_;
  std::vector<bool> no_decay_;
};

// The parameters of `module` in order, and which of them are tokens or
// embeddings (names ending in cls_token or pos_embed), for AdamW's no_decay.
std::vector<bool> token_parameters(const torch::nn::Module& module);

// Linear warm-up from 0 over `warmup_steps`, then cosine from `base` down to
// `final_value` at step total_steps-1 (DINO's cosine_scheduler).
std::vector<double> cosine_schedule(double base, double final_value, int64_t total_steps, int64_t warmup_steps = 0);

// Where a schedule's length changed during its run (a time budget's re-plan):
// at step `step` the run, planned for `planned` steps, was re-sized. From
// there its steps stand for the planned run's steps from `along` (0: `step`
// itself; after an earlier bend, where that bend had brought the schedule:
// bend_at) to planned-1, evenly spread.
struct ScheduleBend {
  int64_t step = 0;  // 0: no bend
  int64_t planned = 0;
  double along = 0;
};

// cosine_schedule planned for `bend.planned` steps up to `bend.step`, from
// there on at the pace that reaches `final_value` at step total_steps-1: the
// cosine's progress goes on from where it was, so the value never jumps.
// The bend lies after the warm-up and no later than either length.
std::vector<double> bent_cosine_schedule(double base, double final_value, int64_t total_steps, int64_t warmup_steps,
                                         ScheduleBend bend);

// The bend at `step` of a schedule of `total_steps` that already bends at
// `bend` (bend.step 0: not yet): a schedule bent there, sized to any new
// length, goes on from the value this one has at `step`, whatever its
// warm-up. A time budget re-plans more than once this way.
ScheduleBend bend_at(int64_t step, int64_t total_steps, ScheduleBend bend);

// The learning rate is given per 256 images, scaled linearly with the batch.
double scaled_lr(double lr_per_256, int64_t batch_size);

}  // namespace twist
