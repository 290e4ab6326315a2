#pragma once
// When the training loop writes its periodic checkpoint.
#include <cstdint>

namespace twist {

// A checkpoint is due after `step` steps (counted from 1) when either
// trigger fires: every `every_steps` steps (0: at the end of each epoch of
// `steps_per_epoch` steps), or `every_minutes` (> 0) of wall time since the
// last checkpoint. The time trigger bounds what a crash can cost on slow
// machines, where an epoch can take hours.
bool checkpoint_due(int64_t step, int64_t every_steps, int64_t steps_per_epoch, double every_minutes,
                    double seconds_since_last);

}  // namespace twist
