// The training loop: data -> augment -> model -> loss -> optimizer, with the
// run directory's bookkeeping around it. Trainer's constructor sets a run
// up, loop() is the loop (read it whole), finish() saves and evaluates.
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "budget_plan.h"
#include "eval_cost.h"
#include "metrics_log.h"
#include "run_eval.h"
#include "run_lock.h"
#include "schedules.h"
#include "step_log.h"
#include "twist/augment.h"
#include "twist/bad_images.h"
#include "twist/checkpoint_schedule.h"
#include "twist/collapse.h"
#include "twist/device.h"
#include "twist/dist.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/loader.h"
#include "twist/loss.h"
#include "twist/memory_check.h"
#include "twist/progress.h"
#include "twist/train.h"
#include "twist/train_step.h"

namespace twist {
namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

// SIGINT/SIGTERM end the run after the current step, with a checkpoint.
struct SignalScope {
  using Handler = void (*)(int);
  Handler old_int, old_term;
  SignalScope() {
    g_signal = 0;
    old_int = std::signal(SIGINT, on_signal);
    old_term = std::signal(SIGTERM, on_signal);
  }
  ~SignalScope() {
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
  }
};

bool file_exists(const std::string& p) { return std::filesystem::exists(p); }

// Model keys must match the checkpoint; recipe changes are allowed but said.
void check_resume_config(const TrainConfig& now, const TrainConfig& saved, const std::string& dir) {
  for (const auto& k : config_keys()) {
    const std::string a = get_config_value(now, k.key), b = get_config_value(saved, k.key);
    if (a == b) continue;
    if (k.kind == ConfigKind::Model) {
      throw Error("cannot resume '" + dir + "': its checkpoint is a model with " + k.key + "=" + b +
                  ", this run asks for " + k.key + "=" + a);
    }
    if (k.kind == ConfigKind::Recipe)
      std::fprintf(stderr, "warning: resuming with %s=%s (the run started with %s)\n", k.key.c_str(), a.c_str(),
                   b.c_str());
  }
}

// One attempt of a run, from set-up to summary.json.
class Trainer {
 public:
  Trainer(TrainConfig config, bool resume);
  TrainSummary run(const std::vector<std::string>& restarts);

 private:
  void open_run_dir();
  void load_data();
  void resolve_stem();
  void build_model();
  void announce() const;
  void loop();
  void open_loader(int64_t from);
  void count_bad_step(const std::string& bad);
  void evaluate_during(StepLog& log);
  bool budget_due() const;
  void fit_budget(StepLog& log);
  double after_training_seconds(double per_step);
  void save(int64_t at_step);
  ClusterReadout choose_readout();
  TrainSummary finish(const std::vector<std::string>& restarts);

