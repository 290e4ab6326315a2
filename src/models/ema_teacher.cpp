#include "twist/error.h"
#include "twist/models.h"

namespace twist {

TwistModel make_teacher(TwistModel& student, const TwistModelOptions& options) {
  TwistModel teacher(options);
  torch::NoGradGuard no_grad;
  const auto sp = student->parameters();
  const auto tp = teacher->parameters();
  const auto sb = student->buffers();
  const auto tb = teacher->buffers();
  check(sp.size() == tp.size() && sb.size() == tb.size(), "make_teacher: the options build another model");
  const torch::Device device = sp.empty() ? torch::Device(torch::kCPU) : sp.front().device();
  teacher->to(device);
  for (size_t i = 0; i < sp.size(); ++i) {
    tp[i].copy_(sp[i]);
    tp[i].set_requires_grad(false);
  }
  for (size_t i = 0; i < sb.size(); ++i) tb[i].copy_(sb[i]);
  return teacher;
}

void ema_update(TwistModel& teacher, TwistModel& student, double momentum) {
  torch::NoGradGuard no_grad;
  const auto sp = student->parameters();
  const auto tp = teacher->parameters();
  check(sp.size() == tp.size(), "ema_update: teacher and student differ");
  for (size_t i = 0; i < sp.size(); ++i) tp[i].mul_(momentum).add_(sp[i].detach(), 1.0 - momentum);
}

}  // namespace twist
