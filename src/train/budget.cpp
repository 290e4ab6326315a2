// --budget-minutes: how long a run may train, from the speed of its first steps.
#include <algorithm>
#include <cmath>

#include "twist/train.h"

namespace twist {

static_assert(kUntimedSteps + kBudgetTimedSteps == 23, "the help of budget_minutes and the docs say 23 steps");

int64_t budgeted_main_steps(double budget_s, double spent_s, double seconds_per_step, int64_t done, int64_t main_total,
                            int64_t sl_total) {
  if (!(seconds_per_step > 0) || !std::isfinite(seconds_per_step)) return main_total;
  const double left = std::max(0.0, budget_s - spent_s);
  const double more = std::floor(left / seconds_per_step);
  // The budget is measured in steps still to come: past main_total + sl_total
  // nothing is cut, and the double is compared before it is cast.
  if (double(done) + more >= double(main_total + sl_total)) return main_total;
  return std::max(done, done + int64_t(more) - sl_total);
}

int64_t budgeted_warmup_steps(int64_t warmup, int64_t done, int64_t main_total, int64_t planned) {
  if (main_total >= planned || planned <= 0) return warmup;
  const int64_t share = std::llround(double(warmup) * double(main_total) / double(planned));
  return std::min(warmup, std::max(done, share));
}

}  // namespace twist
