#pragma once
// --budget-minutes during a run: when it measures its speed, and what each
// measurement makes of the run's length, warm-up and schedules.
#include <cstdint>
#include <string>

#include "schedules.h"
#include "twist/config.h"

namespace twist {

// What one measurement decided: the config with the main phase re-sized
// (max_steps, warmup_epochs, replan_step, replan_from and replan_along), whether that
// differs from the run's, and the line that says so.
struct BudgetDecision {
  TrainConfig config;
  bool changed = false;
  std::string said;
};

// The measurements: after the first 23 steps (kUntimedSteps +
// kBudgetTimedSteps), again at the warm-up's end, over all the timed steps
// (the first steps can run faster than the rest: 0.859 s against 0.948 per
// step in one run), then the re-plans: halfway through the rest of the main
// phase, over the steps since the last measurement (a machine's speed can
// change: 1.29 s per step over steps 20-80, then 0.96 over 120-529 in one
// run), and again halfway through what is left while that is at least
// kBudgetTimedSteps away (one run measured 1.065 s per step over steps
// 87-311 and then ran steps 301-567 at 1.26, 46 s past its budget). The
// first shortens a cut run's warm-up to its share of the planned run; a
// re-plan bends the cosine schedules where it re-sizes (bent_cosine_schedule).
class BudgetPlan {
 public:
  BudgetPlan() = default;
  // The run as asked: `config` with its first `schedules`.
  BudgetPlan(const TrainConfig& config, const Schedules& schedules);
  bool due(int64_t step, const Schedules& s) const;
  // This rank's seconds per step for the measurement at `step`: over all the
  // timed steps (`timed_per_step`), or at the re-plan over the steps since
  // the last measurement, which ended at `train_seconds` of this rank.
  double per_step(int64_t step, double train_seconds, double timed_per_step) const;
  // The measurement at `step`, this rank at `train_seconds`; `spent` and
  // `per_step` are the ranks' mean, so every rank decides the same.
  BudgetDecision decide(int64_t step, double train_seconds, double spent, double per_step, const TrainConfig& config,
                        const Schedules& s);

 private:
  BudgetDecision resize(int64_t step, double per_step, int64_t main, const TrainConfig& config, const Schedules& s);
  BudgetDecision replan(int64_t step, double per_step, int64_t main, const TrainConfig& config, const Schedules& s);
  std::string line(double per_step, int64_t from, int64_t step, const std::string& outcome) const;
  std::string length(int64_t main, int64_t steps_per_epoch) const;

  double budget_minutes_ = 0;
  int64_t asked_max_steps_ = 0;                    // config.max_steps as given: what an undone cut restores
  int64_t planned_main_ = 0, planned_warmup_ = 0;  // the main phase and warm-up as asked: what a budget cuts
  int64_t replan_at_ = 0;                          // the re-plan's step; 0: none due
  int64_t mark_step_ = 0;                          // the last measurement's step and this rank's seconds then
  double mark_seconds_ = 0;
};

}  // namespace twist
