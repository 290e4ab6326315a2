#include <algorithm>
#include <cmath>

#include "twist/error.h"
#include "twist/optim.h"

namespace twist {

std::vector<double> cosine_schedule(double base, double final_value, int64_t total_steps, int64_t warmup_steps) {
  check(total_steps >= 0 && warmup_steps >= 0, "schedule lengths must be non-negative");
  warmup_steps = std::min(warmup_steps, total_steps);
  std::vector<double> s;
  s.reserve(total_steps);
  for (int64_t i = 0; i < warmup_steps; ++i) s.push_back(base * double(i) / double(warmup_steps));
  const int64_t n = total_steps - warmup_steps;
  for (int64_t i = 0; i < n; ++i) {
    const double progress = n > 1 ? double(i) / double(n - 1) : 0.0;
    s.push_back(final_value + 0.5 * (base - final_value) * (1.0 + std::cos(M_PI * progress)));
  }
  return s;
}

std::vector<double> bent_cosine_schedule(double base, double final_value, int64_t total_steps, int64_t warmup_steps,
                                         ScheduleBend bend) {
  if (bend.step <= 0) return cosine_schedule(base, final_value, total_steps, warmup_steps);
  check(bend.step >= warmup_steps && bend.step <= std::min(total_steps, bend.planned),
        "a schedule's bend must lie after its warm-up and no later than its planned or new length");
  std::vector<double> s = cosine_schedule(base, final_value, bend.planned, warmup_steps);
  s.resize(size_t(bend.step));
  const int64_t planned_n = bend.planned - warmup_steps;  // the planned cosine's steps
  const double from = planned_n > 1 ? double(bend.step - warmup_steps) / double(planned_n - 1) : 1.0;
  const int64_t rest = total_steps - bend.step;
  for (int64_t i = 0; i < rest; ++i) {
    const double progress = rest > 1 ? from + (1.0 - from) * double(i) / double(rest - 1) : 1.0;
    s.push_back(final_value + 0.5 * (base - final_value) * (1.0 + std::cos(M_PI * progress)));
  }
  return s;
}

double scaled_lr(double lr_per_256, int64_t batch_size) { return lr_per_256 * double(batch_size) / 256.0; }

}  // namespace twist