  TrainConfig cfg_;
  const bool resume_;
  const DistEnv denv_;
  const bool writer_;  // only rank 0 writes the run directory and evaluates
  torch::Device device_{torch::kCPU};
  std::string dir_, ckpt_path_;
  RunDirLock lock_;  // rank 0: one writer per run directory
  CheckpointState resumed_;
  std::shared_ptr<Communicator> comm_;
  int64_t threads_ = 1;
  TrainEvalSplits data_;
  std::unique_ptr<BadImages> bad_images_;  // image files that do not decode (skip_bad_images)
  Normalization norm_;
  int64_t image_size_ = 0;
  MultiCropOptions crops_, sl_crops_;
  TwistModel model_{nullptr}, teacher_{nullptr};
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<EpochSampler> sampler_;
  Schedules s_;
  std::unique_ptr<TrainStep> train_step_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<RunEvaluator> evaluator_;
  std::unique_ptr<BatchLoader> loader_;
  int64_t step_ = 0, first_ = 0, end_ = 0;
  BudgetPlan budget_;                    // --budget-minutes: its measurements
  std::optional<EvalRates> eval_rates_;  // budget_covers all: measured at the first measurement,
  double eval_rates_per_step_ = 0;       // at this pace
  int64_t skipped_ = 0;                  // steps skipped for a non-finite loss or gradient, over the whole run
  int64_t saved_step_ = -1;              // the step of the checkpoint on disk; -1: none yet
  std::chrono::steady_clock::time_point t_saved_ = std::chrono::steady_clock::now();
  TrainSummary summary_;
};

Trainer::Trainer(TrainConfig config, bool resume)
    : cfg_(std::move(config)), resume_(resume), denv_(dist_env()), writer_(denv_.rank == 0) {
  validate(cfg_);
  device_ = require_device(cfg_.device);
  // One GPU per process: "cuda" in a distributed run is the local rank's.
  if (device_.is_cuda() && !device_.has_index() && denv_.distributed())
    device_ =
        torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(denv_.local_rank % torch::cuda::device_count()));
  // "auto" becomes what this machine runs, and config.json records that:
  // a resumed run keeps the precision it started with.
  const Precision precision = resolve_precision(cfg_.precision, device_);
  cfg_.precision = precision_name(precision);
  const std::string slow = bf16_speed_warning(precision, device_.is_cuda(), cpu_has_native_bf16());
  if (writer_ && !slow.empty()) std::fprintf(stderr, "twist: warning: %s\n", slow.c_str());
  cfg_.cluster_heads = resolved_cluster_heads(cfg_);
  open_run_dir();
  if (denv_.distributed()) {
    ProcessGroupOptions po;
    po.timeout = std::chrono::milliseconds(std::llround(cfg_.dist_timeout * 1000));
    comm_ = make_process_group(denv_, po);
  }
  // Processes of one machine share its cores.
  threads_ = use_threads(cfg_.threads, denv_.local_world_size);
  load_data();
  build_model();
  TwistLossOptions loss = loss_options(cfg_);
  if (comm_) loss.batch_mean = global_batch_mean(comm_);
  train_step_ = std::make_unique<TrainStep>(model_, *optimizer_, loss, parse_precision(cfg_.precision), comm_);
  train_step_->set_clip_grad(cfg_.clip_grad);
  train_step_->set_aux_weight(cfg_.aux_weight);
  train_step_->set_aux_entropy_weights(cfg_.aux_alpha, cfg_.aux_beta);
  train_step_->set_spread_weight(cfg_.spread_weight);
  if (teacher_) {
    train_step_->set_teacher(teacher_);
    teacher_->train();
  }
  if (writer_) {
    write_file_atomic(dir_ + "/config.json", config_to_json(cfg_) + "\n");
    metrics_ = std::make_unique<MetricsLog>(dir_ + "/metrics.jsonl", resume_);
  }
  first_ = step_;
  budget_ = BudgetPlan(cfg_, s_);
  end_ = cfg_.stop_after_steps > 0 ? std::min(s_.total, first_ + cfg_.stop_after_steps) : s_.total;
  summary_.run_dir = dir_;
  summary_.rank = denv_.rank;
  announce();
}

void Trainer::open_run_dir() {
  check(cfg_.out.empty() ? !denv_.distributed() : true,
        "distributed runs need --out DIR (every rank must name the same run directory)");
  if (cfg_.out.empty()) {
    check(!resume_, "--resume needs the run directory: --out DIR");
    cfg_.out = default_run_dir();
  }
  dir_ = cfg_.out;
  ckpt_path_ = dir_ + "/checkpoint.pt";
  if (resume_) {
    check(file_exists(ckpt_path_), "nothing to resume in '" + dir_ + "': no checkpoint.pt");
    resumed_ = read_checkpoint_state(ckpt_path_);
    check_resume_config(cfg_, config_from_json(resumed_.config_json, ckpt_path_, saved_run_base()), dir_);
  } else {
    check(!file_exists(ckpt_path_), "'" + dir_ +
                                        "' already holds a run (checkpoint.pt): continue it with "
                                        "--resume, or choose another --out");
  }
  std::error_code ec;
  if (writer_) std::filesystem::create_directories(dir_, ec);
  check(!writer_ || (!ec && std::filesystem::is_directory(dir_)),
        "cannot create run directory '" + dir_ + "'" + (ec ? ": " + ec.message() : ""));
  if (writer_) lock_ = RunDirLock(dir_);
}

