// --budget-minutes: how long a run trains (budgeted_main_steps,
// budgeted_warmup_steps), when it measures its speed and what each
// measurement makes of its schedules (BudgetPlan, bent_cosine_schedule).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../src/train/budget_plan.h"
#include "../src/train/schedules.h"
#include "twist/error.h"
#include "twist/optim.h"
#include "twist/train.h"

namespace {

// --budget-minutes: the main phase keeps the steps that fit the time left,
// with the self-labeling steps after it; never more than planned, never
// fewer than done.
TEST(Schedule, BudgetKeepsTheStepsThatFit) {
  using twist::budgeted_main_steps;
  // 100 s budget, 10 s spent in 23 steps, 1 s per step: 90 more steps.
  EXPECT_EQ(budgeted_main_steps(100, 10, 1.0, 23, 1000, 0), 113);
  EXPECT_EQ(budgeted_main_steps(100, 10, 1.0, 23, 1000, 50), 63);  // self-labeling's 50 come out of it
  EXPECT_EQ(budgeted_main_steps(100, 10, 0.5, 23, 1000, 0), 203);
  EXPECT_EQ(budgeted_main_steps(100, 10, 1.0, 23, 113, 0), 113);    // exactly fits: unchanged
  EXPECT_EQ(budgeted_main_steps(100, 10, 1.0, 23, 100, 0), 100);    // fits with time to spare
  EXPECT_EQ(budgeted_main_steps(100, 150, 1.0, 23, 1000, 0), 23);   // spent already: ends now
  EXPECT_EQ(budgeted_main_steps(100, 10, 1.0, 23, 1000, 500), 23);  // self-labeling alone is too long
  EXPECT_EQ(budgeted_main_steps(100, 10, 0.0, 23, 1000, 0), 1000);  // no measured speed: no cut
  EXPECT_EQ(budgeted_main_steps(100, 10, std::nan(""), 23, 1000, 0), 1000);
  EXPECT_EQ(budgeted_main_steps(1e300, 0, 1e-300, 23, 1000, 0), 1000);  // no overflow
}

// A cut run's warm-up keeps its share of the planned run.
TEST(Schedule, BudgetShortensTheWarmUpInProportion) {
  using twist::budgeted_warmup_steps;
  EXPECT_EQ(budgeted_warmup_steps(234, 23, 700, 1404), 117);   // 6 epochs cut to 3: half an epoch
  EXPECT_EQ(budgeted_warmup_steps(234, 23, 1404, 1404), 234);  // not cut: as asked
  EXPECT_EQ(budgeted_warmup_steps(234, 23, 2000, 1404), 234);
  EXPECT_EQ(budgeted_warmup_steps(234, 23, 100, 1404), 23);  // never before the steps taken
  EXPECT_EQ(budgeted_warmup_steps(10, 23, 100, 1404), 10);   // a warm-up already over stays
  EXPECT_EQ(budgeted_warmup_steps(0, 23, 700, 1404), 0);
}

// Planned for 10 steps (2 of warm-up), bent at step 6: the steps before it
// are the planned ones, and from there the cosine goes on from the planned
// progress at step 6, 4/7, to 1 at the new last step.
TEST(Schedule, BentCosineGoesOnFromWhereItWas) {
  const auto planned = twist::cosine_schedule(1.0, 0.0, 10, 2);
  for (int64_t total : {14, 8}) {
    const auto s = twist::bent_cosine_schedule(1.0, 0.0, total, 2, {6, 10});
    ASSERT_EQ(int64_t(s.size()), total);
    for (size_t i = 0; i <= 6; ++i) EXPECT_DOUBLE_EQ(s[i], planned[i]) << total << " " << i;
    EXPECT_NEAR(s[6], 0.5 * (1 + std::cos(M_PI * 4 / 7)), 1e-12);
    EXPECT_NEAR(s[size_t(total - 1)], 0.0, 1e-12);
    for (size_t i = 3; i < s.size(); ++i) EXPECT_LT(s[i], s[i - 1]) << total << " " << i;
  }
  // Longer: step 10 is at progress 4/7 + (3/7)(4/7), where the planned run had ended.
  EXPECT_NEAR(twist::bent_cosine_schedule(1.0, 0.0, 14, 2, {6, 10})[10],
              0.5 * (1 + std::cos(M_PI * (4.0 / 7 + 12.0 / 49))), 1e-12);
  // No bend: the plain schedule; a bend at the end keeps the planned steps before it.
  EXPECT_EQ(twist::bent_cosine_schedule(1.0, 0.1, 6, 2, {}), twist::cosine_schedule(1.0, 0.1, 6, 2));
  const auto ended = twist::bent_cosine_schedule(1.0, 0.0, 6, 2, {6, 10});
  EXPECT_EQ(ended, std::vector<double>(planned.begin(), planned.begin() + 6));
  EXPECT_THROW(twist::bent_cosine_schedule(1.0, 0.0, 14, 4, {3, 10}), twist::Error);  // in the warm-up
  EXPECT_THROW(twist::bent_cosine_schedule(1.0, 0.0, 5, 2, {6, 10}), twist::Error);   // after the new end
}

// A second bend (bend_at) goes on from the value the once-bent schedule has
// there, whatever the warm-up (the learning rate's, or none as for weight
// decay): planned for 10 steps, bent at step 6 to 14 steps, then at step 9
// to 12. Step 9 stands for the planned run's step 6 + (9 - 6) * 3 / 7: the
// first bend spread the planned steps 6-9 over its steps 6-13.
TEST(Schedule, ASecondBendGoesOnFromTheFirst) {
  const twist::ScheduleBend second = twist::bend_at(9, 14, {6, 10});
  EXPECT_EQ(second.step, 9);
  EXPECT_EQ(second.planned, 10);
  EXPECT_NEAR(second.along, 6 + 3.0 * 3 / 7, 1e-12);
  for (int64_t warmup : {2, 0}) {
    const auto once = twist::bent_cosine_schedule(1.0, 0.0, 14, warmup, {6, 10});
    const auto twice = twist::bent_cosine_schedule(1.0, 0.0, 12, warmup, second);
    ASSERT_EQ(twice.size(), 12u);
    EXPECT_NEAR(twice[9], once[9], 1e-12) << warmup;
    EXPECT_NEAR(twice[11], 0.0, 1e-12) << warmup;
    EXPECT_LT(twice[10], twice[9]);
    EXPECT_LT(twice[11], twice[10]);
  }
  // Not bent yet: a first bend, at the schedule's own length.
  const twist::ScheduleBend first = twist::bend_at(6, 10, {});
  EXPECT_EQ(first.step, 6);
  EXPECT_EQ(first.planned, 10);
  EXPECT_EQ(first.along, 0.0);
  EXPECT_THROW(twist::bend_at(5, 14, {6, 10}), twist::Error);                               // before the last bend
  EXPECT_THROW(twist::bent_cosine_schedule(1.0, 0.0, 12, 2, {9, 10, 11.0}), twist::Error);  // past the planned end
}

// Fashion-MNIST's default under a 10-minute budget: 6 epochs of 234 steps,
// one of warm-up. Measured at step 23 at 1 s per step after 30 s, the run
// is cut to 593 steps and its warm-up to 99; at the warm-up's end the same
// speed keeps them; halfway through the rest (step 346) the steps since run
// at 0.8 s, so the main phase grows to 716 and the schedules bend there;
// halfway through what is left (step 531) they ran at 1 s, so it shrinks to
// 642 and they bend again; at that speed the re-plans at steps 586 and 614
// keep it, and none comes after (fewer than 20 steps to halfway).
TEST(Schedule, BudgetPlanMeasuresAndBendsTheSchedulesAgainAndAgain) {
  twist::TrainConfig c;
  c.epochs = 6;
  c.budget_minutes = 10;
  twist::Schedules s = twist::make_schedules(c, 234);
  twist::BudgetPlan plan(c, s);
  EXPECT_FALSE(plan.due(22, s));
  ASSERT_TRUE(plan.due(23, s));
  auto d = plan.decide(23, 30, 30, 1.0, c, s);
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.config.max_steps, 593);
  EXPECT_NE(d.said.find("over steps 4-23, so the main phase ends at step 593 of 1404 (2.53 epochs), its warm-up at "
                        "step 99; --budget-minutes 0 trains them all"),
            std::string::npos)
      << d.said;
  c = d.config;
  s = twist::make_schedules(c, 234);
  EXPECT_EQ(s.warmup, 99);
  ASSERT_TRUE(plan.due(99, s));
  d = plan.decide(99, 106, 106, 1.0, c, s);
  EXPECT_FALSE(d.changed);
  EXPECT_FALSE(plan.due(345, s));
  ASSERT_TRUE(plan.due(346, s));
  const double now = 106 + 247 * 0.8;
  EXPECT_NEAR(plan.per_step(346, now, 1.0), 0.8, 1e-12);  // the steps since the last measurement
  twist::BudgetPlan same = plan;
  d = plan.decide(346, now, now, 0.8, c, s);
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.config.max_steps, 716);
  EXPECT_EQ(d.config.replan_step, 346);
  EXPECT_EQ(d.config.replan_from, 593);
  EXPECT_NE(d.said.find("over steps 100-346, so the main phase ends at step 716 of 1404 (3.06 epochs), not at step "
                        "593: its schedules go on from here at the new pace"),
            std::string::npos)
      << d.said;
  const twist::Schedules bent = twist::make_schedules(d.config, 234);
  ASSERT_EQ(bent.main_total, 716);
  for (size_t i = 0; i <= 346; ++i) EXPECT_DOUBLE_EQ(bent.lr[i], s.lr[i]) << i;
  EXPECT_GT(bent.lr[347], s.lr[347]);  // the longer run decays more slowly from here
  EXPECT_GT(bent.lr[400], s.lr[400]);
  EXPECT_DOUBLE_EQ(bent.lr[715], s.lr[592]);
  EXPECT_FALSE(plan.due(530, bent));
  ASSERT_TRUE(plan.due(531, bent));
  const double later = now + 185 * 1.0;
  EXPECT_NEAR(plan.per_step(531, later, 0.8), 1.0, 1e-12);
  const twist::TrainConfig once = d.config;
  d = plan.decide(531, later, later, 1.0, once, bent);
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.config.max_steps, 642);
  EXPECT_EQ(d.config.replan_step, 531);
  EXPECT_EQ(d.config.replan_from, 593);  // the length before the first re-plan, and how far along it:
  EXPECT_NEAR(d.config.replan_along, 346 + 246.0 * 185 / 369, 1e-9);
  const twist::Schedules twice = twist::make_schedules(d.config, 234);
  ASSERT_EQ(twice.main_total, 642);
  EXPECT_NEAR(twice.lr[531], bent.lr[531], 1e-12 * bent.lr[346]);  // the steps before were taken already
  EXPECT_LT(twice.lr[532], bent.lr[532]);                          // the shorter run decays faster from here
  EXPECT_DOUBLE_EQ(twice.lr[641], s.lr[592]);
  std::vector<int64_t> replans;
  for (int64_t k = 532; k < 642; ++k)
    if (plan.due(k, twice)) {
      replans.push_back(k);
      const double t = later + double(k - 531);  // still 1 s per step
      EXPECT_FALSE(plan.decide(k, t, t, 1.0, d.config, twice).changed) << k;
    }
  EXPECT_EQ(replans, (std::vector<int64_t>{586, 614}));
  // At the speed it had, the end stands.
  d = same.decide(346, now, 106 + 247.0, 1.0, c, s);
  EXPECT_FALSE(d.changed);
  EXPECT_NE(d.said.find("so its end at step 593 stands"), std::string::npos) << d.said;
}

