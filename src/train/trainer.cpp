// The training loop: data -> augment -> model -> loss -> optimizer, with the
// run directory's bookkeeping around it. Reads top to bottom in one sitting.
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

#include "metrics_log.h"
#include "twist/augment.h"
#include "twist/collapse.h"
#include "twist/device.h"
#include "twist/dist.h"
#include "twist/checkpoint_timer.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/loader.h"
#include "twist/loss.h"
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
      std::fprintf(stderr, "warning: resuming with %s=%s (the run started with %s)\n", k.key.c_str(),
                   a.c_str(), b.c_str());
  }
}

}  // namespace

TwistModelOptions model_options(const TrainConfig& c, int64_t in_channels) {
  TwistModelOptions o;
  o.backbone.arch = c.arch;
  o.backbone.width = c.width;
  o.backbone.stem = c.stem;
  o.backbone.in_channels = in_channels;
  o.backbone.channels_last = c.channels_last;
  o.backbone.image_size = c.image_size;
  o.backbone.patch_size = c.patch_size;
  o.backbone.drop_path = c.drop_path;
  // The paper's ViT heads use GELU, its ResNet heads ReLU (docs/design.md §3).
  o.head.activation = is_vit(c.arch) ? "gelu" : "relu";
  o.head.hidden = c.hidden;
  o.head.classes = c.classes;
  o.head.nbs = c.nbs;
  o.aux_classes = c.aux_classes;
  return o;
}

MultiCropOptions crop_options(const TrainConfig& c, int64_t image_size, bool self_label) {
  MultiCropOptions m = MultiCropOptions::paper(image_size, static_cast<int>(c.local_crops), c.local_size);
  for (size_t v = 0; v < m.views.size(); ++v) {
    ViewOptions& o = m.views[v];
    const bool global = v < 2;
    o.scale_min = global ? c.global_scale_min : c.local_scale_min;
    o.scale_max = global ? c.global_scale_max : c.local_scale_max;
    if (self_label) {
      // Harder crops for self-labeling (docs/design.md §2.6): smaller global crops,
      // and local crops no larger than the smallest global one.
      if (global) o.scale_min = c.self_label_global_scale_min;
      else o.scale_max = c.self_label_local_scale_max;
    }
    o.flip_p = c.flip_p;
    o.jitter_p = c.jitter_p;
    o.brightness = c.brightness;
    o.contrast = c.contrast;
    o.saturation = c.saturation;
    o.hue = c.hue;
    o.grayscale_p = c.grayscale_p;
    if (!c.blur) o.blur_p = 0;
    if (!c.solarize) o.solarize_p = 0;
  }
  return m;
}

LarsOptions optimizer_options(const TrainConfig& c) {
  LarsOptions o;
  o.momentum = c.momentum;
  o.adapt = c.optimizer == "lars";
  return o;
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, TwistModel& model) {
  if (c.optimizer == "adamw") return std::make_unique<AdamW>(model->parameters(), AdamWOptions{}, token_parameters(*model));
  return std::make_unique<Lars>(model->parameters(), optimizer_options(c));
}

TwistLossOptions loss_options(const TrainConfig& c) {
  TwistLossOptions o;
  o.alpha = c.alpha;
  o.beta = c.beta;
  o.temperature = c.temperature;
  o.temperature_on_consistency = c.temperature_mode == "all";
  return o;
}

std::string default_run_dir() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

double resolved_epochs(const TrainConfig& c, int64_t images) {
  if (c.epochs > 0) return c.epochs;
  const double epochs = std::max(4.0, std::ceil(double(c.min_images) / double(std::max<int64_t>(1, images))));
  if (epochs > 4.0 && c.max_steps == 0)
    std::fprintf(stderr, "twist: epochs auto: %.0f epochs of %lld images, to see %lld images (--min-images); "
                 "--epochs N sets the length\n", epochs, (long long)images, (long long)c.min_images);
  return epochs;
}

int64_t use_threads(int64_t requested, int processes_per_machine) {
  const int64_t threads =
      requested > 0 ? requested
                    : std::max<int64_t>(1, std::thread::hardware_concurrency() / std::max(1, processes_per_machine));
  at::set_num_threads(static_cast<int>(threads));
  return threads;
}

