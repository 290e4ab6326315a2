#pragma once
// One optimisation step of TWIST training: every view forward, the loss,
// backward, gradient averaging over ranks, the optimizer update, and the
// checks that keep a non-finite step away from the weights. The training loop
// and `twist bench` both run it, so what the benchmark times is what training
// runs.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "twist/dist.h"
#include "twist/loss.h"
#include "twist/models.h"
#include "twist/optim.h"

namespace twist {

// Arithmetic of the forward pass. bf16: convolutions and matrix products run
// in bfloat16 under autocast (parameters, gradients, optimizer state and the
// loss stay float32).
enum class Precision { fp32, bf16 };

// "fp32" | "bf16"; anything else is a twist::Error naming the value.
Precision parse_precision(const std::string& name);

// While alive, autocast to bfloat16 on `device`'s type (CPU or CUDA) for
// `precision` bf16 (nothing for fp32); restores the previous autocast state and drops the cast-weight cache
// on exit, so the next step casts the updated weights afresh.
class AutocastScope {
 public:
  explicit AutocastScope(Precision precision, torch::Device device = torch::kCPU);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

// The loss terms of one step, averaged over ranks, and whether any rank asked
// to stop (a signal): every rank takes the same decisions at the same step.
struct StepStats {
  double total = 0, consistency = 0, sharpness = 0, diversity = 0;
  bool signalled = false;
};

struct StepOutcome {
  std::vector<torch::Tensor> logits;  // per view, B x C, float32
  StepStats stats;
  // Why the update was not applied ("the loss is NaN", "the gradient of ...
  // is infinite"); empty when it was.
  std::string bad;
};

class TrainStep {
 public:
  // `comm` null: one process.
  TrainStep(TwistModel model, Lars& optimizer, TwistLossOptions loss, Precision precision = Precision::fp32,
            std::shared_ptr<Communicator> comm = nullptr);
  StepOutcome operator()(const std::vector<torch::Tensor>& views, double lr, double weight_decay,
                         bool signalled = false);

 private:
  TwistModel model_;
  Lars& optimizer_;
  TwistLossOptions loss_;
  Precision precision_;
  std::shared_ptr<Communicator> comm_;
  GradientAverager averager_;
};

}  // namespace twist