void Trainer::load_data() {
  data_ = load_train_eval_splits(cfg_.data, cfg_.val_split, cfg_.eval);
  bad_images_ = std::make_unique<BadImages>(cfg_.skip_bad_images);
  if (resume_) bad_images_->restore(resumed_.skipped_images);
  // A resumed run keeps its normalization, and config.json its resolved flip, rotation and shear.
  if (!resume_ || auto_views_pending(cfg_))
    norm_ = statistics_and_auto_views(cfg_, data_.train, bad_images_.get(), writer_);
  if (resume_) norm_ = resumed_.norm;
  image_size_ = cfg_.image_size > 0 ? cfg_.image_size : data_.train.height();
  resolve_stem();
  if (device_.is_cpu()) {
    const int64_t local_batch = (cfg_.batch_size + denv_.world_size - 1) / denv_.world_size;
    check_training_memory(cfg_, data_.train.channels(), image_size_, local_batch, physical_memory_bytes());
  }
  // A checkpoint holds the weights and the optimizer's state: about two of
  // the three copies the model's memory counts.
  const double checkpoint_bytes = training_memory(cfg_, data_.train.channels(), image_size_, 1).model_bytes * 2 / 3;
  const std::string disk = writer_ ? disk_space_warning(dir_, checkpoint_bytes) : "";
  if (!disk.empty()) std::fprintf(stderr, "twist: warning: %s\n", disk.c_str());
  // A ViT's position embeddings are learned for one size: config.json must
  // name it, so that the run's model can be rebuilt without its data set.
  if (is_vit(cfg_.arch)) cfg_.image_size = image_size_;
  // A file-backed set's images take the run's size (its crops, its evaluation).
  data_.train.file_side = data_.eval.file_side = image_size_;
  crops_ = crop_options(cfg_, image_size_);
  sl_crops_ = crop_options(cfg_, image_size_, /*self_label=*/true);
  StreamOptions stream;
  stream.bank_budget_bytes = cfg_.bank_memory << 20;
  evaluator_ = std::make_unique<RunEvaluator>(data_, image_size_, cfg_, norm_,
                                              cfg_.skip_bad_images > 0 ? bad_images_.get() : nullptr, stream);
  // Say now, not after the training, why a run will not be evaluated.
  if (writer_ && cfg_.eval && data_.eval.size() > 0 && !evaluator_->possible())
    std::fprintf(stderr, "twist: this run will not be evaluated: %s\n", evaluator_->reason().c_str());
  sampler_ = std::make_unique<EpochSampler>(data_.train.size(), cfg_.batch_size, static_cast<uint64_t>(cfg_.seed),
                                            denv_.rank, denv_.world_size);
  cfg_.epochs = resolved_epochs(cfg_, data_.train.size());
  s_ = make_schedules(cfg_, sampler_->steps_per_epoch());
}

// config.json records the stem that "auto" chose for the images' side.
void Trainer::resolve_stem() {
  if (cfg_.stem != "auto") return;
  cfg_.stem = resolved_stem(cfg_, image_size_);
  if (writer_ && !is_vit(cfg_.arch))
    std::fprintf(stderr, "twist: stem auto: %s for %lld-pixel images (%s); --stem sets it\n", cfg_.stem.c_str(),
                 (long long)image_size_,
                 cfg_.stem == "small" ? "3x3 stride 1, used up to 64 pixels"
                                      : "7x7 stride 2 + max-pool, used above 64 pixels: the side quartered first");
}

void Trainer::build_model() {
  torch::manual_seed(static_cast<uint64_t>(cfg_.seed));
  const TwistModelOptions options = model_options(cfg_, data_.train.channels());
  model_ = TwistModel(options);
  optimizer_ = make_optimizer(cfg_, model_);
  if (cfg_.momentum_teacher) teacher_ = make_teacher(model_, options);
  if (resume_) {
    load_checkpoint(ckpt_path_, model_, optimizer_.get(), teacher_ ? &teacher_ : nullptr);
    step_ = resumed_.step;
    skipped_ = resumed_.skipped_steps;
    saved_step_ = step_;
  }
  // Weights and momentum are loaded on the host, then moved (the optimizer
  // holds the same parameter tensors, whose data moves with them).
  model_->to(device_);
  optimizer_->state_to(device_);
  if (teacher_) teacher_->to(device_);
  if (!comm_) return;
  for (int64_t k = 0; k < model_->num_heads(); ++k)
    model_->cluster_head(k)->set_communicator(comm_, cfg_.nbs_per_rank, cfg_.sync_bn);
  if (model_->aux_head) model_->aux_head->set_communicator(comm_, cfg_.nbs_per_rank, cfg_.sync_bn);
  broadcast_module(*model_, *comm_);
  if (teacher_) {
    teacher_->head->set_communicator(comm_, cfg_.nbs_per_rank, cfg_.sync_bn);
    broadcast_module(*teacher_, *comm_);
  }
}

