#include "twist/checkpoint_schedule.h"

namespace twist {

bool checkpoint_due(int64_t step, int64_t every_steps, int64_t steps_per_epoch, double every_minutes,
                    double seconds_since_last) {
  const int64_t period = every_steps > 0 ? every_steps : steps_per_epoch;
  const bool by_steps = period > 0 && step % period == 0;
  const bool by_time = every_minutes > 0 && seconds_since_last >= 60.0 * every_minutes;
  return by_steps || by_time;
}

}  // namespace twist
