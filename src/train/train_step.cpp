#include "twist/train_step.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "twist/error.h"
#include "twist/nonfinite.h"

// LibTorch 2.4 replaced the per-device autocast setters by ones that take the
// device (the old ones remain, deprecated); 1.13 has only the old ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TWIST_AUTOCAST_BY_DEVICE 1
#endif

namespace twist {
namespace {

// CPU and CUDA keep separate autocast states.
bool autocast_enabled(bool cuda) {
#ifdef TWIST_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

at::ScalarType autocast_dtype(bool cuda) {
#ifdef TWIST_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast(bool cuda, bool enabled, at::ScalarType dtype) {
#ifdef TWIST_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, enabled);
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dtype);
#else
  if (cuda) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

// One small all-reduce of the loss terms and the signal flag (the .item()
// reads synchronize anyway).
StepStats reduce_step_stats(const TwistLossTerms& t, bool signalled, const std::shared_ptr<Communicator>& comm) {
  auto v = torch::stack({t.total.detach(), t.consistency.detach(), t.sharpness.detach(), t.diversity.detach(),
                         torch::full({}, signalled ? 1.0 : 0.0, t.total.options())})
               .to(torch::kDouble)
               .contiguous();
  const double w = comm ? comm->world_size() : 1;
  if (comm) {
    std::vector<torch::Tensor> one{v};
    comm->all_reduce_sum(one);
  }
  v = v.cpu();  // a GPU's values are read on the host
  auto a = v.accessor<double, 1>();
  return {a[0] / w, a[1] / w, a[2] / w, a[3] / w, a[4] > 0};
}

}  // namespace

AutocastScope::AutocastScope(Precision precision, torch::Device device)
    : active_(precision == Precision::bf16), cuda_(device.is_cuda()) {
  if (!active_) return;
  was_enabled_ = autocast_enabled(cuda_);
  was_dtype_ = autocast_dtype(cuda_);
  set_autocast(cuda_, true, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // As torch.autocast's __exit__: the outermost scope drops the cached
  // bfloat16 copies of the weights, which the optimizer is about to change.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(cuda_, was_enabled_, was_dtype_);
}

TrainStep::TrainStep(TwistModel model, Optimizer& optimizer, TwistLossOptions loss, Precision precision,
                     std::shared_ptr<Communicator> comm)
    : model_(std::move(model)),
      optimizer_(optimizer),
      loss_(std::move(loss)),
      precision_(precision),
      comm_(comm),
      averager_(model_->parameters(), comm) {}

void TrainStep::set_teacher(TwistModel teacher) {
  teacher_ = std::move(teacher);
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

StepOutcome TrainStep::operator()(const std::vector<torch::Tensor>& views, double lr, double weight_decay,
                                  bool signalled) {
  StepOutcome out;
  const torch::Device device = views.empty() ? torch::Device(torch::kCPU) : views[0].device();
  std::vector<torch::Tensor> teacher_logits, aux_logits;
  {
    AutocastScope autocast(precision_, device);
    HeadLogits heads = model_->forward_heads(views);
    out.logits = std::move(heads.logits);
    aux_logits = std::move(heads.aux);
    if (teacher_ && self_label_keep_ <= 0) {
      // Eq. 5: the teacher sees the two global views only, and is not trained.
      torch::NoGradGuard no_grad;
      teacher_logits = teacher_->forward({views.at(0), views.at(1)});
    }
  }
  // The loss in float32 whatever the forward's precision: its logs and the
  // entropy of the batch mean lose too much in bfloat16's 8 bits.
  for (auto& l : out.logits) l = l.to(torch::kFloat32);
  for (auto& l : teacher_logits) l = l.to(torch::kFloat32);
  for (auto& l : aux_logits) l = l.to(torch::kFloat32);
  TwistLossTerms terms;
  if (self_label_keep_ > 0) {
    SelfLabelLoss sl = self_label_loss(out.logits, self_label_keep_);
    terms.total = sl.loss;
    terms.consistency = terms.sharpness = terms.diversity = torch::zeros({}, sl.loss.options());
    out.kept_fraction = sl.kept_fraction;
  } else if (teacher_) {
    terms = twist_teacher_loss(teacher_logits, out.logits, loss_);
  } else {
    terms = twist_loss(out.logits, loss_);
  }
  // The over-clustering head trains beside the main phase's objective with
  // the TWIST loss; the logged terms stay the C-class head's.
  if (!aux_logits.empty() && self_label_keep_ <= 0) terms.total = terms.total + twist_loss(aux_logits, loss_).total;
  out.stats = reduce_step_stats(terms, signalled, comm_);
  // A non-finite loss or gradient is caught before it reaches the weights.
  // The loss is the ranks' mean and the gradients are averaged before the
  // check, so a bad value on one rank is seen by all.
  out.bad = nonfinite_loss(out.stats.total);
  if (out.bad.empty()) {
    optimizer_.zero_grad();
    terms.total.backward();
    averager_.average();
    out.bad = nonfinite_gradient(model_->named_parameters());
  }
  if (out.bad.empty()) {
    if (clip_grad_ > 0) out.grad_norm = torch::nn::utils::clip_grad_norm_(optimizer_.params(), clip_grad_);
    optimizer_.step(lr, weight_decay);
    if (teacher_) ema_update(teacher_, model_, teacher_momentum_);
  }
  return out;
}

}  // namespace twist