void Trainer::announce() const {
  const Dataset& t = data_.train;
  if (comm_)
    std::fprintf(stderr, "twist: rank %d of %d (local rank %d), %lld images per rank and step\n", denv_.rank,
                 denv_.world_size, denv_.local_rank, (long long)sampler_->local_batch_size());
  const std::string features =
      cfg_.feature_dim > 0 ? " -> " + std::to_string(cfg_.feature_dim) + " features" : std::string();
  if (writer_)
    std::fprintf(stderr,
                 "twist: %s, %lld images %lldx%lldx%lld, %s x%.2f%s, C=%lld, batch %lld, %lld steps "
                 "(%lld per epoch), %lld threads, %s %s -> %s\n",
                 t.name.c_str(), (long long)t.size(), (long long)t.channels(), (long long)t.height(),
                 (long long)t.width(), cfg_.arch.c_str(), cfg_.width, features.c_str(), (long long)cfg_.classes,
                 (long long)cfg_.batch_size, (long long)s_.total, (long long)s_.steps_per_epoch, (long long)threads_,
                 device_.str().c_str(), cfg_.precision.c_str(), dir_.c_str());
  if (writer_ && cfg_.local_crops > 0)
    std::fprintf(stderr, "twist: views: 2 global of %lld pixels, %lld local of %lld (--local-size)\n",
                 (long long)image_size_, (long long)cfg_.local_crops, (long long)local_side(cfg_, image_size_));
  if (resume_) std::fprintf(stderr, "twist: resuming at step %lld\n", (long long)step_);
}

TrainSummary Trainer::run(const std::vector<std::string>& restarts) {
  loop();
  return finish(restarts);
}

// The loop: one step per iteration, then what the step log, the evaluation
// during training and the checkpoint rule ask for.
void Trainer::loop() {
  SignalScope signals;
  StepLog log(cfg_, s_, sampler_->local_batch_size(), first_, end_, metrics_.get(), denv_.distributed());
  model_->train();
  while (step_ < end_) {
    if (comm_) comm_->report_step(step_);
    if (!loader_ || step_ == s_.main_total) open_loader(step_);
    Batch batch = loader_->next();
    // Forward, loss, backward and update; a step whose loss or gradient is
    // not finite leaves the weights alone and says why in `bad`.
    const StepOutcome outcome = (*train_step_)(batch.views, step_plan(s_, step_, g_signal != 0));
    if (!outcome.bad.empty()) count_bad_step(outcome.bad);
    ++step_;
    log.after_step(step_, outcome, skipped_);
    if (budget_due()) fit_budget(log);
    // The curves end where the run ends, on the same subsets.
    if (writer_ && (evaluator_->due(step_, log.train_seconds()) || (step_ == s_.total && evaluator_->curves())))
      evaluate_during(log);
    const double since_save = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_saved_).count();
    if (step_ < end_ &&
        checkpoint_due(step_, cfg_.checkpoint_every, s_.steps_per_epoch, cfg_.checkpoint_minutes, since_save))
      save(step_);
    if (outcome.stats.signalled) {
      const int sig = g_signal != 0 ? int(g_signal) : SIGTERM;  // another rank's signal
      std::fprintf(stderr, "\ntwist: signal %d received, stopping after step %lld\n", sig, (long long)step_);
      summary_.signal = sig;
      break;
    }
  }
  log.finish();
  summary_.images_per_s = log.images_per_s(step_);
  summary_.final_loss = log.final_loss();
  summary_.collapse_step = log.collapse_step();
  summary_.collapse_warning = log.collapse_warning();
  summary_.train_seconds = log.train_seconds();
}

// One loader per phase: self-labeling has its own, harder crops.
void Trainer::open_loader(int64_t from) {
  const bool sl = from >= s_.main_total;
  loader_.reset();
  loader_ = std::make_unique<BatchLoader>(
      data_.train, *sampler_, sl ? sl_crops_ : crops_, norm_, static_cast<uint64_t>(cfg_.seed), from,
      sl ? end_ : std::min(end_, s_.main_total),
      LoaderOptions{static_cast<int>(cfg_.loader_workers), 4, device_, bad_images_.get()});
  if (sl && writer_)
    std::fprintf(stderr, "\ntwist: self-labeling from step %lld (%lld steps)\n", (long long)from + 1,
                 (long long)s_.sl_total);
}

