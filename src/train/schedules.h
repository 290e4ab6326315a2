#pragma once
// A run's per-step schedules, computed once from its config: the learning
// rate and weight decay of every step, the self-labeling phase's kept share
// and the momentum teacher's EMA momentum.
#include <cstdint>
#include <vector>

#include "twist/config.h"
#include "twist/train_step.h"

namespace twist {

struct Schedules {
  int64_t steps_per_epoch = 0;
  int64_t main_total = 0;                // steps of the main (TWIST) phase
  int64_t sl_total = 0;                  // steps of the self-labeling phase after it (0: none)
  int64_t total = 0;                     // main_total + sl_total
  int64_t warmup = 0;                    // linear warm-up steps of the main phase
  std::vector<double> lr, wd;            // per step, both phases
  std::vector<double> keep;              // self-labeling: share of each batch kept, per self-labeling step
  std::vector<double> teacher_momentum;  // per main-phase step; empty without a teacher
};

// `config.epochs` must be resolved (> 0): see resolved_epochs.
Schedules make_schedules(const TrainConfig& config, int64_t steps_per_epoch);

// What step `step` (counted from 0) trains with: its learning rate, weight
// decay, objective (self-labeling after the main phase) and EMA momentum.
StepPlan step_plan(const Schedules& s, int64_t step, bool signalled);

}  // namespace twist
