// End to end through the twist binary: train on a tiny generated data set,
// stop, resume, and every bad input of the command-line contract.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"
#include "tiny_data_suite.h"
#include "twist/train.h"
#include "twist/train_step.h"

namespace {

using namespace twist::testing;
using json = nlohmann::json;

std::string tiny(const std::string& data) { return tiny_train_args(data); }

// The `key` (a training line's: loss, lr, ...) that metrics.jsonl logged at `step`.
double value_at_step(const std::string& metrics_path, int64_t step, const std::string& key) {
  std::istringstream lines(read_text(metrics_path));
  std::string line;
  while (std::getline(lines, line)) {
    auto j = json::parse(line);
    if (j["step"].get<int64_t>() == step && j.contains(key)) return j[key].get<double>();
  }
  ADD_FAILURE() << "no " << key << " at step " << step << " in " << metrics_path;
  return 0;
}

double loss_at_step(const std::string& metrics_path, int64_t step) { return value_at_step(metrics_path, step, "loss"); }

class TrainE2E : public TinyDataSuite {};

// tau = 100 behind NBS (unit-variance logits): every image's distribution is
// flat (entropy ~ ln 4) from the first step on any CPU, so every attempt
// collapses. The first is restarted past the warm-up (8 steps) at half the
// learning rate with tau on the entropies only; the second has no restart
// left and trains on, marked.
TEST_F(TrainE2E, ACollapseAfterTheWarmUpRestartsTheRunAtHalfTheLearningRate) {
  auto r = run_twist("train " + tiny(data()) + " --temperature 100 --lr 2 --collapse-restarts 1 --max-steps 16" +
                     " --eval false --report false --json --out " + out("flat"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("restarted at lr 1 "), std::string::npos) << r.output;
  auto s = json::parse(read_text(out("flat") + "/summary.json"));
  ASSERT_EQ(s["collapse_restarts"].size(), 1u);
  EXPECT_NE(s["collapse_restarts"][0].get<std::string>().find("collapsed at step 9 with lr 2"), std::string::npos);
  EXPECT_EQ(s["steps"].get<int64_t>(), 16);
  EXPECT_TRUE(exists(out("flat") + "/metrics.collapsed-1.jsonl"));
  auto cfg = json::parse(read_text(out("flat") + "/config.json"));
  EXPECT_EQ(cfg["lr"].get<double>(), 1.0);
  // A flat collapse also moves tau to the entropies (the official placement).
  EXPECT_EQ(cfg["temperature_mode"].get<std::string>(), "entropies");
  EXPECT_NE(r.output.find("with --temperature-mode entropies"), std::string::npos) << r.output;
  EXPECT_EQ(cfg["collapse_restarts"].get<int64_t>(), 0);
  // Every log line of the collapsed attempt says so, from the third on.
  std::istringstream lines(read_text(out("flat") + "/metrics.jsonl"));
  std::string line;
  int64_t marked = 0;
  while (std::getline(lines, line)) {
    auto j = json::parse(line);
    const bool collapsed = j.value("collapsed", 0.0) == 1.0;
    EXPECT_EQ(collapsed, j["step"].get<int64_t>() >= 3) << line;
    marked += collapsed;
  }
  EXPECT_EQ(marked, 14);
}

TEST_F(TrainE2E, ResumeMatchesUninterruptedRun) {
  auto full = run_twist("train " + tiny(data()) + " --max-steps 40 --json --out " + out("full"));
  ASSERT_EQ(full.exit_code, 0) << full.output;
  // The summary holds the keys scripts rely on (docs/design.md §7).
  auto summary = json::parse(read_text(out("full") + "/summary.json"));
  for (const char* key : {"images_per_s", "epochs", "steps", "final_loss", "knn_top1", "nmi", "ami", "ari", "acc"})
    EXPECT_TRUE(summary.contains(key)) << key;
  EXPECT_EQ(summary["steps"].get<int64_t>(), 40);
  EXPECT_GT(summary["knn_top1"].get<double>(), 0.25);  // above chance on 4 classes
  // This tiny recipe's head goes flat (each image's entropy 1.35 of ln 4 =
  // 1.39 by step 40) while the backbone learns: the warning may fire here.
  EXPECT_TRUE(summary.contains("collapse_step"));
  // --json prints exactly the summary object on stdout (progress is on stderr).
  EXPECT_TRUE(exists(out("full") + "/config.json"));
  EXPECT_TRUE(exists(out("full") + "/checkpoint.pt"));

  auto first = run_twist("train " + tiny(data()) + " --max-steps 40 --stop-after-steps 20 --out " + out("split"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("--resume"), std::string::npos) << first.output;
  EXPECT_FALSE(exists(out("split") + "/summary.json"));  // not passed off as complete
  EXPECT_EQ(twist::read_checkpoint_state(out("split") + "/checkpoint.pt").step, 20);
  auto second = run_twist("train --resume --out " + out("split"));
  ASSERT_EQ(second.exit_code, 0) << second.output;

  const double a = loss_at_step(out("full") + "/metrics.jsonl", 40);
  const double b = loss_at_step(out("split") + "/metrics.jsonl", 40);
  EXPECT_NEAR(a, b, 1e-5 * std::abs(a)) << "resumed run diverged from the uninterrupted one";
  EXPECT_NEAR(loss_at_step(out("full") + "/metrics.jsonl", 25), loss_at_step(out("split") + "/metrics.jsonl", 25),
              1e-5 * std::abs(a));
}

// A run stopped inside the self-labeling phase resumes into it (its own
// loader, crops, re-warmed learning rate and kept share) and ends where the
// uninterrupted run ends.
TEST_F(TrainE2E, ResumeInsideSelfLabelingMatchesUninterruptedRun) {
  const std::string args = "train " + tiny(data()) + " --max-steps 16 --self-label-epochs 2 --report false";
  auto full = run_twist(args + " --out " + out("sl-full"));
  ASSERT_EQ(full.exit_code, 0) << full.output;
  auto first = run_twist(args + " --stop-after-steps 22 --out " + out("sl-split"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_EQ(twist::read_checkpoint_state(out("sl-split") + "/checkpoint.pt").step, 22);
  auto second = run_twist("train --resume --out " + out("sl-split"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const std::string a = out("sl-full") + "/metrics.jsonl", b = out("sl-split") + "/metrics.jsonl";
  const double end = loss_at_step(a, 32);
  EXPECT_NEAR(loss_at_step(b, 32), end, 1e-5 * std::abs(end) + 1e-7) << "resumed inside self-labeling, diverged";
  EXPECT_NEAR(loss_at_step(b, 26), loss_at_step(a, 26), 1e-5 * std::abs(end) + 1e-7);
  EXPECT_TRUE(exists(out("sl-split") + "/summary.json"));
}

// --eval-every N: a metrics line of held-out figures every N steps and at
// the end, which leaves the run's trajectory alone. The tiny data set is
// smaller than the curves' subsets, so the last point is the end-of-run
// evaluation itself.
std::vector<int64_t> curve_steps(const std::string& metrics) {
  std::vector<int64_t> steps;
  std::istringstream lines(read_text(metrics));
  for (std::string line; std::getline(lines, line);) {
    auto j = json::parse(line);
    if (j.contains("eval_knn_top1")) steps.push_back(j["step"].get<int64_t>());
  }
  return steps;
}

TEST_F(TrainE2E, EvalEveryLogsLearningCurvesWithoutChangingTheRun) {
  auto plain = run_twist("train " + tiny(data()) + " --max-steps 12 --report false --out " + out("plain"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  auto curves = run_twist("train " + tiny(data()) + " --max-steps 12 --eval-every 5 --out " + out("curves"));
  ASSERT_EQ(curves.exit_code, 0) << curves.output;
  EXPECT_EQ(loss_at_step(out("plain") + "/metrics.jsonl", 12), loss_at_step(out("curves") + "/metrics.jsonl", 12));
  std::vector<int64_t> steps;
  double last_seconds = -1, last_knn = -1;
  std::istringstream lines(read_text(out("curves") + "/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    auto j = json::parse(line);
    if (!j.contains("eval_knn_top1")) continue;
    steps.push_back(j["step"].get<int64_t>());
    last_knn = j["eval_knn_top1"].get<double>();
    EXPECT_GE(last_knn, 0.0);
    EXPECT_LE(last_knn, 1.0);
    EXPECT_TRUE(j.contains("eval_acc") && j.contains("eval_nmi")) << line;  // C = 4 = the classes
    EXPECT_GE(j["train_seconds"].get<double>(), last_seconds) << line;
    last_seconds = j["train_seconds"].get<double>();
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{5, 10, 12}));
  auto a = json::parse(read_text(out("plain") + "/summary.json"));
  auto b = json::parse(read_text(out("curves") + "/summary.json"));
  EXPECT_EQ(a["knn_top1"].get<double>(), b["knn_top1"].get<double>());
  EXPECT_EQ(last_knn, b["knn_top1"].get<double>());
  EXPECT_EQ(read_text(out("plain") + "/metrics.jsonl").find("eval_knn_top1"), std::string::npos);
  // The report draws them, against epochs and minutes.
  const std::string html = read_text(out("curves") + "/report.html");
  EXPECT_NE(html.find("Held-out quality during training"), std::string::npos);
  EXPECT_NE(html.find("minutes of training"), std::string::npos);
  // A resumed run's points fall at the uninterrupted run's steps.
  auto split =
      run_twist("train " + tiny(data()) + " --max-steps 12 --eval-every 5 --stop-after-steps 7 --report false --out " +
                out("curves-split"));
  ASSERT_EQ(split.exit_code, 0) << split.output;
  auto resumed = run_twist("train --resume --out " + out("curves-split"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(curve_steps(out("curves-split") + "/metrics.jsonl"), (std::vector<int64_t>{5, 10, 12}));
  auto bad = run_twist("train " + tiny(data()) + " --eval-every -1 --out " + out("bad"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("eval_every"), std::string::npos) << bad.output;
}

// --cluster-heads 3: the summary lists each head's moving loss and figures,
// the figures reported are those of the head of lowest loss, the curves log
// every head, a resumed run chooses as the uninterrupted one did, and the
// evaluation commands use the chosen head.
TEST_F(TrainE2E, SeveralClusterHeadsTrainAndTheOneOfLowestLossIsUsed) {
  const std::string args = "train " + tiny(data()) + " --max-steps 12 --cluster-heads 3 --report false";
  auto whole = run_twist(args + " --eval-every 6 --out " + out("heads"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_NE(whole.output.find("(used: lowest loss)"), std::string::npos) << whole.output;
  auto s = json::parse(read_text(out("heads") + "/summary.json"));
  ASSERT_EQ(s["cluster_heads"].size(), 3u) << s.dump();
  size_t lowest = 0;
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_TRUE(s["cluster_heads"][k].contains("acc")) << s.dump();
    if (s["cluster_heads"][k]["loss"].get<double>() < s["cluster_heads"][lowest]["loss"].get<double>()) lowest = k;
  }
  EXPECT_EQ(s["chosen_head"].get<size_t>(), lowest);
  EXPECT_EQ(s["head_acc"].get<double>(), s["cluster_heads"][lowest]["acc"].get<double>());
  EXPECT_EQ(s["head_nmi"].get<double>(), s["cluster_heads"][lowest]["nmi"].get<double>());
  if (s["cluster_readout"] == "head") { EXPECT_EQ(s["acc"].get<double>(), s["head_acc"].get<double>()); }
  const std::string curves = read_text(out("heads") + "/metrics.jsonl");
  for (const char* key : {"\"head0_acc\"", "\"head2_loss\"", "\"chosen_head\""})
    EXPECT_NE(curves.find(key), std::string::npos) << key;
  auto split = run_twist(args + " --stop-after-steps 7 --out " + out("heads-split"));
  ASSERT_EQ(split.exit_code, 0) << split.output;
  auto resumed = run_twist("train --resume --out " + out("heads-split"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto r = json::parse(read_text(out("heads-split") + "/summary.json"));
  EXPECT_EQ(r["chosen_head"], s["chosen_head"]);
  EXPECT_EQ(r["cluster_heads"], s["cluster_heads"]);
  auto eval = run_command("(" + std::string(TWIST_BIN) + " eval cluster --run " + out("heads") + " --json > " +
                          out("eval.json") + ")");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const auto j = json::parse(read_text(out("eval.json")));
  EXPECT_NEAR(j["acc"].get<double>(), s["acc"].get<double>(), 1e-12);
}

// One writer per run directory: a second train on a directory in use is
// refused at once, naming the holder; once the holder is killed (SIGKILL:
// no chance to clean up) the directory can be resumed.
TEST_F(TrainE2E, ASecondWriterIsRefusedUntilTheFirstDies) {
  const std::string dir = out("locked");
  const std::string cmd = std::string(TWIST_BIN) + " train " + tiny(data()) +
                          " --epochs 1000 --eval false --checkpoint-every 2 --out " + dir;
  auto r = run_command("(" + cmd + " > /dev/null 2>&1 & p=$!; " + "for i in $(seq 1 600); do [ -s " + dir +
                       "/checkpoint.pt ] && break; sleep 0.1; done; " + cmd +
                       " --resume; echo second rc=$?; kill -KILL $p; wait $p; " + cmd +
                       " --resume --stop-after-steps 1 > /dev/null 2>&1; echo third rc=$?)");
  EXPECT_NE(r.output.find("second rc=1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is in use: another twist train (pid "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("third rc=0"), std::string::npos) << r.output;
}

// --stop-after-steps limits one invocation: --resume goes on to the end.
TEST_F(TrainE2E, ResumeDoesNotInheritStopAfterSteps) {
  auto first =
      run_twist("train " + tiny(data()) + " --max-steps 12 --stop-after-steps 4 --eval false --out " + out("stopped"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto rest = run_twist("train --resume --json --out " + out("stopped"));
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  auto s = json::parse(read_text(out("stopped") + "/summary.json"));
  EXPECT_EQ(s["steps"].get<int64_t>(), 12);
  EXPECT_TRUE(s["complete"].get<bool>());
}

// --budget-minutes: after its first 23 steps a run whose planned steps would
// take longer than the budget ends its main phase where the time runs out.
// A budget of 6 ms is spent by then on any machine, so the run ends at step
// 23, and its steps are the uncut run's (the cut comes at the end of a
// 23-step warm-up, whose learning rates do not depend on the run's length).
// config.json records the length as max_steps, which a resume keeps (here
// inside a self-labeling phase that follows the cut main phase); a budget
// the planned steps fit changes nothing.
TEST_F(TrainE2E, ATimeBudgetEndsTheMainPhaseWhereTheTimeRunsOut) {
  const std::string args = "train " + tiny(data()) + " --warmup-epochs 2.875 --eval false --report false --json";
  auto cut = run_twist(args + " --budget-minutes 0.0001 --out " + out("cut"));
  ASSERT_EQ(cut.exit_code, 0) << cut.output;
  EXPECT_NE(cut.output.find("so the main phase ends at step 23 of 40 (2.88 epochs); --budget-minutes 0"),
            std::string::npos)
      << cut.output;
  EXPECT_EQ(json::parse(read_text(out("cut") + "/summary.json"))["steps"].get<int64_t>(), 23);
  EXPECT_EQ(json::parse(read_text(out("cut") + "/config.json"))["max_steps"].get<int64_t>(), 23);
  auto whole = run_twist(args + " --budget-minutes 600 --out " + out("whole"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_NE(whole.output.find("so the planned 40 steps fit"), std::string::npos) << whole.output;
  EXPECT_EQ(json::parse(read_text(out("whole") + "/summary.json"))["steps"].get<int64_t>(), 40);
  EXPECT_EQ(json::parse(read_text(out("whole") + "/config.json"))["max_steps"].get<int64_t>(), 0);
  // With a warm-up longer than the first 23 steps the speed is measured again at its end.
  auto twice = run_twist("train " + tiny(data()) + " --warmup-epochs 4 --eval false --report false" +
                         " --budget-minutes 600 --out " + out("twice"));
  ASSERT_EQ(twice.exit_code, 0) << twice.output;
  EXPECT_NE(twice.output.find("over steps 4-23, so the planned 40 steps fit"), std::string::npos) << twice.output;
  EXPECT_NE(twice.output.find("over steps 4-32, so the planned 40 steps fit"), std::string::npos) << twice.output;
  for (int64_t step : {1, 12, 23})
    EXPECT_EQ(loss_at_step(out("cut") + "/metrics.jsonl", step), loss_at_step(out("whole") + "/metrics.jsonl", step))
        << "step " << step;
  // A cut run's warm-up keeps its share of the run (32 of 40 steps, cut to 23:
  // 18, but not before the 23 taken), recorded for a resume.
  auto short_warmup = run_twist("train " + tiny(data()) + " --warmup-epochs 4 --eval false --report false" +
                                " --budget-minutes 0.0001 --out " + out("short-warmup"));
  ASSERT_EQ(short_warmup.exit_code, 0) << short_warmup.output;
  EXPECT_NE(short_warmup.output.find("ends at step 23 of 40 (2.88 epochs), its warm-up at step 23;"), std::string::npos)
      << short_warmup.output;
  EXPECT_EQ(json::parse(read_text(out("short-warmup") + "/config.json"))["warmup_epochs"].get<double>(), 2.875);
  EXPECT_EQ(cut.output.find("its warm-up"), std::string::npos) << cut.output;  // 23 steps, over at the cut

  auto first =
      run_twist(args + " --budget-minutes 0.0001 --self-label-epochs 2 --stop-after-steps 30 --out " + out("sl"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto rest = run_twist("train --resume --json --out " + out("sl"));
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  EXPECT_EQ(json::parse(read_text(out("sl") + "/summary.json"))["steps"].get<int64_t>(), 23 + 16);

  // Covering the whole command, the run also times its evaluation and says
  // what the end will take; the measurement changes none of its steps.
  auto all = run_twist(args + " --budget-minutes 600 --budget-covers all --out " + out("all"));
  ASSERT_EQ(all.exit_code, 0) << all.output;
  EXPECT_NE(all.output.find("twist: budget covers all: "), std::string::npos) << all.output;
  EXPECT_NE(all.output.find(" s of read-out, evaluation and report after the last step"), std::string::npos)
      << all.output;
  EXPECT_NE(all.output.find("so the planned 40 steps fit"), std::string::npos) << all.output;
  for (int64_t step : {23, 24, 40})
    EXPECT_EQ(loss_at_step(out("all") + "/metrics.jsonl", step), loss_at_step(out("whole") + "/metrics.jsonl", step))
        << "step " << step;
  EXPECT_EQ(all.output.find("past its budget"), std::string::npos) << all.output;
  // A budget that the steps taken and the evaluation after them overrun is said to be.
  auto over = run_twist(args + " --budget-minutes 0.0001 --budget-covers all --out " + out("all-over"));
  ASSERT_EQ(over.exit_code, 0) << over.output;
  EXPECT_NE(over.output.find("past its budget of 0.0001: the steps taken and the work after them do not fit"),
            std::string::npos)
      << over.output;
  EXPECT_EQ(json::parse(read_text(out("all-over") + "/summary.json"))["steps"].get<int64_t>(), 23);
  auto unknown = run_twist(args + " --budget-minutes 1 --budget-covers everything --out " + out("bad-covers"));
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("budget_covers"), std::string::npos) << unknown.output;

  auto bad = run_twist(args + " --budget-minutes -1 --out " + out("bad-budget"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("budget_minutes"), std::string::npos) << bad.output;
}

// A budget's re-plan bends the schedules where it re-sized the run, and
// config.json records the bend (replan_step, replan_from): planned for 60
// steps and re-sized to 40 at step 20, the learning rate at step 21 is the
// 60-step run's, the last is the cosine's end, and a resume from step 30
// logs the same rates and losses as the run that went on.
TEST_F(TrainE2E, AResumeKeepsTheBendOfAReplannedSchedule) {
  const std::string args =
      "train " + tiny(data()) + " --epochs 8 --warmup-epochs 0 --log-every 1 --eval false --report false";
  auto planned = run_twist(args + " --max-steps 60 --stop-after-steps 21 --out " + out("planned"));
  ASSERT_EQ(planned.exit_code, 0) << planned.output;
  const std::string bent = " --max-steps 40 --replan-step 20 --replan-from 60 --out ";
  auto whole = run_twist(args + bent + out("bent"));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  auto first = run_twist(args + bent + out("resumed") + " --stop-after-steps 30");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto rest = run_twist("train --resume --out " + out("resumed"));
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  const auto lr = [&](const std::string& run, int64_t step) {
    return value_at_step(out(run) + "/metrics.jsonl", step, "lr");
  };
  EXPECT_EQ(lr("bent", 21), lr("planned", 21));
  EXPECT_GT(lr("bent", 21), lr("bent", 22));
  EXPECT_NEAR(lr("bent", 40), twist::TrainConfig{}.lr * 32 / 256 * twist::TrainConfig{}.min_lr_ratio, 1e-12);
  for (int64_t step : {31, 35, 40}) {
    EXPECT_EQ(lr("resumed", step), lr("bent", step)) << step;
    EXPECT_EQ(loss_at_step(out("resumed") + "/metrics.jsonl", step), loss_at_step(out("bent") + "/metrics.jsonl", step))
        << step;
  }
  // A second re-plan at step 30, to 36 steps: the first bend had spread the
  // planned steps 20-59 over its steps 20-39, so step 30 stands for step
  // 20 + 39 * 10 / 19 of the planned run (replan_along), and the rates go on
  // from the once-bent run's.
  char along[64];
  std::snprintf(along, sizeof along, " --replan-along %.17g", 20 + 39.0 * 10 / 19);
  auto twice = run_twist(args + " --max-steps 36 --replan-step 30 --replan-from 60" + along + " --out " + out("twice"));
  ASSERT_EQ(twice.exit_code, 0) << twice.output;
  EXPECT_NEAR(lr("twice", 31), lr("bent", 31), 1e-12);
  EXPECT_LT(lr("twice", 32), lr("bent", 32));
  EXPECT_NEAR(lr("twice", 36), lr("bent", 40), 1e-12);
  auto late = run_twist(args + " --max-steps 40 --replan-step 50 --replan-from 60 --out " + out("late"));
  EXPECT_EQ(late.exit_code, 1) << late.output;
  EXPECT_NE(late.output.find("replan_step 50 must lie after the warm-up (0 steps) and no later than the main phase's "
                             "end (step 40)"),
            std::string::npos)
      << late.output;
}

// --precision auto (the default) runs bf16 where the CPU has native bfloat16
// and fp32 elsewhere; config.json and the first line name the one that ran,
// so a resumed run keeps it on any machine.
TEST_F(TrainE2E, AutoPrecisionIsRecordedAsThePrecisionThatRan) {
  auto r = run_twist("train " + tiny(data()) + " --precision auto --max-steps 2 --eval false --report false --out " +
                     out("auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string ran = twist::cpu_has_native_bf16() ? "bf16" : "fp32";
  EXPECT_EQ(json::parse(read_text(out("auto") + "/config.json"))["precision"].get<std::string>(), ran);
  EXPECT_NE(r.output.find("threads, cpu " + ran + " -> "), std::string::npos) << r.output;
}

// --cluster-heads 0 (auto, the default) trains five heads where C is a
// number of clusters, and one with a momentum teacher (no refusal);
// config.json records the number trained, so a resume builds the same model.
TEST_F(TrainE2E, AutoClusterHeadsAreRecordedAsTheNumberTrained) {
  const std::string args = "train " + tiny(data()) + " --max-steps 2 --eval false --report false";
  auto r = run_twist(args + " --out " + out("auto-heads"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(read_text(out("auto-heads") + "/config.json"))["cluster_heads"].get<int64_t>(),
            twist::kAutoClusterHeads);
  auto t = run_twist(args + " --momentum-teacher true --out " + out("auto-teacher"));
  ASSERT_EQ(t.exit_code, 0) << t.output;
  EXPECT_EQ(json::parse(read_text(out("auto-teacher") + "/config.json"))["cluster_heads"].get<int64_t>(), 1);
}

// --stem auto (the default) keeps the stride-1 stem for small images and
// takes ImageNet's above 64 pixels; config.json records the one built, so
// that the run's model can be built again (twist eval on its checkpoint).
TEST_F(TrainE2E, AutoStemIsRecordedAsTheStemBuilt) {
  const std::string big = out("big-data");
  twist::testing::write_pattern_dataset(big, 64, 16, 4, /*side=*/72);
  for (const auto& [data, stem] : {std::pair{data(), "small"}, std::pair{big, "imagenet"}}) {
    const std::string dir = out(std::string("stem-") + stem);
    auto r = run_twist("train " + tiny(data) + " --max-steps 2 --eval false --report false --out " + dir);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(json::parse(read_text(dir + "/config.json"))["stem"].get<std::string>(), stem);
    EXPECT_NE(r.output.find(std::string("stem auto: ") + stem + " for "), std::string::npos) << r.output;
    auto knn = run_twist("eval knn --run " + dir + " --threads 2 --json");
    EXPECT_EQ(knn.exit_code, 0) << knn.output;
  }
}

// Float settings are finite: "--lr inf" used to pass and end in NaN at step 2.
TEST_F(TrainE2E, NonFiniteFloatSettingsAreRefused) {
  for (const char* bad : {"--lr inf", "--temperature nan", "--weight-decay -inf"}) {
    auto r = run_twist("train " + tiny(data()) + " " + bad + " --out " + out("nonfinite"));
    EXPECT_EQ(r.exit_code, 1) << bad << r.output;
    EXPECT_NE(r.output.find("must be a finite number"), std::string::npos) << r.output;
  }
}

// beta = 0 with NBS off: every image ends up in one class, and the run says
// so with the likely cause (with NBS on, the tiny run keeps all 4 classes).
// The collapsed head agrees with nothing (one cluster: agreement 0, balance 0), so
// the run's clusters are k-means' of the features, which use the 4 classes.
TEST_F(TrainE2E, CollapseWithoutDiversityIsReported) {
  auto r =
      run_twist("train " + tiny(data()) + " --beta 0 --nbs false --epochs 10 --log-every 4 --out " + out("collapse"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("twist: warning: the predictions are collapsing onto few classes at step"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Likely cause: beta = 0"), std::string::npos) << r.output;
  auto summary = json::parse(read_text(out("collapse") + "/summary.json"));
  EXPECT_GT(summary["collapse_step"].get<int64_t>(), 0);
  EXPECT_EQ(summary["cluster_readout"], "kmeans") << summary.dump();
  EXPECT_EQ(summary["readout_agreement"]["head"].get<double>(), 0.0);
  EXPECT_EQ(summary["readout_balance"]["head"].get<double>(), 0.0);  // one cluster of 4
  EXPECT_EQ(summary["clusters_used"].get<int64_t>(), 4);
  EXPECT_GT(summary["acc"].get<double>(), summary["head_acc"].get<double>());
  const std::string report = read_text(out("collapse") + "/report.html");
  EXPECT_NE(report.find("<b>Collapse:</b>"), std::string::npos);
  // The report's figures say whose clusters they are, the head's beside them.
  EXPECT_NE(report.find("(k-means read-out)"), std::string::npos);
  EXPECT_NE(report.find("the head&#39;s cluster accuracy"), std::string::npos);
  EXPECT_NE(r.output.find("clusters read out by k-means of the features"), std::string::npos) << r.output;
}

TEST_F(TrainE2E, BadInputGivesOneClearError) {
  struct Case {
    std::string args, message;
    int code;
  };
  std::vector<Case> cases = {
      {"train --bogus 3", "--bogus", 2},
      {"train " + tiny(data()) + " --batch-size 1 --out " + out("b1"), "batch_size", 1},
      {"train " + tiny(data()) + " --classes 1 --out " + out("c1"), "C must be at least 2", 1},
      {"train " + tiny(data()) + " --batch-size x --out " + out("bx"), "not a valid int", 1},
      {"train --data idx:" + out("nothing") + " --out " + out("nd"), "does not exist", 1},
      {"train " + tiny(data()) + " --out /proc/twist-cannot-write", "cannot create run directory", 1},
      {"train --data idx:/tmp --data-typo 1", "--data-typo", 2},
      {"train --resume --out " + out("never-ran"), "nothing to resume", 1},
      {"train --arch resnet9 --out " + out("r9"), "resnet9", 1},
  };
  for (const auto& c : cases) {
    auto r = run_twist(c.args);
    EXPECT_EQ(r.exit_code, c.code) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  }
}

TEST_F(TrainE2E, ConfigFileUnknownKeyAndTruncatedData) {
  write_text(out("bad.json"), "{\"batch_size\": 32, \"lernrate\": 0.1}");
  auto r = run_twist("train --config " + out("bad.json") + " --out " + out("cfg"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown setting 'lernrate'"), std::string::npos) << r.output;

  // A training image file cut short.
  write_pattern_dataset(out("cut"), 64, 16);
  auto bytes = read_text(out("cut") + "/train-images-idx3-ubyte");
  write_text(out("cut") + "/train-images-idx3-ubyte", bytes.substr(0, bytes.size() - 100));
  r = run_twist("train " + tiny(out("cut")) + " --out " + out("cutrun"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
}

TEST_F(TrainE2E, ResumeRefusesAnotherModelAndExistingRunIsKept) {
  auto r = run_twist("train " + tiny(data()) + " --max-steps 8 --eval false --out " + out("keep"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_twist("train " + tiny(data()) + " --max-steps 8 --out " + out("keep"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already holds a run"), std::string::npos) << r.output;
  r = run_twist("train --resume --out " + out("keep") + " --width 0.25");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot resume"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("width"), std::string::npos) << r.output;
}

// SIGTERM ends the run after the current step with a resumable checkpoint
// and exit status 128 + 15.
TEST_F(TrainE2E, SigtermCheckpointsAndExits143) {
  auto r = run_command("(" + std::string(TWIST_BIN) + " train " + tiny(data()) + " --epochs 1000 --eval false --out " +
                       out("term") + " & pid=$!; for i in $(seq 1 300); do [ -s " + out("term") +
                       "/metrics.jsonl ] && break; sleep 0.1; done; kill -TERM $pid; wait $pid)");
  EXPECT_EQ(r.exit_code, 143) << r.output;
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  EXPECT_GT(twist::read_checkpoint_state(out("term") + "/checkpoint.pt").step, 0);
  EXPECT_FALSE(exists(out("term") + "/summary.json"));
}

// A ViT-Tiny (patch 4: 4 x 4 patches of the 16-pixel images) with two
// 8-pixel local crops, whose 2 x 2 grids use resized position embeddings,
// trains end to end; its run directory rebuilds the model without the data.
// (Evaluation is off: 320 images through 12 blocks take long on a busy CPU;
// Backbone.EvaluationAndExportTakeAViT covers the ViT in evaluation.)
TEST_F(TrainE2E, VisionTransformerWithLocalCrops) {
  auto r = run_twist("train " + tiny(data()) +
                     " --arch vit_tiny --patch-size 4 --drop-path 0.1 --local-crops 2 --local-size 8 --batch-size 16"
                     " --max-steps 2 --report false --eval false --out " +
                     out("vit"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto summary = json::parse(read_text(out("vit") + "/summary.json"));
  EXPECT_EQ(summary["steps"].get<int64_t>(), 2);
  EXPECT_TRUE(std::isfinite(summary["final_loss"].get<double>()));
  // The size the position embeddings were learned for is in config.json.
  EXPECT_EQ(json::parse(read_text(out("vit") + "/config.json"))["image_size"].get<int64_t>(), 16);
  auto e = run_command("(" + std::string(TWIST_BIN) + " export --run " + out("vit") + " --out " + out("vit.pth") +
                       " --json > " + out("export.json") + ")");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  auto x = json::parse(read_text(out("export.json")));
  EXPECT_EQ(x["library"], "timm");
  EXPECT_EQ(x["arch"], "vit_tiny");
  EXPECT_EQ(x["tensors"].get<int64_t>(), 4 + 12 * 12 + 2);  // cls, pos, patch w+b; 12 per block; norm
}

TEST_F(TrainE2E, NanLossStopsAndKeepsLastGoodCheckpoint) {
  auto r = run_twist("train " + tiny(data()) + " --lr 1e30 --warmup-epochs 0 --checkpoint-every 1 --out " + out("nan"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(r.output.find("NaN") != std::string::npos || r.output.find("infinite") != std::string::npos) << r.output;
  EXPECT_FALSE(exists(out("nan") + "/summary.json"));
  if (exists(out("nan") + "/checkpoint.pt")) {
    EXPECT_NO_THROW(twist::read_checkpoint_state(out("nan") + "/checkpoint.pt"));
  }
}

}  // namespace