// A step skipped for a non-finite loss or gradient: a warning while the
// --skip-nonfinite allowance lasts, then the error that ends the run.
void Trainer::count_bad_step(const std::string& bad) {
  ++skipped_;
  // Steps count from 1, as in metrics.jsonl and checkpoints.
  const std::string where = "step " + std::to_string(step_ + 1) + ": " + bad;
  if (skipped_ > cfg_.skip_nonfinite) {
    const std::string kept =
        saved_step_ >= 0 ? "'" + ckpt_path_ + "' keeps the last good state (step " + std::to_string(saved_step_) + ")"
                         : "no checkpoint had been written yet";
    const std::string allowance = cfg_.skip_nonfinite > 0 ? "; " + std::to_string(cfg_.skip_nonfinite) +
                                                                " such steps were skipped already (--skip-nonfinite)"
                                                          : "";
    throw Error(where + allowance + "; the run stopped and " + kept +
                ". Lower --lr, raise --warmup-epochs, or let rare bad steps pass with --skip-nonfinite N.");
  }
  std::fprintf(stderr, "\ntwist: warning: %s; step skipped (%lld of at most %lld)\n", where.c_str(),
               (long long)skipped_, (long long)cfg_.skip_nonfinite);
}

// --eval-every: a point of the learning curves; its time is not training
// time. A run with a momentum teacher is evaluated with the teacher.
void Trainer::evaluate_during(StepLog& log) {
  const auto t0 = std::chrono::steady_clock::now();
  const MetricsLine line =
      evaluator_->during(teacher_ ? teacher_ : model_, step_, s_.steps_per_epoch, log.train_seconds());
  log.write(line);
  log.pause(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// --budget-minutes measures a few times (budget_plan.h); a resumed
// invocation keeps the length its run chose.
bool Trainer::budget_due() const { return first_ == 0 && budget_.due(step_, s_); }

// A measurement: the ranks' mean speed decides where the main phase ends (every
// rank must end at the same step), and its schedules are sized to that length.
// config.json records the length as max_steps, the warm-up as warmup_epochs
// and a re-plan's bend as replan_step, replan_from and replan_along, which a
// resumed run keeps.
void Trainer::fit_budget(StepLog& log) {
  const double now = log.train_seconds();
  const double per_step = budget_.per_step(step_, now, double(cfg_.batch_size) / log.images_per_s(step_));
  // budget_covers all: the command's seconds so far (the measurement of the
  // evaluation's rates among them) and those its end will take.
  double spent = now;
  if (cfg_.budget_covers == "all") {
    const double after = after_training_seconds(per_step);
    spent = seconds_since_start() + after;
  }
  auto seen = torch::tensor({spent, per_step}, torch::kDouble);
  if (comm_) {
    std::vector<torch::Tensor> t{seen};
    comm_->all_reduce_sum(t);
    seen = t[0] / double(comm_->world_size());
  }
  const BudgetDecision d = budget_.decide(step_, now, seen[0].item<double>(), seen[1].item<double>(), cfg_, s_);
  if (writer_) std::fprintf(stderr, "%s", d.said.c_str());
  if (writer_ && cfg_.budget_covers == "all" && seen[0].item<double>() > cfg_.budget_minutes * 60)
    std::fprintf(stderr,
                 "twist: warning: the command will take about %.1f minutes, past its budget of %g: the steps "
                 "taken and the work after them do not fit (a larger --budget-minutes, or --eval false and "
                 "--report false)\n",
                 seen[0].item<double>() / 60, cfg_.budget_minutes);
  if (!d.changed) return;
  cfg_ = d.config;
  s_ = make_schedules(cfg_, sampler_->steps_per_epoch());
  end_ = cfg_.stop_after_steps > 0 ? std::min(s_.total, first_ + cfg_.stop_after_steps) : s_.total;
  log.set_end(end_);
  if (writer_) write_file_atomic(dir_ + "/config.json", config_to_json(cfg_) + "\n");
}

// budget_covers all: what the read-out, the final evaluation and the report
// will take, at rates measured (on a seeded subset of the held-out images)
// at the first measurement and scaled by the pace since.
double Trainer::after_training_seconds(double per_step) {
  if (!eval_rates_) {
    eval_rates_ = evaluator_->measure_rates(teacher_ ? teacher_ : model_);
    eval_rates_per_step_ = per_step;
  }
  const EvalWork work = after_training_work(cfg_, data_.train, data_.eval, image_size_, evaluator_->possible(),
                                            comm_ ? comm_->world_size() : 1);
  const double seconds = eval_seconds(*eval_rates_, work) * per_step / eval_rates_per_step_;
  if (writer_)
    std::fprintf(stderr,
                 "\ntwist: budget covers all: %.0f s since the command started, about %.0f s of read-out, "
                 "evaluation and report after the last step\n",
                 seconds_since_start(), seconds);
  return seconds;
}

void Trainer::save(int64_t at_step) {
  if (writer_)
    save_checkpoint(ckpt_path_, model_, optimizer_.get(),
                    {at_step, skipped_, config_to_json(cfg_), norm_, bad_images_->files()},
                    teacher_ ? &teacher_ : nullptr);
  saved_step_ = at_step;
  t_saved_ = std::chrono::steady_clock::now();
}

// The run's clusters: the head's argmax or k-means of the features
// (config.cluster_readout), into the summary and said on stderr.
ClusterReadout Trainer::choose_readout() {
  const ClusterReadout r = evaluator_->choose_readout(teacher_ ? teacher_ : model_);
  summary_.cluster_readout = r.method;
  summary_.head_agreement = r.head_agreement;
  summary_.kmeans_agreement = r.kmeans_agreement;
  summary_.head_balance = r.head_balance;
  summary_.kmeans_balance = r.kmeans_balance;
  if (writer_ && r.kmeans_agreement > -1)
    std::fprintf(stderr,
                 "twist: clusters read out by %s: neighbour agreement (balance) of the head's clusters %.4f "
                 "(%.4f), of k-means of the features %.4f (%.4f) (%lld training images)\n",
                 r.kmeans() ? "k-means of the features" : "the head", r.head_agreement, r.head_balance,
                 r.kmeans_agreement, r.kmeans_balance, (long long)r.images);
  return r;
}

TrainSummary Trainer::finish(const std::vector<std::string>& restarts) {
  // Each rank met its own bad files: the summary and the last checkpoint
  // count them all (every rank gets here at the same step).
  if (comm_) bad_images_->restore(union_over_ranks(*comm_, bad_images_->files()));
  save(step_);
  summary_.restarts = restarts;
  summary_.steps = step_;
  summary_.skipped_steps = skipped_;
  summary_.skipped_images = bad_images_->count();
  summary_.epochs = double(step_) / double(s_.steps_per_epoch);
  summary_.stopped_early = step_ < s_.total;
  if (summary_.stopped_early) {
    if (!writer_) return summary_;
    std::fprintf(stderr, "twist: stopped at step %lld of %lld; continue with: twist train --resume --out %s\n",
                 (long long)step_, (long long)s_.total, dir_.c_str());
    return summary_;
  }
  loader_.reset();  // it reads data_.train
  const ClusterReadout readout = choose_readout();
  if (cfg_.eval && evaluator_->possible()) {
    // The bank leaves out the training files that were skipped.
    data_.train = without_bad_images(data_.train, *bad_images_);
    // Every rank embeds its share of the batches; rank 0 writes.
    evaluator_->final(teacher_ ? teacher_ : model_, summary_, comm_.get(), &readout);
    summary_.skipped_images = bad_images_->count();  // with the evaluated sets' files
  }
  if (!writer_) return summary_;
  save_cluster_readout(dir_, readout);
  write_file_atomic(dir_ + "/summary.json", summary_.to_json() + "\n");
  return summary_;
}

}  // namespace

namespace {

bool is_allocation_failure(const c10::Error& e) {
  const std::string what = e.what_without_backtrace();
  return what.find("can't allocate memory") != std::string::npos || what.find("out of memory") != std::string::npos;
}

}  // namespace

// An allocation that fails despite the estimate (check_training_memory) is
// reported with the settings that drive it, not as an internal error.
TrainSummary train(TrainConfig cfg, bool resume, const std::vector<std::string>& restarts) {
  const TrainConfig asked = cfg;
  try {
    return Trainer(std::move(cfg), resume).run(restarts);
  } catch (const c10::Error& e) {
    if (!is_allocation_failure(e)) throw;
    throw Error(out_of_memory_message(asked));
  }
}

}  // namespace twist
