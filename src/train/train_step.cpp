#include "twist/train_step.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "twist/error.h"
#include "twist/feature_spread.h"
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

// One small all-reduce of the loss terms, the signal flag and each cluster
// head's loss (the .item() reads synchronize anyway); `head_losses` is
// replaced by its mean over ranks, on the host.
StepStats reduce_step_stats(const TwistLossTerms& t, bool signalled, torch::Tensor& head_losses,
                            const std::shared_ptr<Communicator>& comm) {
  std::vector<torch::Tensor> parts{
      torch::stack({t.total.detach(), t.consistency.detach(), t.sharpness.detach(), t.diversity.detach(),
                    torch::full({}, signalled ? 1.0 : 0.0, t.total.options())})};
  if (head_losses.defined()) parts.push_back(head_losses.detach().to(t.total.device(), t.total.scalar_type()));
  auto v = torch::cat(parts).to(torch::kDouble).contiguous();
  const double w = comm ? comm->world_size() : 1;
  if (comm) {
    std::vector<torch::Tensor> one{v};
    comm->all_reduce_sum(one);
  }
  v = v.cpu();  // a GPU's values are read on the host
  if (head_losses.defined()) head_losses = v.narrow(0, 5, v.size(0) - 5) / w;
  auto a = v.accessor<double, 1>();
  return {a[0] / w, a[1] / w, a[2] / w, a[3] / w, a[4] > 0};
}

// The global 2-norm of the gradients, as clip_grad_norm_ computes it, kept
// as a tensor: reading it is left to the step logger.
torch::Tensor global_grad_norm(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().detach().norm());
  if (norms.empty()) return torch::zeros({});
  return torch::stack(norms).norm();
}

// Scales the gradients so that their global norm is at most max_norm
// (clip_grad_norm_'s rule, with the norm already computed).
void clip_gradients(const std::vector<torch::Tensor>& params, const torch::Tensor& norm, double max_norm) {
  const torch::Tensor scale = torch::clamp_max(max_norm / (norm + 1e-6), 1.0);
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().detach().mul_(scale);
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
      aux_loss_(loss_),
      precision_(precision),
      comm_(comm),
      averager_(model_->parameters(), comm) {}

void TrainStep::set_aux_entropy_weights(double alpha, double beta) {
  aux_loss_.alpha = alpha < 0 ? loss_.alpha : alpha;
  aux_loss_.beta = beta < 0 ? loss_.beta : beta;
}

void TrainStep::set_teacher(TwistModel teacher) {
  teacher_ = std::move(teacher);
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

StepOutcome TrainStep::operator()(const std::vector<torch::Tensor>& views, double lr, double weight_decay,
                                  bool signalled) {
  StepPlan plan;
  plan.lr = lr;
  plan.weight_decay = weight_decay;
  plan.signalled = signalled;
  return (*this)(views, plan);
}

StepOutcome TrainStep::operator()(const std::vector<torch::Tensor>& views, const StepPlan& plan) {
  StepOutcome out;
  StepLogits z = forward(views, plan.self_label_keep > 0);
  out.logits = z.logits;
  const TwistLossTerms terms = objective(z, plan, out);
  out.stats = reduce_step_stats(terms, plan.signalled, out.head_losses, comm_);
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
    out.grad_norm = global_grad_norm(optimizer_.params());
    if (clip_grad_ > 0) clip_gradients(optimizer_.params(), out.grad_norm, clip_grad_);
    optimizer_.step(plan.lr, plan.weight_decay);
    if (teacher_) ema_update(teacher_, model_, plan.teacher_momentum);
    if (out.head_losses.defined()) model_->record_head_losses(out.head_losses);
  }
  return out;
}

// The model's logits for every view (and the teacher's for the global views
// when it gives the targets), in float32 whatever the forward's precision:
// the loss's logs and the entropy of the batch mean lose too much in
// bfloat16's 8 bits.
TrainStep::StepLogits TrainStep::forward(const std::vector<torch::Tensor>& views, bool self_labeling) {
  StepLogits z;
  const torch::Device device = views.empty() ? torch::Device(torch::kCPU) : views[0].device();
  {
    AutocastScope autocast(precision_, device);
    HeadLogits heads = model_->forward_heads(views);
    z.logits = std::move(heads.logits);
    z.aux = std::move(heads.aux);
    z.heads = std::move(heads.heads);
    z.features = std::move(heads.features);
    if (teacher_ && !self_labeling) {
      // Eq. 5: the teacher sees the two global views only, and is not trained.
      torch::NoGradGuard no_grad;
      z.teacher = teacher_->forward({views.at(0), views.at(1)});
    }
  }
  for (auto* list : {&z.logits, &z.teacher, &z.aux})
    for (auto& l : *list) l = l.to(torch::kFloat32);
  for (auto& head : z.heads)
    for (auto& l : head) l = l.to(torch::kFloat32);
  return z;
}

// The plan's objective: self-labeling, the teacher's Eq. 5 or the TWIST
// loss; the over-clustering head trains beside the last two with the TWIST
// loss (the logged terms stay the C-class head's). Several C-class heads
// each train with the TWIST loss; the logged terms are the chosen head's.
// Every C-class head's TWIST loss, each head trained by its own as if alone
// (its gradient reaches the backbone already divided by their number); the
// total's value is their mean, comparable to one head's, and the other terms
// are `chosen`'s. `head_losses` gets each head's total.
TwistLossTerms TrainStep::cluster_heads_loss(const std::vector<std::vector<torch::Tensor>>& heads, int64_t chosen,
                                             torch::Tensor& head_losses) const {
  TwistLossTerms terms;
  std::vector<torch::Tensor> totals;
  for (size_t k = 0; k < heads.size(); ++k) {
    TwistLossTerms t = twist_loss(heads[k], loss_);
    totals.push_back(t.total);
    if (int64_t(k) == chosen) terms = t;
  }
  const auto stacked = torch::stack(totals);
  const auto sum = stacked.sum();
  terms.total = sum + (stacked.mean() - sum).detach();
  head_losses = stacked.detach();
  return terms;
}

TwistLossTerms TrainStep::objective(const StepLogits& z, const StepPlan& plan, StepOutcome& out) const {
  TwistLossTerms terms;
  if (plan.self_label_keep > 0) {
    SelfLabelLoss sl = self_label_loss(z.logits, plan.self_label_keep);
    terms.total = sl.loss;
    terms.consistency = terms.sharpness = terms.diversity = torch::zeros({}, sl.loss.options());
    out.kept_fraction = sl.kept_fraction;
    return terms;
  }
  if (!z.heads.empty()) {
    terms = cluster_heads_loss(z.heads, model_->chosen_head(), out.head_losses);
  } else {
    terms = teacher_ ? twist_teacher_loss(z.teacher, z.logits, loss_) : twist_loss(z.logits, loss_);
  }
  if (!z.aux.empty()) terms.total = terms.total + aux_weight_ * twist_loss(z.aux, aux_loss_).total;
  if (spread_weight_ > 0) terms.total = terms.total + spread_weight_ * feature_spread_penalty(z.features);
  return terms;
}

}  // namespace twist
