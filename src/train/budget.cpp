// --budget-minutes: how long a run may train, from its measured speed (budget_plan.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "budget_plan.h"
#include "twist/train.h"

namespace twist {

// The step of the first measurement.
constexpr int64_t kFirstMeasuredStep = kUntimedSteps + kBudgetTimedSteps;
static_assert(kFirstMeasuredStep == 23, "the help of budget_minutes and the docs say 23 steps");

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

BudgetPlan::BudgetPlan(const TrainConfig& config, const Schedules& schedules)
    : budget_minutes_(config.budget_minutes),
      asked_max_steps_(config.max_steps),
      planned_main_(schedules.main_total),
      planned_warmup_(schedules.warmup) {}

bool BudgetPlan::due(int64_t step, const Schedules& s) const {
  if (budget_minutes_ <= 0) return false;
  return step == kFirstMeasuredStep || (step == s.warmup && s.warmup > kFirstMeasuredStep && step < s.main_total) ||
         step == replan_at_;
}

double BudgetPlan::per_step(int64_t step, double train_seconds, double timed_per_step) const {
  if (step != replan_at_) return timed_per_step;
  return (train_seconds - mark_seconds_) / double(step - mark_step_);
}

BudgetDecision BudgetPlan::decide(int64_t step, double train_seconds, double spent, double per_step,
                                  const TrainConfig& config, const Schedules& s) {
  const bool again = step == replan_at_;
  const int64_t main = budgeted_main_steps(budget_minutes_ * 60, spent, per_step, step, planned_main_, s.sl_total);
  BudgetDecision d = again ? replan(step, per_step, main, config, s) : resize(step, per_step, main, config, s);
  mark_step_ = step;
  mark_seconds_ = train_seconds;
  replan_at_ = 0;
  // Once the warm-up is over, a re-plan comes halfway through the rest, and
  // after it another, while that leaves enough steps to time.
  const int64_t warmup = std::llround(d.config.warmup_epochs * double(s.steps_per_epoch));
  const int64_t end = d.changed ? main : s.main_total;
  const int64_t halfway = step + (end - step) / 2;
  if (step >= warmup && halfway - step >= kBudgetTimedSteps) replan_at_ = halfway;
  return d;
}

// The first two measurements: the main phase ends where the time runs out,
// and the first also shortens a cut run's warm-up to its share. Both come in
// the warm-up, whose learning rates do not depend on the run's length.
BudgetDecision BudgetPlan::resize(int64_t step, double per_step, int64_t main, const TrainConfig& config,
                                  const Schedules& s) {
  BudgetDecision d{config, false, {}};
  const bool first = step == kFirstMeasuredStep;
  const int64_t warmup = first ? budgeted_warmup_steps(planned_warmup_, step, main, planned_main_) : s.warmup;
  d.config.max_steps = main >= planned_main_ ? asked_max_steps_ : main;
  if (warmup != s.warmup) d.config.warmup_epochs = double(warmup) / double(s.steps_per_epoch);
  d.changed = d.config.max_steps != config.max_steps || warmup != s.warmup;
  const std::string shorter = warmup < s.warmup ? ", its warm-up at step " + std::to_string(warmup) : "";
  const std::string off = main < planned_main_ ? "; --budget-minutes 0 trains them all" : "";
  d.said = line(per_step, kUntimedSteps + 1, step, length(main, s.steps_per_epoch) + shorter + off);
  return d;
}

// A re-plan: where the end moves by 1% or more, the main phase is re-sized
// from here and its cosine schedules bend here, going on from where an
// earlier re-plan bent them (config.json records the bend as replan_step,
// replan_from and replan_along, so a resume keeps it).
BudgetDecision BudgetPlan::replan(int64_t step, double per_step, int64_t main, const TrainConfig& config,
                                  const Schedules& s) {
  BudgetDecision d{config, false, {}};
  const int64_t was = s.main_total;
  if (std::llabs(main - was) * 100 < was) {
    d.said = line(per_step, mark_step_ + 1, step, "its end at step " + std::to_string(was) + " stands");
    return d;
  }
  d.config.max_steps = main >= planned_main_ ? asked_max_steps_ : main;
  const ScheduleBend bend = bend_at(step, was, {config.replan_step, config.replan_from, config.replan_along});
  d.config.replan_step = bend.step;
  d.config.replan_from = bend.planned;
  d.config.replan_along = bend.along;
  d.changed = true;
  d.said = line(per_step, mark_step_ + 1, step,
                length(main, s.steps_per_epoch) + ", not at step " + std::to_string(was) +
                    ": its schedules go on from here at the new pace");
  return d;
}

std::string BudgetPlan::line(double per_step, int64_t from, int64_t step, const std::string& outcome) const {
  char head[160];
  std::snprintf(head, sizeof head, "\ntwist: budget %g min: %.3f s per step over steps %lld-%lld, so ", budget_minutes_,
                per_step, (long long)from, (long long)step);
  return head + outcome + "\n";
}

// "the planned 1404 steps fit" or "the main phase ends at step 430 of 1404 (1.84 epochs)".
std::string BudgetPlan::length(int64_t main, int64_t steps_per_epoch) const {
  if (main >= planned_main_) return "the planned " + std::to_string(planned_main_) + " steps fit";
  char epochs[32];
  std::snprintf(epochs, sizeof epochs, "%.2f", double(main) / double(steps_per_epoch));
  return "the main phase ends at step " + std::to_string(main) + " of " + std::to_string(planned_main_) + " (" +
         epochs + " epochs)";
}

}  // namespace twist
