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

// "fp32" or "bf16".
const char* precision_name(Precision p);

// Whether /proc/cpuinfo's text lists a CPU flag for native bfloat16
// arithmetic (avx512_bf16 or amx_bf16): where bf16 runs ~1.7x fp32.
bool cpuinfo_has_native_bf16(const std::string& cpuinfo);
// The same for this machine (false where /proc/cpuinfo cannot be read).
bool cpu_has_native_bf16();

// The precision a run uses: "fp32" and "bf16" as named; "auto" is bf16 on a
// GPU and on a CPU with native bfloat16 arithmetic, fp32 elsewhere (where
// bfloat16 is emulated and slower than fp32). Other names: twist::Error.
Precision resolve_precision(const std::string& name, const torch::Device& device);
// bf16 asked for on a CPU without native bfloat16 arithmetic (`native_bf16`:
// cpu_has_native_bf16), where LibTorch emulates it many times slower than
// fp32 (README, "Precision"): the warning to give, or "" where none is due.
std::string bf16_speed_warning(Precision precision, bool on_gpu, bool native_bf16);

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
  // The gradient's global 2-norm before clipping (a 0-dim tensor, read only
  // when a line is logged: no device sync per step); undefined when the
  // update was not applied.
  torch::Tensor grad_norm;
  double kept_fraction = -1;  // self-labeling: share of the batch that got a label
  // cluster_heads >= 2: each C-class head's TWIST loss this step, averaged
  // over ranks (float64, on the host); undefined with one head.
  torch::Tensor head_losses;
};

// What one step trains with: the schedules' values at this step and the
// objective they select.
struct StepPlan {
  double lr = 0, weight_decay = 0;
  // > 0: the self-labeling loss, keeping this fraction of each batch; 0: the
  // TWIST loss (the teacher's Eq. 5 when the step has a teacher).
  double self_label_keep = 0;
  // The teacher's EMA momentum for the update after this step.
  double teacher_momentum = 0.996;
  bool signalled = false;  // this process received a signal (all ranks stop)
};

class TrainStep {
 public:
  // `comm` null: one process.
  TrainStep(TwistModel model, Optimizer& optimizer, TwistLossOptions loss, Precision precision = Precision::fp32,
            std::shared_ptr<Communicator> comm = nullptr);
  StepOutcome operator()(const std::vector<torch::Tensor>& views, const StepPlan& plan);
  // The TWIST objective at this learning rate and weight decay.
  StepOutcome operator()(const std::vector<torch::Tensor>& views, double lr, double weight_decay,
                         bool signalled = false);

  // Gradient clipping by global norm (0: off), after averaging over ranks.
  void set_clip_grad(double max_norm) { clip_grad_ = max_norm; }
  // Weight of the over-clustering head's TWIST loss in the total (1: as
  // much as the C-class head's).
  void set_aux_weight(double weight) { aux_weight_ = weight; }
  // The over-clustering head's sharpness and diversity weights (each < 0:
  // the C-class heads', the loss options' alpha and beta).
  void set_aux_entropy_weights(double alpha, double beta);
  // Weight of feature_spread_penalty (twist/feature_spread.h) of the
  // backbone's features in the total (0: off, the paper's objective).
  void set_spread_weight(double weight) { spread_weight_ = weight; }
  // A momentum teacher (Eq. 5): it sees the global views, gives the targets,
  // and follows the model by EMA after each update with `momentum`.
  void set_teacher(TwistModel teacher);

 private:
  struct StepLogits {
    std::vector<torch::Tensor> logits, teacher, aux;  // float32
    std::vector<std::vector<torch::Tensor>> heads;    // every C-class head's, cluster_heads >= 2
    torch::Tensor features;                           // the backbone's, every view (forward's precision)
  };
  StepLogits forward(const std::vector<torch::Tensor>& views, bool self_labeling);
  TwistLossTerms objective(const StepLogits& z, const StepPlan& plan, StepOutcome& out) const;
  TwistLossTerms cluster_heads_loss(const std::vector<std::vector<torch::Tensor>>& heads, int64_t chosen,
                                    torch::Tensor& head_losses) const;

  TwistModel model_;
  Optimizer& optimizer_;
  TwistLossOptions loss_;
  TwistLossOptions aux_loss_;  // loss_, with set_aux_entropy_weights' weights
  Precision precision_;
  std::shared_ptr<Communicator> comm_;
  GradientAverager averager_;
  double clip_grad_ = 0;
  double aux_weight_ = 1;
  double spread_weight_ = 0;
  TwistModel teacher_{nullptr};
};

}  // namespace twist
