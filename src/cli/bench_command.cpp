// twist bench: training throughput of one configuration, compute-only
// (synthetic views: forward, loss, backward, update) against end to end
// (real images through the loader and augmentation into the same step), in
// alternating rounds, because timings on shared machines swing by 2x.
#include <sys/resource.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "config_flags.h"
#include "twist/device.h"
#include "twist/error.h"
#include "twist/loader.h"
#include "twist/train.h"
#include "twist/train_step.h"

namespace twist::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The settings table says which settings change what one training step
// computes, how its data is made or how fast it runs; the run's length,
// schedules, checkpoints and evaluation do not apply to a benchmark.
bool shapes_a_step(const ConfigKey& k) { return k.shapes_step; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The most resident memory the process ever held (ru_maxrss is in KiB on Linux).
double peak_rss_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

// Resident memory now: growth from round to round would be a leak.
double rss_mb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return -1;
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// "2x28" or "2x28+6x14": views per side length, in order.
std::string describe_views(const MultiCropOptions& crops) {
  std::string s;
  for (size_t i = 0; i < crops.views.size();) {
    size_t j = i;
    while (j < crops.views.size() && crops.views[j].size == crops.views[i].size) ++j;
    s += (s.empty() ? "" : "+") + std::to_string(j - i) + "x" + std::to_string(crops.views[i].size);
    i = j;
  }
  return s;
}

struct Round {
  double compute = 0, end_to_end = 0;  // source images per second
  double waiting = 0;                  // fraction of the end-to-end time spent waiting for a batch
  double rss = 0;                      // MB after the round
};

// What a benchmark ran on, for its report.
struct BenchShape {
  std::string views;
  int64_t channels, view_count;
  std::string device;
  int64_t threads;
  std::string data;
  int64_t rounds, steps, warmup;
};

// The rounds' figures, one list per measure.
struct RoundSeries {
  std::vector<double> compute, end_to_end, fraction, waiting, rss;
};

RoundSeries round_series(const std::vector<Round>& rounds) {
  RoundSeries s;
  for (const auto& r : rounds) {
    s.compute.push_back(r.compute);
    s.end_to_end.push_back(r.end_to_end);
    s.fraction.push_back(r.end_to_end / r.compute);
    s.waiting.push_back(r.waiting);
    s.rss.push_back(r.rss);
  }
  return s;
}

nlohmann::ordered_json bench_json(const std::vector<Round>& rounds, const TrainConfig& cfg, const BenchShape& b) {
  const RoundSeries s = round_series(rounds);
  nlohmann::ordered_json j;
  j["compute_images_per_s"] = median(s.compute);
  j["end_to_end_images_per_s"] = median(s.end_to_end);
  // Median of the per-round ratios: each pair ran back to back, so the
  // ratio is steadier than either figure on a shared machine.
  j["end_to_end_fraction"] = median(s.fraction);
  j["compute_rounds"] = s.compute;
  j["end_to_end_rounds"] = s.end_to_end;
  j["end_to_end_fraction_rounds"] = s.fraction;
  j["loader_wait_fraction_rounds"] = s.waiting;
  j["rss_mb_rounds"] = s.rss;
  j["peak_rss_mb"] = peak_rss_mb();
  j["images_counted"] = "source images (each gives " + std::to_string(b.view_count) + " views)";
  j["arch"] = cfg.arch;
  j["width"] = cfg.width;
  j["stem"] = cfg.stem;
  j["hidden"] = cfg.hidden;
  j["classes"] = cfg.classes;
  j["batch_size"] = cfg.batch_size;
  j["views"] = b.views;
  j["channels"] = b.channels;
  j["precision"] = cfg.precision;
  j["device"] = b.device;
  j["channels_last"] = cfg.channels_last;
  j["threads"] = b.threads;
  j["loader_workers"] = cfg.loader_workers;
  j["data"] = b.data;
  // OpenMP's waiting policy decides much of the speed on a shared machine
  // (bench/README.md): keep what this run had.
  for (const char* name : {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"}) {
    const char* v = std::getenv(name);
    j["env"][name] = v ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
  }
  j["rounds"] = b.rounds;
  j["steps"] = b.steps;
  j["warmup"] = b.warmup;
  return j;
}

void print_bench_table(const std::vector<Round>& rounds, const TrainConfig& cfg, const BenchShape& b) {
  const RoundSeries s = round_series(rounds);
  std::printf("\ntwist bench: %s x%g, batch %lld, views %s, %s, %lld threads (images/s count source images)\n\n",
              cfg.arch.c_str(), cfg.width, (long long)cfg.batch_size, b.views.c_str(), cfg.precision.c_str(),
              (long long)b.threads);
  std::printf("  %-7s %14s %17s %12s %14s %8s\n", "round", "compute img/s", "end-to-end img/s", "e2e/compute",
              "data waiting", "RSS MB");
  for (size_t r = 0; r < rounds.size(); ++r)
    std::printf("  %-7zu %14.1f %17.1f %12.3f %13.1f%% %8.0f\n", r + 1, rounds[r].compute, rounds[r].end_to_end,
                s.fraction[r], 100 * rounds[r].waiting, rounds[r].rss);
  std::printf("  %-7s %14.1f %17.1f %12.3f\n", "median", median(s.compute), median(s.end_to_end), median(s.fraction));
  std::printf("\npeak resident memory %.0f MB\n", peak_rss_mb());
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  CLI::App* cmd =
      app.add_subcommand("bench",
                         "Training throughput of one configuration (the flags of twist train that shape a step):\n"
                         "compute-only (synthetic views through forward, loss, backward and update) against end to\n"
                         "end (the data set through the loader and augmentation into the same step), alternating in\n"
                         "rounds. Images/s count source images, as twist train's metrics do, not views.");
  struct State {
    ConfigFlags flags;
    int64_t rounds = 5, steps = 20, warmup = 3;
    bool json = false;
  };
  auto st = std::make_shared<State>();
  cmd->add_option("--rounds", st->rounds, "rounds, each timing compute-only then end to end; medians are reported");
  cmd->add_option("--steps", st->steps, "training steps timed per round and mode (more: steadier figures)");
  cmd->add_option("--warmup", st->warmup, "untimed steps of each mode before the first round (allocator, caches)");
  cmd->add_flag("--json", st->json, "print one JSON object on stdout (progress stays on stderr)");
  add_config_flags(cmd, st->flags, shapes_a_step);
  return [st]() {
    check(st->rounds >= 1, "--rounds must be at least 1, got " + std::to_string(st->rounds));
    check(st->steps >= 1, "--steps must be at least 1, got " + std::to_string(st->steps));
    check(st->warmup >= 0, "--warmup must be >= 0, got " + std::to_string(st->warmup));
    TrainConfig cfg = st->flags.apply({});
    validate(cfg);
    const torch::Device device = require_device(cfg.device);
    const Precision precision = resolve_precision(cfg.precision, device);
    cfg.precision = precision_name(precision);
    const std::string slow = bf16_speed_warning(precision, device.is_cuda(), cpu_has_native_bf16());
    if (!slow.empty()) std::fprintf(stderr, "twist bench: warning: %s\n", slow.c_str());
    const int64_t threads = use_threads(cfg.threads);

    // The step and the data exactly as twist train builds them.
    const Dataset data = load_train_eval_splits(cfg.data, cfg.val_split, false).train;
    const Normalization norm = statistics_and_auto_views(cfg, data, nullptr, /*say=*/false);
    const int64_t image_size = cfg.image_size > 0 ? cfg.image_size : data.height();
    cfg.stem = resolved_stem(cfg, image_size);
    const MultiCropOptions crops = crop_options(cfg, image_size);
    const uint64_t seed = static_cast<uint64_t>(cfg.seed);
    const EpochSampler sampler(data.size(), cfg.batch_size, seed);
    torch::manual_seed(seed);
    TwistModel model(model_options(cfg, data.channels()));
    model->to(device);
    std::unique_ptr<Optimizer> optimizer = make_optimizer(cfg, model);
    TrainStep train_step(model, *optimizer, loss_options(cfg), precision);
    train_step.set_clip_grad(cfg.clip_grad);
    if (cfg.momentum_teacher) train_step.set_teacher(make_teacher(model, model_options(cfg, data.channels())));
    model->train();
    const double lr = scaled_lr(cfg.lr, cfg.batch_size);
    auto step = [&](const std::vector<torch::Tensor>& views) {
      const StepOutcome o = train_step(views, lr, cfg.weight_decay);
      check(o.bad.empty(), "bench step: " + o.bad + "; lower --lr");
    };

    // Compute-only: fixed views of the shapes the loader makes, normalized scale.
    std::vector<torch::Tensor> synthetic;
    for (const auto& v : crops.views)
      synthetic.push_back(torch::randn({cfg.batch_size, data.channels(), v.size, v.size}).to(device));
    auto compute = [&](int64_t n) {
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < n; ++i) step(synthetic);
      return seconds_since(t0);
    };
    // End to end: a fresh loader per round, started when the clock starts, so
    // the round pays for filling its queue and no batch is prepared while the
    // compute-only round runs. Data steps continue across rounds.
    int64_t data_step = 0;
    auto end_to_end = [&](int64_t n, double* waited) {
      BatchLoader loader(data, sampler, crops, norm, seed, data_step, data_step + n,
                         {static_cast<int>(cfg.loader_workers), 4, device});
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < n; ++i) {
        const auto w0 = Clock::now();
        Batch batch = loader.next();
        *waited += seconds_since(w0);
        step(batch.views);
      }
      data_step += n;
      return seconds_since(t0);
    };

    const std::string views = describe_views(crops);
    std::fprintf(stderr,
                 "twist bench: %s x%g (%s stem), batch %lld, views %s of %lld channel(s), %s%s, %lld threads, "
                 "%lld loader worker(s), %s, %s (%lld images); %lld rounds of %lld steps per mode, %lld warm-up\n",
                 cfg.arch.c_str(), cfg.width, cfg.stem.c_str(), (long long)cfg.batch_size, views.c_str(),
                 (long long)data.channels(), cfg.precision.c_str(), cfg.channels_last ? ", channels-last" : "",
                 (long long)threads, (long long)cfg.loader_workers, device.str().c_str(), data.name.c_str(),
                 (long long)data.size(), (long long)st->rounds, (long long)st->steps, (long long)st->warmup);
    if (st->warmup > 0) {
      double ignored = 0;
      compute(st->warmup);
      end_to_end(st->warmup, &ignored);
    }
    const double images = double(st->steps * cfg.batch_size);
    std::vector<Round> rounds;
    for (int64_t r = 0; r < st->rounds; ++r) {
      Round round;
      round.compute = images / compute(st->steps);
      double waited = 0;
      const double e2e_s = end_to_end(st->steps, &waited);
      round.end_to_end = images / e2e_s;
      round.waiting = waited / e2e_s;
      round.rss = rss_mb();
      rounds.push_back(round);
      std::fprintf(stderr, "twist bench: round %lld/%lld: compute %.1f images/s, end to end %.1f images/s (%.3f)\n",
                   (long long)r + 1, (long long)st->rounds, round.compute, round.end_to_end,
                   round.end_to_end / round.compute);
    }

    BenchShape shape{views,        data.channels(), int64_t(crops.views.size()),
                     device.str(), threads,         data.name,
                     st->rounds,   st->steps,       st->warmup};
    if (st->json)
      std::printf("%s\n", bench_json(rounds, cfg, shape).dump().c_str());
    else
      print_bench_table(rounds, cfg, shape);
    return 0;
  };
}

}  // namespace twist::cli
