#include "step_log.h"

#include <cmath>
#include <cstdio>

#include "twist/eval.h"
#include "twist/loss.h"

namespace twist {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

CollapseSettings collapse_settings(const TrainConfig& c, int64_t local_batch) {
  CollapseSettings s;
  s.classes = c.classes;
  s.batch = local_batch;
  s.alpha = c.alpha;
  s.beta = c.beta;
  s.nbs = c.nbs;
  return s;
}

}  // namespace

StepLog::StepLog(const TrainConfig& config, const Schedules& schedules, int64_t local_batch, int64_t first_step,
                 int64_t end_step, MetricsLog* metrics, bool distributed)
    : cfg_(config),
      s_(schedules),
      metrics_(metrics),
      distributed_(distributed),
      collapse_(collapse_settings(config, local_batch)),
      first_(first_step),
      end_(end_step),
      untimed_(std::min<int64_t>(kUntimedSteps, std::max<int64_t>(0, end_step - first_step - 1))),
      t_start_(Clock::now()),
      t_timed_(t_start_) {
  if (metrics_) progress_.emplace(first_step, schedules.total, Progress::stderr_is_terminal());
}

double StepLog::train_seconds() const { return seconds_since(t_start_) - paused_s_; }

double StepLog::images_per_s(int64_t step) const {
  const double s = seconds_since(t_timed_) - (paused_s_ - paused_at_timed_);
  const int64_t n = step - first_ - untimed_;
  return n > 0 && s > 0 ? double(n * cfg_.batch_size) / s : 0.0;
}

double StepLog::final_loss() const {
  if (recent_.empty()) return std::nan("");
  double s = 0;
  for (double v : recent_) s += v;
  return s / double(recent_.size());
}

void StepLog::set_end(int64_t end_step) {
  end_ = end_step;
  if (progress_) progress_->set_total(s_.total);
}

void StepLog::finish() {
  if (progress_) progress_->finish();
}

void StepLog::after_step(int64_t step, const StepOutcome& outcome, int64_t skipped) {
  if (step - first_ == untimed_) {
    t_timed_ = Clock::now();
    paused_at_timed_ = paused_s_;
  }
  const bool self_labeling = step > s_.main_total;
  if (outcome.bad.empty()) {
    const StepStats& st = outcome.stats;
    sum_total_ += st.total;
    sum_c_ += st.consistency;
    sum_s_ += st.sharpness;
    sum_d_ += st.diversity;
    sum_kept_ += outcome.kept_fraction;
    ++n_sum_;
    recent_.push_back(st.total);
    if (recent_.size() > 20) recent_.erase(recent_.begin());
  }
  show_progress(step, self_labeling);
  // The phases do not share a log line.
  if (step % cfg_.log_every != 0 && step != end_ && !(s_.sl_total > 0 && step == s_.main_total)) return;
  MetricsLine line = logged_line(step, outcome, self_labeling);
  if (!s_.teacher_momentum.empty()) line.push_back({"teacher_momentum", s_.teacher_momentum[step - 1]});
  line.insert(line.end(), {{"lr", s_.lr[step - 1]},
                           {"weight_decay", s_.wd[step - 1]},
                           {"images_per_s", images_per_s(step)},
                           {"train_seconds", train_seconds()},
                           {"skipped_steps", double(skipped)}});
  write(line);
  sum_total_ = sum_c_ = sum_s_ = sum_d_ = sum_kept_ = 0;
  n_sum_ = 0;
}

void StepLog::show_progress(int64_t step, bool self_labeling) {
  if (!progress_) return;
  if (n_sum_ == 0) {
    progress_->update(step, images_per_s(step), "step skipped");
    return;
  }
  const double n = double(n_sum_);
  char detail[180];
  if (collapsed_now_)
    std::snprintf(detail, sizeof detail, "COLLAPSED (see the warning) loss %.4f (H %.3f Hmean %.3f)", sum_total_ / n,
                  sum_s_ / n, sum_d_ / n);
  else if (self_labeling)
    std::snprintf(detail, sizeof detail, "self-labeling loss %.4f (kept %.2f)", sum_total_ / n, sum_kept_ / n);
  else
    std::snprintf(detail, sizeof detail, "loss %.4f (kl %.3f H %.3f Hmean %.3f)", sum_total_ / n, sum_c_ / n,
                  sum_s_ / n, sum_d_ / n);
  progress_->update(step, images_per_s(step), detail);
}

MetricsLine StepLog::logged_line(int64_t step, const StepOutcome& outcome, bool self_labeling) {
  MetricsLine line = {{"step", double(step)}, {"epoch", double(step) / double(s_.steps_per_epoch)}};
  if (n_sum_ == 0) return line;
  torch::NoGradGuard no_grad;
  const torch::Tensor& z = outcome.logits[0];
  auto p0 = torch::softmax(z.detach() / cfg_.temperature, 1);
  const double in_use = torch::bincount(p0.argmax(1), {}, cfg_.classes).gt(0).sum().item<double>();
  const double mean_entropy = entropy(p0.mean(0, true)).item<double>();
  watch_collapse(step, in_use, mean_entropy, self_labeling);
  if (collapsed_now_) line.push_back({"collapsed", 1.0});
  // Fig. 3 of the paper: spread of the pre-softmax outputs of the first view.
  const OutputSpread spread = output_spread(z.detach());
  const double n = double(n_sum_);
  line.insert(line.end(), {{"loss", sum_total_ / n},
                           {"consistency", sum_c_ / n},
                           {"sharpness", sum_s_ / n},
                           {"diversity", sum_d_ / n},
                           {"classes_in_use", in_use},
                           {"mean_entropy", mean_entropy},
                           {"row_std", spread.row_std},
                           {"col_std", spread.col_std}});
  if (outcome.grad_norm.defined()) line.push_back({"grad_norm", outcome.grad_norm.item<double>()});
  if (self_labeling) line.push_back({"self_label_kept", sum_kept_ / n});
  return line;
}

// Self-labeling trains on hard labels: the TWIST terms and the collapse rule
// (made for them) do not apply. A collapse that outlasts the warm-up and a
// tenth of the main phase is not a passing phase (flat spells of ~80 steps
// that end during the warm-up are common): the run starts again
// (train_with_restarts) rather than train on for hours. Ranks see different
// batches, so only a single process acts.
void StepLog::watch_collapse(int64_t step, double in_use, double mean_entropy, bool self_labeling) {
  const double sharpness = sum_s_ / double(n_sum_);
  const std::string warning = self_labeling ? std::string() : collapse_.observe(step, in_use, mean_entropy, sharpness);
  if (!warning.empty()) {
    collapse_step_ = step;
    collapse_warning_ = warning;
    if (metrics_) std::fprintf(stderr, "\ntwist: warning: %s\n", warning.c_str());
  }
  collapsed_now_ = !self_labeling && collapse_.persisting();
  collapsed_since_ = collapsed_now_ ? (collapsed_since_ < 0 ? step : collapsed_since_) : -1;
  if (collapsed_now_ && step > s_.warmup && step - collapsed_since_ >= s_.main_total / 10 &&
      cfg_.collapse_restarts > 0 && !distributed_)
    throw CollapseRestart(step, collapse_warning_, collapse_.flat());
}

}  // namespace twist