std::string TrainSummary::to_json() const {
  nlohmann::json j;
  j["run_dir"] = run_dir;
  j["steps"] = steps;
  j["epochs"] = epochs;
  j["images_per_s"] = images_per_s;
  j["final_loss"] = final_loss;
  j["skipped_steps"] = skipped_steps;
  j["train_seconds"] = train_seconds;
  j["complete"] = !stopped_early;
  j["collapse_step"] = collapse_step;
  if (collapse_step > 0) j["collapse_warning"] = collapse_warning;
  if (!restarts.empty()) j["collapse_restarts"] = restarts;
  if (evaluated) {
    j["eval_split"] = eval_split;
    j["knn_top1"] = knn_top1;
    j["knn_top5"] = knn_top5;
    j["pixel_knn_top1"] = pixel_knn_top1;
    j["centered_pixel_knn_top1"] = centered_pixel_knn_top1;
  }
  if (clustered) {
    j["nmi"] = nmi;
    j["ami"] = ami;
    j["ari"] = ari;
    j["acc"] = acc;
    j["clusters_used"] = clusters_used;
  }
  return j.dump(2);
}

TrainSummary train(TrainConfig cfg, bool resume, const std::vector<std::string>& restarts) {
  validate(cfg);
  const DistEnv denv = dist_env();
  torch::Device device = require_device(cfg.device);
  // One GPU per process: "cuda" in a distributed run is the local rank's.
  if (device.is_cuda() && !device.has_index() && denv.distributed())
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(denv.local_rank % torch::cuda::device_count()));
  const bool writer = denv.rank == 0;  // only rank 0 writes the run directory
  check(cfg.out.empty() ? !denv.distributed() : true,
        "distributed runs need --out DIR (every rank must name the same run directory)");
  if (cfg.out.empty()) {
    check(!resume, "--resume needs the run directory: --out DIR");
    cfg.out = default_run_dir();
  }
  const std::string dir = cfg.out;
  const std::string ckpt_path = dir + "/checkpoint.pt";
  CheckpointState resumed;
  if (resume) {
    check(file_exists(ckpt_path), "nothing to resume in '" + dir + "': no checkpoint.pt");
    resumed = read_checkpoint_state(ckpt_path);
    check_resume_config(cfg, config_from_json(resumed.config_json, ckpt_path), dir);
  } else {
    check(!file_exists(ckpt_path), "'" + dir +
                                       "' already holds a run (checkpoint.pt): continue it with "
                                       "--resume, or choose another --out");
  }
  std::error_code ec;
  if (writer) std::filesystem::create_directories(dir, ec);
  check(!writer || (!ec && std::filesystem::is_directory(dir)),
        "cannot create run directory '" + dir + "'" + (ec ? ": " + ec.message() : ""));
  std::shared_ptr<Communicator> comm;
  if (denv.distributed()) {
    ProcessGroupOptions po;
    po.timeout = std::chrono::milliseconds(std::llround(cfg.dist_timeout * 1000));
    comm = make_process_group(denv, po);
  }

  // Processes of one machine share its cores.
  const int64_t threads = use_threads(cfg.threads, denv.local_world_size);

  TrainEvalSplits data = load_train_eval_splits(cfg.data, cfg.val_split, cfg.eval);
  const Dataset& train_set = data.train;
  const Normalization norm = resume ? resumed.norm : channel_statistics(train_set);
  const int64_t image_size = cfg.image_size > 0 ? cfg.image_size : train_set.height();
  // A ViT's position embeddings are learned for one size: config.json must
  // name it, so that the run's model can be rebuilt without its data set.
  if (is_vit(cfg.arch)) cfg.image_size = image_size;
  // A file-backed set's images take the run's size (its crops, its evaluation).
  data.train.file_side = data.eval.file_side = image_size;
  // A file-backed set (folder:DIR) is evaluated decoded whole at that size
  // (in_memory); one too large for that is not evaluated: say so now, not
  // after the training.
  const int64_t eval_bytes = in_memory_bytes(train_set, image_size) + in_memory_bytes(data.eval, image_size);
  const bool eval_fits = eval_bytes <= kInMemoryLimitBytes;
  if (writer && cfg.eval && data.eval.size() > 0 && !eval_fits)
    std::fprintf(stderr,
                 "twist: this run will not be evaluated: %s and %s at %lldx%lld would take %lld MiB in memory, "
                 "above the 1024 MiB limit for image folders; evaluate with twist eval on smaller folders\n",
                 train_set.name.c_str(), data.eval.name.c_str(), (long long)image_size, (long long)image_size,
                 (long long)(eval_bytes >> 20));
  const MultiCropOptions crops = crop_options(cfg, image_size);

  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  TwistModel model(model_options(cfg, train_set.channels()));
  std::unique_ptr<Optimizer> optimizer_ptr = make_optimizer(cfg, model);
  Optimizer& optimizer = *optimizer_ptr;
  TwistModel teacher{nullptr};
  if (cfg.momentum_teacher) teacher = make_teacher(model, model_options(cfg, train_set.channels()));

  const EpochSampler sampler(train_set.size(), cfg.batch_size, static_cast<uint64_t>(cfg.seed), denv.rank,
                             denv.world_size);
  const int64_t spe = sampler.steps_per_epoch();
  cfg.epochs = resolved_epochs(cfg, train_set.size());
  int64_t main_total = std::max<int64_t>(1, std::llround(cfg.epochs * double(spe)));
  if (cfg.max_steps > 0) main_total = std::min(main_total, cfg.max_steps);
  // Self-labeling follows the main phase: its steps, re-warmed learning
  // rate and kept-share schedule continue the arrays after main_total.
  const int64_t sl_total =
      cfg.self_label_epochs > 0 ? std::max<int64_t>(1, std::llround(cfg.self_label_epochs * double(spe))) : 0;
  const int64_t total = main_total + sl_total;
  const int64_t warmup = std::llround(cfg.warmup_epochs * double(spe));
  const double peak = scaled_lr(cfg.lr, cfg.batch_size);
  std::vector<double> lr = cosine_schedule(peak, peak * cfg.min_lr_ratio, main_total, warmup);
  const double wd_end = cfg.weight_decay_end < 0 ? cfg.weight_decay : cfg.weight_decay_end;
  std::vector<double> wd = cosine_schedule(cfg.weight_decay, wd_end, main_total);
  std::vector<double> keep;  // self-labeling: share of each batch kept, per self-labeling step
  if (sl_total > 0) {
    const double sl_peak = scaled_lr(cfg.self_label_lr, cfg.batch_size);
    const int64_t sl_warmup = std::llround(std::min(cfg.self_label_warmup_epochs, 0.1 * cfg.self_label_epochs) * double(spe));
    const auto sl_lr = cosine_schedule(sl_peak, sl_peak * cfg.min_lr_ratio, sl_total, sl_warmup);
    lr.insert(lr.end(), sl_lr.begin(), sl_lr.end());
    wd.insert(wd.end(), sl_total, wd_end);
    keep = cosine_schedule(cfg.self_label_quantile_start, cfg.self_label_quantile_end, sl_total);
  }
  const std::vector<double> teacher_m =
      cfg.momentum_teacher ? cosine_schedule(cfg.teacher_momentum, 1.0, main_total) : std::vector<double>{};

  int64_t step = 0;
  bool collapsed_now = false;    // the collapse watch's state at the last logged step
  int64_t collapsed_since = -1;  // the logged step the current collapse was first seen at
  int64_t skipped = 0;     // steps skipped for a non-finite loss or gradient, over the whole run
  int64_t saved_step = -1;  // the step of the checkpoint on disk; -1: none yet
  if (resume) {
    load_checkpoint(ckpt_path, model, &optimizer, teacher ? &teacher : nullptr);
    step = resumed.step;
    skipped = resumed.skipped_steps;
    saved_step = step;
  }
  // Weights and momentum are loaded on the host, then moved (the optimizer
  // holds the same parameter tensors, whose data moves with them).
  model->to(device);
  optimizer.state_to(device);
  if (teacher) teacher->to(device);
  if (comm) {
    model->head->set_communicator(comm, cfg.nbs_per_rank, cfg.sync_bn);
    if (model->aux_head) model->aux_head->set_communicator(comm, cfg.nbs_per_rank, cfg.sync_bn);
    broadcast_module(*model, *comm);
    if (teacher) {
      teacher->head->set_communicator(comm, cfg.nbs_per_rank, cfg.sync_bn);
      broadcast_module(*teacher, *comm);
    }
  }
  std::unique_ptr<MetricsLog> metrics;
  if (writer) {
    write_file_atomic(dir + "/config.json", config_to_json(cfg) + "\n");
    metrics = std::make_unique<MetricsLog>(dir + "/metrics.jsonl", resume);
  }
  auto t_saved = std::chrono::steady_clock::now();
  auto save = [&](int64_t at_step) {
    if (writer)
      save_checkpoint(ckpt_path, model, &optimizer, {at_step, skipped, config_to_json(cfg), norm},
                      teacher ? &teacher : nullptr);
    saved_step = at_step;
    t_saved = std::chrono::steady_clock::now();
  };

  if (comm)
    std::fprintf(stderr, "twist: rank %d of %d (local rank %d), %lld images per rank and step\n", denv.rank,
                 denv.world_size, denv.local_rank, (long long)sampler.local_batch_size());
  if (writer) std::fprintf(stderr, "twist: %s, %lld images %lldx%lldx%lld, %s x%.2f, C=%lld, batch %lld, %lld steps "
               "(%lld per epoch), %lld threads, %s -> %s\n",
               train_set.name.c_str(), (long long)train_set.size(), (long long)train_set.channels(),
               (long long)train_set.height(), (long long)train_set.width(), cfg.arch.c_str(), cfg.width,
               (long long)cfg.classes, (long long)cfg.batch_size, (long long)total, (long long)spe,
               (long long)threads, device.str().c_str(), dir.c_str());
  if (resume) std::fprintf(stderr, "twist: resuming at step %lld\n", (long long)step);

  TwistLossOptions loss_opts = loss_options(cfg);
  if (comm) loss_opts.batch_mean = global_batch_mean(comm);
  TrainStep train_step(model, optimizer, loss_opts, parse_precision(cfg.precision), comm);
  train_step.set_clip_grad(cfg.clip_grad);
  if (teacher) {
    train_step.set_teacher(teacher);
    teacher->train();
  }
  const MultiCropOptions sl_crops = crop_options(cfg, image_size, /*self_label=*/true);

  TrainSummary summary;
  summary.run_dir = dir;
  CollapseSettings collapse_settings;
  collapse_settings.classes = cfg.classes;
  collapse_settings.batch = sampler.local_batch_size();
  collapse_settings.alpha = cfg.alpha;
  collapse_settings.beta = cfg.beta;
  collapse_settings.temperature = cfg.temperature;
  collapse_settings.nbs = cfg.nbs;
  CollapseWatch collapse(collapse_settings);
  summary.rank = denv.rank;
  const int64_t first = step;
  const int64_t end = cfg.stop_after_steps > 0 ? std::min(total, first + cfg.stop_after_steps) : total;
  const auto t_start = std::chrono::steady_clock::now();
  auto t_timed = t_start;  // throughput excludes the first steps (warm-up of allocators)
  const int64_t untimed = std::min<int64_t>(3, std::max<int64_t>(0, end - first - 1));
  std::vector<double> recent;  // losses of the last steps, for final_loss
  {
    SignalScope signals;
    // One loader per phase: self-labeling has its own, harder crops.
    std::unique_ptr<BatchLoader> loader;
    auto open_loader = [&](int64_t from) {
      const bool sl = from >= main_total;
      loader.reset();
      loader = std::make_unique<BatchLoader>(train_set, sampler, sl ? sl_crops : crops, norm,
                                             static_cast<uint64_t>(cfg.seed), from,
                                             sl ? end : std::min(end, main_total),
                                             LoaderOptions{static_cast<int>(cfg.loader_workers), 4, device});
      if (sl && writer)
        std::fprintf(stderr, "\ntwist: self-labeling from step %lld (%lld steps)\n", (long long)from + 1,
                     (long long)sl_total);
    };
    std::optional<Progress> progress;  // rank 0 speaks for the run
    if (writer) progress.emplace(first, total, Progress::stderr_is_terminal());
    model->train();
    double sum_total = 0, sum_c = 0, sum_s = 0, sum_d = 0, sum_kept = 0;
    int64_t n_sum = 0;
    while (step < end) {
      if (comm) comm->report_step(step);
      if (!loader || step == main_total) open_loader(step);
      const bool self_labeling = step >= main_total;
      train_step.set_self_label(self_labeling ? keep[step - main_total] : 0.0);
      if (teacher) train_step.set_teacher_momentum(teacher_m[step]);
      Batch batch = loader->next();
      // Forward, loss, backward and update; a step whose loss or gradient is
      // not finite leaves the weights alone and says why in `bad`.
      const StepOutcome outcome = train_step(batch.views, lr[step], wd[step], g_signal != 0);
      const std::vector<torch::Tensor>& logits = outcome.logits;
      const StepStats& stats = outcome.stats;
      const double loss = stats.total;
      const std::string& bad = outcome.bad;
      if (!bad.empty()) {
        ++skipped;
        // Steps count from 1, as in metrics.jsonl and checkpoints.
        const std::string where = "step " + std::to_string(step + 1) + ": " + bad;
        if (skipped > cfg.skip_nonfinite) {
          const std::string kept =
              saved_step >= 0 ? "'" + ckpt_path + "' keeps the last good state (step " +
                                    std::to_string(saved_step) + ")"
                              : "no checkpoint had been written yet";
          const std::string allowance =
              cfg.skip_nonfinite > 0
                  ? "; " + std::to_string(cfg.skip_nonfinite) + " such steps were skipped already (--skip-nonfinite)"
                  : "";
          throw Error(where + allowance + "; the run stopped and " + kept +
                      ". Lower --lr, raise --warmup-epochs, or let rare bad steps pass with "
                      "--skip-nonfinite N.");
        }
        std::fprintf(stderr, "\ntwist: warning: %s; step skipped (%lld of at most %lld)\n", where.c_str(),
                     (long long)skipped, (long long)cfg.skip_nonfinite);
      }
      ++step;
      if (step - first == untimed) t_timed = std::chrono::steady_clock::now();

      if (bad.empty()) {
        sum_total += loss;
        sum_c += stats.consistency;
        sum_s += stats.sharpness;
        sum_d += stats.diversity;
        sum_kept += outcome.kept_fraction;
        ++n_sum;
        recent.push_back(loss);
        if (recent.size() > 20) recent.erase(recent.begin());
      }

      const double timed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_timed).count();
      const int64_t timed_steps = step - first - untimed;
      const double ips = timed_steps > 0 && timed_s > 0 ? timed_steps * cfg.batch_size / timed_s : 0.0;
      if (progress && n_sum > 0) {
        char detail[180];
        if (collapsed_now)
          std::snprintf(detail, sizeof detail, "COLLAPSED (see the warning) loss %.4f (H %.3f Hmean %.3f)",
                        sum_total / n_sum, sum_s / n_sum, sum_d / n_sum);
        else if (self_labeling)
          std::snprintf(detail, sizeof detail, "self-labeling loss %.4f (kept %.2f)", sum_total / n_sum,
                        sum_kept / n_sum);
        else
          std::snprintf(detail, sizeof detail, "loss %.4f (kl %.3f H %.3f Hmean %.3f)", sum_total / n_sum,
                        sum_c / n_sum, sum_s / n_sum, sum_d / n_sum);
        progress->update(step, ips, detail);
      } else if (progress) {
        progress->update(step, ips, "step skipped");
      }

      // The phases do not share a log line.
      if (step % cfg.log_every == 0 || step == end || (sl_total > 0 && step == main_total)) {
        std::vector<std::pair<std::string, double>> line = {{"step", double(step)},
                                                            {"epoch", double(step) / double(spe)}};
        if (n_sum > 0) {
          torch::NoGradGuard no_grad;
          auto p0 = torch::softmax(logits[0].detach() / cfg.temperature, 1);
          const double in_use = torch::bincount(p0.argmax(1), {}, cfg.classes).gt(0).sum().item<double>();
          const double mean_entropy = entropy(p0.mean(0, true)).item<double>();
          // Fig. 3 of the paper: spread of the pre-softmax outputs of the first view.
          const OutputSpread spread = output_spread(logits[0].detach());
          // Self-labeling trains on hard labels: the TWIST terms and the
          // collapse rule (made for them) do not apply.
          const std::string warning =
              self_labeling ? std::string() : collapse.observe(step, in_use, mean_entropy, sum_s / n_sum);
          if (!warning.empty()) {
            summary.collapse_step = step;
            summary.collapse_warning = warning;
            if (writer) std::fprintf(stderr, "\ntwist: warning: %s\n", warning.c_str());
          }
          collapsed_now = !self_labeling && collapse.persisting();
          if (collapsed_now) line.push_back({"collapsed", 1.0});
          collapsed_since = collapsed_now ? (collapsed_since < 0 ? step : collapsed_since) : -1;
          // A collapse that outlasts the warm-up and a tenth of the main
          // phase is not a passing phase (flat spells of ~80 steps that
          // end during the warm-up are common): the run starts again
          // (train_with_restarts) rather than train on for hours. Ranks
          // see different batches, so only one process acts.
          if (collapsed_now && step > warmup && step - collapsed_since >= main_total / 10 &&
              cfg.collapse_restarts > 0 && !denv.distributed())
            throw CollapseRestart(step, summary.collapse_warning);
          line.insert(line.end(), {{"loss", sum_total / n_sum},
                                   {"consistency", sum_c / n_sum},
                                   {"sharpness", sum_s / n_sum},
                                   {"diversity", sum_d / n_sum},
                                   {"classes_in_use", in_use},
                                   {"mean_entropy", mean_entropy},
                                   {"row_std", spread.row_std},
                                   {"col_std", spread.col_std}});
          if (self_labeling) line.push_back({"self_label_kept", sum_kept / n_sum});
        }
        if (teacher) line.push_back({"teacher_momentum", teacher_m[step - 1]});
        line.insert(line.end(), {{"lr", lr[step - 1]},
                                 {"weight_decay", wd[step - 1]},
                                 {"images_per_s", ips},
                                 {"skipped_steps", double(skipped)}});
        if (metrics) metrics->write(line);
        sum_total = sum_c = sum_s = sum_d = sum_kept = 0;
        n_sum = 0;
      }
      const double since_save = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_saved).count();
      if (step < end && checkpoint_due(step, cfg.checkpoint_every, spe, cfg.checkpoint_minutes, since_save))
        save(step);
      if (stats.signalled) {
        const int sig = g_signal != 0 ? int(g_signal) : SIGTERM;  // another rank's signal
        std::fprintf(stderr, "\ntwist: signal %d received, stopping after step %lld\n", sig, (long long)step);
        summary.signal = sig;
        break;
      }
    }
    if (progress) progress->finish();
    summary.images_per_s = [&] {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_timed).count();
      const int64_t n = step - first - untimed;
      return n > 0 && s > 0 ? n * cfg.batch_size / s : 0.0;
    }();
  }
  save(step);
  summary.restarts = restarts;
  summary.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  summary.steps = step;
  summary.skipped_steps = skipped;
  summary.epochs = double(step) / double(spe);
  summary.final_loss = recent.empty() ? std::nan("") : [&] {
    double s = 0;
    for (double v : recent) s += v;
    return s / double(recent.size());
  }();
  summary.stopped_early = step < total;
  if (!writer) return summary;  // rank 0 evaluates, once
  if (summary.stopped_early) {
    std::fprintf(stderr, "twist: stopped at step %lld of %lld; continue with: twist train --resume --out %s\n",
                 (long long)step, (long long)total, dir.c_str());
    return summary;
  }

  if (cfg.eval && eval_fits && data.eval.size() > 0 && data.eval.has_labels() && train_set.has_labels()) {
    const Dataset eval_set = in_memory(data.eval, image_size);
    const Dataset bank_set = in_memory(train_set, image_size);
    std::fprintf(stderr, "twist: evaluating on %s (%lld images)\n", eval_set.name.c_str(),
                 (long long)eval_set.size());
    // A run with a momentum teacher is evaluated with the teacher (as DINO's).
    TwistModel& evaluated = teacher ? teacher : model;
    Embeddings bank = embed(evaluated, bank_set, norm);
    Embeddings query = embed(evaluated, eval_set, norm);
    KnnOptions ko;
    ko.k = cfg.knn_k;
    ko.num_classes = std::max(train_set.num_classes, eval_set.num_classes);
    KnnResult knn = knn_classify(bank.features, train_set.labels, query.features, eval_set.labels, ko);
    KnnResult pixels = knn_classify(pixel_features(bank_set), train_set.labels,
                                    pixel_features(eval_set), eval_set.labels, ko);
    KnnResult centered = knn_classify(centered_pixel_features(bank_set, norm), train_set.labels,
                                      centered_pixel_features(eval_set, norm), eval_set.labels, ko);
    summary.evaluated = true;
    summary.eval_split = data.eval_name;
    summary.knn_top1 = knn.top1;
    summary.knn_top5 = knn.top5;
    summary.pixel_knn_top1 = pixels.top1;
    summary.centered_pixel_knn_top1 = centered.top1;
    if (cfg.classes == ko.num_classes) {
      ClusterMetrics cm = cluster_metrics(query.logits.argmax(1), eval_set.labels);
      summary.clustered = true;
      summary.nmi = cm.nmi;
      summary.ami = cm.ami;
      summary.ari = cm.ari;
      summary.acc = cm.acc;
      summary.clusters_used = cm.clusters_used;
    }
  }
  write_file_atomic(dir + "/summary.json", summary.to_json() + "\n");
  return summary;
}

}  // namespace twist
