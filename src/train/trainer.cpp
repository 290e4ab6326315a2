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
#include "twist/dist.h"
#include "twist/checkpoint_timer.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/loader.h"
#include "twist/loss.h"
#include "twist/nonfinite.h"
#include "twist/progress.h"
#include "twist/train.h"

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

std::string timestamp_dir() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

bool file_exists(const std::string& p) { return std::filesystem::exists(p); }

MultiCropOptions crop_options(const TrainConfig& c, int64_t image_size) {
  MultiCropOptions m = MultiCropOptions::paper(image_size, static_cast<int>(c.local_crops), c.local_size);
  for (size_t v = 0; v < m.views.size(); ++v) {
    ViewOptions& o = m.views[v];
    const bool global = v < 2;
    o.scale_min = global ? c.global_scale_min : c.local_scale_min;
    o.scale_max = global ? c.global_scale_max : c.local_scale_max;
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

// The loss terms averaged over ranks (one small all-reduce; .item() reads
// synchronize anyway) and whether any rank was signalled.
struct StepStats {
  double total, consistency, sharpness, diversity;
  bool signalled;
};

StepStats reduce_step_stats(const TwistLossTerms& t, bool signalled, const std::shared_ptr<Communicator>& comm) {
  auto v = torch::stack({t.total.detach(), t.consistency.detach(), t.sharpness.detach(), t.diversity.detach(),
                         torch::full({}, signalled ? 1.0 : 0.0, t.total.options())})
               .to(torch::kDouble)
               .contiguous();
  const double w = comm ? comm->world_size() : 1;
  if (comm) {
    std::vector<torch::Tensor> one{v};
    comm->all_reduce_sum(one);
  }
  auto a = v.accessor<double, 1>();
  return {a[0] / w, a[1] / w, a[2] / w, a[3] / w, a[4] > 0};
}

}  // namespace

TwistModelOptions model_options(const TrainConfig& c, int64_t in_channels) {
  TwistModelOptions o;
  o.backbone.arch = c.arch;
  o.backbone.width = c.width;
  o.backbone.stem = c.stem;
  o.backbone.in_channels = in_channels;
  o.backbone.channels_last = c.channels_last;
  o.head.hidden = c.hidden;
  o.head.classes = c.classes;
  o.head.nbs = c.nbs;
  return o;
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

TrainSummary train(TrainConfig cfg, bool resume) {
  validate(cfg);
  const DistEnv denv = dist_env();
  const bool writer = denv.rank == 0;  // only rank 0 writes the run directory
  check(cfg.out.empty() ? !denv.distributed() : true,
        "distributed runs need --out DIR (every rank must name the same run directory)");
  if (cfg.out.empty()) {
    check(!resume, "--resume needs the run directory: --out DIR");
    cfg.out = timestamp_dir();
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
  const int64_t threads =
      cfg.threads > 0 ? cfg.threads
                      : std::max<int64_t>(1, std::thread::hardware_concurrency() / denv.local_world_size);
  at::set_num_threads(static_cast<int>(threads));

  TrainEvalSplits data = load_train_eval_splits(cfg.data, cfg.val_split, cfg.eval);
  const Dataset& train_set = data.train;
  const Normalization norm = resume ? resumed.norm : channel_statistics(train_set);
  const int64_t image_size = cfg.image_size > 0 ? cfg.image_size : train_set.height();
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
  LarsOptions lo;
  lo.momentum = cfg.momentum;
  lo.adapt = cfg.optimizer == "lars";
  Lars optimizer(model->parameters(), lo);

  const EpochSampler sampler(train_set.size(), cfg.batch_size, static_cast<uint64_t>(cfg.seed), denv.rank,
                             denv.world_size);
  const int64_t spe = sampler.steps_per_epoch();
  int64_t total = std::max<int64_t>(1, std::llround(cfg.epochs * double(spe)));
  if (cfg.max_steps > 0) total = std::min(total, cfg.max_steps);
  const int64_t warmup = std::llround(cfg.warmup_epochs * double(spe));
  const double peak = scaled_lr(cfg.lr, cfg.batch_size);
  const std::vector<double> lr = cosine_schedule(peak, peak * cfg.min_lr_ratio, total, warmup);
  const std::vector<double> wd = cosine_schedule(
      cfg.weight_decay, cfg.weight_decay_end < 0 ? cfg.weight_decay : cfg.weight_decay_end, total);

  int64_t step = 0;
  int64_t skipped = 0;     // steps skipped for a non-finite loss or gradient, over the whole run
  int64_t saved_step = -1;  // the step of the checkpoint on disk; -1: none yet
  if (resume) {
    load_checkpoint(ckpt_path, model, &optimizer);
    step = resumed.step;
    skipped = resumed.skipped_steps;
    saved_step = step;
  }
  GradientAverager averager(model->parameters(), comm);
  if (comm) {
    model->head->set_communicator(comm, cfg.nbs_per_rank, cfg.sync_bn);
    broadcast_module(*model, *comm);
  }
  std::unique_ptr<MetricsLog> metrics;
  if (writer) {
    write_file_atomic(dir + "/config.json", config_to_json(cfg) + "\n");
    metrics = std::make_unique<MetricsLog>(dir + "/metrics.jsonl", resume);
  }
  auto t_saved = std::chrono::steady_clock::now();
  auto save = [&](int64_t at_step) {
    if (writer) save_checkpoint(ckpt_path, model, &optimizer, {at_step, skipped, config_to_json(cfg), norm});
    saved_step = at_step;
    t_saved = std::chrono::steady_clock::now();
  };

  if (comm)
    std::fprintf(stderr, "twist: rank %d of %d (local rank %d), %lld images per rank and step\n", denv.rank,
                 denv.world_size, denv.local_rank, (long long)sampler.local_batch_size());
  if (writer) std::fprintf(stderr, "twist: %s, %lld images %lldx%lldx%lld, %s x%.2f, C=%lld, batch %lld, %lld steps "
               "(%lld per epoch), %lld threads -> %s\n",
               train_set.name.c_str(), (long long)train_set.size(), (long long)train_set.channels(),
               (long long)train_set.height(), (long long)train_set.width(), cfg.arch.c_str(), cfg.width,
               (long long)cfg.classes, (long long)cfg.batch_size, (long long)total, (long long)spe,
               (long long)threads, dir.c_str());
  if (resume) std::fprintf(stderr, "twist: resuming at step %lld\n", (long long)step);

  TwistLossOptions loss_opts;
  loss_opts.alpha = cfg.alpha;
  loss_opts.beta = cfg.beta;
  loss_opts.temperature = cfg.temperature;
  if (comm) loss_opts.batch_mean = global_batch_mean(comm);

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
    BatchLoader loader(train_set, sampler, crops, norm, static_cast<uint64_t>(cfg.seed), first, end,
                       {static_cast<int>(cfg.loader_workers), 4});
    std::optional<Progress> progress;  // rank 0 speaks for the run
    if (writer) progress.emplace(first, total, Progress::stderr_is_terminal());
    model->train();
    double sum_total = 0, sum_c = 0, sum_s = 0, sum_d = 0;
    int64_t n_sum = 0;
    while (step < end) {
      if (comm) comm->report_step(step);
      Batch batch = loader.next();
      auto logits = model->forward(batch.views);
      TwistLossTerms terms = twist_loss(logits, loss_opts);
      // The run's loss terms, and whether any rank got a signal: every rank
      // takes the same decisions (stop, skip, NaN) at the same step.
      const StepStats stats = reduce_step_stats(terms, g_signal != 0, comm);
      const double loss = stats.total;
      // A non-finite loss or gradient is caught before it reaches the weights.
      // The loss is the ranks' mean and the gradients are averaged before the
      // check, so a bad value on one rank is seen by all.
      std::string bad = nonfinite_loss(loss);
      if (bad.empty()) {
        optimizer.zero_grad();
        terms.total.backward();
        averager.average();
        bad = nonfinite_gradient(model->named_parameters());
      }
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
      } else {
        optimizer.step(lr[step], wd[step]);
      }
      ++step;
      if (step - first == untimed) t_timed = std::chrono::steady_clock::now();

      if (bad.empty()) {
        sum_total += loss;
        sum_c += stats.consistency;
        sum_s += stats.sharpness;
        sum_d += stats.diversity;
        ++n_sum;
        recent.push_back(loss);
        if (recent.size() > 20) recent.erase(recent.begin());
      }

      const double timed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_timed).count();
      const int64_t timed_steps = step - first - untimed;
      const double ips = timed_steps > 0 && timed_s > 0 ? timed_steps * cfg.batch_size / timed_s : 0.0;
      if (progress && n_sum > 0) {
        char detail[160];
        std::snprintf(detail, sizeof detail, "loss %.4f (kl %.3f H %.3f Hmean %.3f)", sum_total / n_sum,
                      sum_c / n_sum, sum_s / n_sum, sum_d / n_sum);
        progress->update(step, ips, detail);
      } else if (progress) {
        progress->update(step, ips, "step skipped");
      }

      if (step % cfg.log_every == 0 || step == end) {
        std::vector<std::pair<std::string, double>> line = {{"step", double(step)},
                                                            {"epoch", double(step) / double(spe)}};
        if (n_sum > 0) {
          torch::NoGradGuard no_grad;
          auto p0 = torch::softmax(logits[0].detach() / cfg.temperature, 1);
          const double in_use = torch::bincount(p0.argmax(1), {}, cfg.classes).gt(0).sum().item<double>();
          const double mean_entropy = entropy(p0.mean(0, true)).item<double>();
          // Fig. 3 of the paper: spread of the pre-softmax outputs of the first view.
          const OutputSpread spread = output_spread(logits[0].detach());
          const std::string warning = collapse.observe(step, in_use, mean_entropy, sum_s / n_sum);
          if (!warning.empty()) {
            summary.collapse_step = step;
            summary.collapse_warning = warning;
            if (writer) std::fprintf(stderr, "\ntwist: warning: %s\n", warning.c_str());
          }
          line.insert(line.end(), {{"loss", sum_total / n_sum},
                                   {"consistency", sum_c / n_sum},
                                   {"sharpness", sum_s / n_sum},
                                   {"diversity", sum_d / n_sum},
                                   {"classes_in_use", in_use},
                                   {"mean_entropy", mean_entropy},
                                   {"row_std", spread.row_std},
                                   {"col_std", spread.col_std}});
        }
        line.insert(line.end(), {{"lr", lr[step - 1]},
                                 {"weight_decay", wd[step - 1]},
                                 {"images_per_s", ips},
                                 {"skipped_steps", double(skipped)}});
        if (metrics) metrics->write(line);
        sum_total = sum_c = sum_s = sum_d = 0;
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
    Embeddings bank = embed(model, bank_set, norm);
    Embeddings query = embed(model, eval_set, norm);
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