// Where the main phase fits, the re-plan can still cut it (a machine that
// slows down), back to nothing changed where it fits again.
TEST(Schedule, BudgetPlanCutsLateWhereTheMachineSlows) {
  twist::TrainConfig c;
  c.epochs = 2;
  c.warmup_epochs = 0;
  c.budget_minutes = 5;
  twist::Schedules s = twist::make_schedules(c, 100);
  twist::BudgetPlan plan(c, s);
  auto d = plan.decide(23, 23, 23, 1.0, c, s);  // 277 more fit: the planned 200 do
  EXPECT_FALSE(d.changed);
  EXPECT_NE(d.said.find("so the planned 200 steps fit"), std::string::npos) << d.said;
  ASSERT_TRUE(plan.due(111, s));                                  // halfway from 23 to 200
  d = plan.decide(111, 23 + 88 * 3.0, 23 + 88 * 3.0, 3.0, c, s);  // 300 s - 287 s left: 4 more steps
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.config.max_steps, 115);
  EXPECT_EQ(d.config.replan_step, 111);
  EXPECT_EQ(d.config.replan_from, 200);
  const twist::Schedules cut = twist::make_schedules(d.config, 100);
  EXPECT_EQ(cut.total, 115);
  EXPECT_DOUBLE_EQ(cut.lr[114], s.lr[199]);
}

}  // namespace
