#include <algorithm>
#include <cmath>

#include "twist/error.h"
#include "twist/optim.h"

namespace twist {

namespace {

double cosine_at(double base, double final_value, double progress) {
  return final_value + 0.5 * (base - final_value) * (1.0 + std::cos(M_PI * progress));
}

// How far along (0 to 1) a plain cosine of `planned` steps, the first
// `warmup` of them warm-up, is at its (possibly fractional) step `at`.
double plain_progress(double at, int64_t planned, int64_t warmup) {
  const int64_t n = planned - warmup;  // the cosine's steps
  return n > 1 ? std::min(1.0, (at - double(warmup)) / double(n - 1)) : 1.0;
}

// The planned run's step that the bend's own step stands for.
double along_at_bend(ScheduleBend bend) { return bend.along > 0 ? bend.along : double(bend.step); }

// The planned run's step that `step` stands for in a schedule of `total`
// steps bent at `bend` (from bend.step on).
double planned_step(int64_t step, int64_t total, ScheduleBend bend) {
  const double along = along_at_bend(bend);
  const int64_t rest = total - bend.step;
  return rest > 1 ? along + (double(bend.planned - 1) - along) * double(step - bend.step) / double(rest - 1)
                  : double(bend.planned - 1);
}

}  // namespace

std::vector<double> cosine_schedule(double base, double final_value, int64_t total_steps, int64_t warmup_steps) {
  check(total_steps >= 0 && warmup_steps >= 0, "schedule lengths must be non-negative");
  warmup_steps = std::min(warmup_steps, total_steps);
  std::vector<double> s;
  s.reserve(total_steps);
  for (int64_t i = 0; i < warmup_steps; ++i) s.push_back(base * double(i) / double(warmup_steps));
  const int64_t n = total_steps - warmup_steps;
  for (int64_t i = 0; i < n; ++i) s.push_back(cosine_at(base, final_value, n > 1 ? double(i) / double(n - 1) : 0.0));
  return s;
}

std::vector<double> bent_cosine_schedule(double base, double final_value, int64_t total_steps, int64_t warmup_steps,
                                         ScheduleBend bend) {
  if (bend.step <= 0) return cosine_schedule(base, final_value, total_steps, warmup_steps);
  const double along = along_at_bend(bend);
  check(bend.step >= warmup_steps && bend.step <= total_steps && along >= double(warmup_steps) &&
            along <= double(bend.planned),
        "a schedule's bend must lie after its warm-up and no later than its planned or new length");
  // Before the bend: the planned run's values (its last one past its end).
  std::vector<double> s = cosine_schedule(base, final_value, bend.planned, warmup_steps);
  const double last = s.empty() ? final_value : s.back();
  s.resize(size_t(bend.step), last);
  // From it: the cosine's progress goes on from where it was, at the new pace.
  const double from = plain_progress(along, bend.planned, warmup_steps);
  const int64_t rest = total_steps - bend.step;
  for (int64_t i = 0; i < rest; ++i) {
    const double progress = rest > 1 ? from + (1.0 - from) * double(i) / double(rest - 1) : 1.0;
    s.push_back(cosine_at(base, final_value, progress));
  }
  return s;
}

ScheduleBend bend_at(int64_t step, int64_t total_steps, ScheduleBend bend) {
  if (bend.step <= 0) return {step, total_steps, 0};
  check(step >= bend.step && step <= total_steps, "a schedule's next bend must lie between its last one and its end");
  return {step, bend.planned, planned_step(step, total_steps, bend)};
}

double scaled_lr(double lr_per_256, int64_t batch_size) { return lr_per_256 * double(batch_size) / 256.0; }

}  // namespace twist
