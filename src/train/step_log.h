#pragma once
// What the trainer says about its steps: the progress line on stderr, one
// metrics.jsonl line every log_every steps, the collapse watch on those
// lines, and the run's throughput and final loss.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metrics_log.h"
#include "schedules.h"
#include "twist/collapse.h"
#include "twist/config.h"
#include "twist/progress.h"
#include "twist/train.h"
#include "twist/train_step.h"

namespace twist {

using MetricsLine = std::vector<std::pair<std::string, double>>;

class StepLog {
 public:
  // `metrics` null: this rank does not write (only rank 0 speaks for a run).
  StepLog(const TrainConfig& config, const Schedules& schedules, int64_t local_batch, int64_t first_step,
          int64_t end_step, MetricsLog* metrics, bool distributed);
  // After step `step` (counted from 1): sums, progress, and on a logged
  // step a metrics line and the collapse watch. Throws CollapseRestart when
  // a collapse outlasts the warm-up and a tenth of the main phase.
  void after_step(int64_t step, const StepOutcome& outcome, int64_t skipped);
  // Time spent outside training (evaluation) that throughput must not count.
  void pause(double seconds) { paused_s_ += seconds; }
  // Seconds of training in this invocation so far (pauses excluded).
  double train_seconds() const;
  // Images per second over the steps after the first few (allocator warm-up).
  double images_per_s(int64_t step) const;
  double final_loss() const;  // mean loss of the last 20 good steps; NaN if none
  // The run now ends at `end_step` (a time budget cut it; schedules() changed with it).
  void set_end(int64_t end_step);
  void finish();
  int64_t collapse_step() const { return collapse_step_; }
  const std::string& collapse_warning() const { return collapse_warning_; }
  void write(const MetricsLine& line) {
    if (metrics_) metrics_->write(line);
  }

 private:
  void show_progress(int64_t step, bool self_labeling);
  MetricsLine logged_line(int64_t step, const StepOutcome& outcome, bool self_labeling);
  void watch_collapse(int64_t step, double in_use, double mean_entropy, bool self_labeling);

  const TrainConfig& cfg_;
  const Schedules& s_;
  MetricsLog* metrics_;
  bool distributed_;
  CollapseWatch collapse_;
  std::optional<Progress> progress_;
  int64_t first_, end_, untimed_;
  std::chrono::steady_clock::time_point t_start_, t_timed_;
  double paused_s_ = 0, paused_at_timed_ = 0;
  double sum_total_ = 0, sum_c_ = 0, sum_s_ = 0, sum_d_ = 0, sum_kept_ = 0;
  int64_t n_sum_ = 0;
  std::vector<double> recent_;    // losses of the last good steps, for final_loss
  bool collapsed_now_ = false;    // the collapse watch's state at the last logged step
  int64_t collapsed_since_ = -1;  // the logged step the current collapse was first seen at
  int64_t collapse_step_ = 0;     // where the warning fired, else 0
  std::string collapse_warning_;
};

}  // namespace twist
