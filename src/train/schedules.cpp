#include "schedules.h"

#include <algorithm>
#include <cmath>

#include "twist/error.h"
#include "twist/optim.h"

namespace twist {

Schedules make_schedules(const TrainConfig& c, int64_t spe) {
  Schedules s;
  s.steps_per_epoch = spe;
  s.main_total = std::max<int64_t>(1, std::llround(c.epochs * double(spe)));
  if (c.max_steps > 0) s.main_total = std::min(s.main_total, c.max_steps);
  // Self-labeling follows the main phase: its steps, re-warmed learning
  // rate and kept-share schedule continue the arrays after main_total.
  s.sl_total = c.self_label_epochs > 0 ? std::max<int64_t>(1, std::llround(c.self_label_epochs * double(spe))) : 0;
  s.total = s.main_total + s.sl_total;
  s.warmup = std::llround(c.warmup_epochs * double(spe));
  const ScheduleBend bend{c.replan_step, c.replan_from, c.replan_along};
  check(bend.step == 0 || (bend.step >= s.warmup && bend.step <= s.main_total),
        "replan_step " + std::to_string(bend.step) + " must lie after the warm-up (" + std::to_string(s.warmup) +
            " steps) and no later than the main phase's end (step " + std::to_string(s.main_total) + ")");
  const double peak = scaled_lr(c.lr, c.batch_size);
  s.lr = bent_cosine_schedule(peak, peak * c.min_lr_ratio, s.main_total, s.warmup, bend);
  const double wd_end = c.weight_decay_end < 0 ? c.weight_decay : c.weight_decay_end;
  s.wd = bent_cosine_schedule(c.weight_decay, wd_end, s.main_total, 0, bend);
  if (s.sl_total > 0) {
    const double sl_peak = scaled_lr(c.self_label_lr, c.batch_size);
    const int64_t sl_warmup =
        std::llround(std::min(c.self_label_warmup_epochs, 0.1 * c.self_label_epochs) * double(spe));
    const auto sl_lr = cosine_schedule(sl_peak, sl_peak * c.min_lr_ratio, s.sl_total, sl_warmup);
    s.lr.insert(s.lr.end(), sl_lr.begin(), sl_lr.end());
    s.wd.insert(s.wd.end(), s.sl_total, wd_end);
    s.keep = cosine_schedule(c.self_label_quantile_start, c.self_label_quantile_end, s.sl_total);
  }
  if (c.momentum_teacher) s.teacher_momentum = bent_cosine_schedule(c.teacher_momentum, 1.0, s.main_total, 0, bend);
  return s;
}

StepPlan step_plan(const Schedules& s, int64_t step, bool signalled) {
  StepPlan p;
  p.lr = s.lr[size_t(step)];
  p.weight_decay = s.wd[size_t(step)];
  if (step >= s.main_total) p.self_label_keep = s.keep[size_t(step - s.main_total)];
  if (step < int64_t(s.teacher_momentum.size())) p.teacher_momentum = s.teacher_momentum[size_t(step)];
  p.signalled = signalled;
  return p;
}

}  // namespace twist
