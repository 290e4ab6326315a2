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

double scaled_lr(double lr_per_256, int64_t batch_size) { return lr_per_256 * double(batch_size) / 256.0; }

}  // namespace twist
