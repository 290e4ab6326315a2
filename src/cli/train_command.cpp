#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "config_flags.h"
#include "twist/config.h"
#include "twist/error.h"
#include "twist/report.h"
#include "twist/run.h"
#include "twist/train.h"

namespace twist::cli {
namespace {

void print_table(const TrainSummary& s) {
  std::printf("\nTWIST run %s: %lld steps (%.2f epochs), %.0f images/s, final loss %.4f\n", s.run_dir.c_str(),
              (long long)s.steps, s.epochs, s.images_per_s, s.final_loss);
  if (!s.evaluated) {
    std::printf("(not evaluated: no labelled held-out split)\n");
    return;
  }
  std::printf("\n  %-34s %8s\n", ("evaluated on the " + s.eval_split + " split").c_str(), "value");
  std::printf("  %-34s %8.4f\n", "kNN top-1 (cosine), TWIST features", s.knn_top1);
  if (s.knn_top1_whitened >= 0) std::printf("  %-34s %8.4f\n", "kNN top-1, whitened features", s.knn_top1_whitened);
  if (s.pixel_knn_top1 >= 0) {
    std::printf("  %-34s %8.4f\n", "kNN top-1, raw pixels (baseline)", s.pixel_knn_top1);
    std::printf("  %-34s %8.4f\n", "kNN top-1, normalized pixels", s.centered_pixel_knn_top1);
    std::printf("  %-34s %+8.4f\n", "gain over raw pixels", s.knn_top1 - s.pixel_knn_top1);
  } else {
    std::printf("  %-34s %8s\n", "kNN top-1, pixels (baselines)", "skipped");
  }
  if (s.clustered) {
    const bool kmeans = s.cluster_readout == "kmeans";
    std::printf("  %-34s %8s\n", "the run's clusters", kmeans ? "k-means" : "head");
    std::printf("  %-34s %8.4f\n", "cluster accuracy (Hungarian)", s.acc);
    std::printf("  %-34s %8.4f\n", "NMI", s.nmi);
    std::printf("  %-34s %8.4f\n", "AMI", s.ami);
    std::printf("  %-34s %8.4f\n", "ARI", s.ari);
    std::printf("  %-34s %8lld\n", "clusters in use", (long long)s.clusters_used);
    if (kmeans) std::printf("  %-34s %8.4f\n", "the head's cluster accuracy", s.head_acc);
  }
  for (size_t k = 0; k < s.heads.size(); ++k) {
    const auto& h = s.heads[k];
    std::printf("  cluster head %zu%s  loss %8.4f", k, int64_t(k) == s.chosen_head ? " (used: lowest loss)" : "",
                h.loss);
    if (h.acc >= 0) std::printf("  acc. %.4f  NMI %.4f", h.acc, h.nmi);
    std::printf("\n");
  }
  if (s.kmeans_acc >= 0) {
    std::printf("  %-34s %8.4f\n", "k-means on TWIST features: acc.", s.kmeans_acc);
    std::printf("  %-34s %8.4f\n", "k-means on TWIST features: NMI", s.kmeans_nmi);
  }
  std::printf("\nsummary.json, metrics.jsonl, config.json and checkpoint.pt are in %s\n", s.run_dir.c_str());
}

}  // namespace

std::function<int()> add_train_command(CLI::App& app) {
  CLI::App* cmd =
      app.add_subcommand("train",
                         "Pretrain a TWIST model without labels. With no flags: the default recipe on Fashion-MNIST\n"
                         "(configs/fashion-mnist.json), evaluated on its test split at the end.");
  struct State {
    ConfigFlags flags;
    bool resume = false;
    bool json = false;
    bool print_config = false;
  };
  auto st = std::make_shared<State>();
  cmd->add_flag("--resume", st->resume,
                "continue the run in --out DIR from its checkpoint (same schedules and random state)");
  cmd->add_flag("--json", st->json, "print the summary as one JSON object on stdout");
  cmd->add_flag("--print-config", st->print_config,
                "print the resolved settings as JSON (a config file) and exit without training");
  add_config_flags(cmd, st->flags);
  return [st]() {
    TrainConfig cfg = st->resume ? saved_run_base() : TrainConfig{};
    // Layers: defaults, then the resumed run's settings, then --config, then flags.
    if (st->resume) {
      check(st->flags.given("out"), "--resume needs the run directory: --out DIR");
      const std::string out = st->flags.values.at("out");
      const std::string saved = out + "/config.json";
      check(std::filesystem::exists(saved), "nothing to resume in '" + out + "': no config.json");
      cfg = load_config_file(saved, cfg);
      // --stop-after-steps limits one invocation: a resumed run goes on to
      // its end unless this invocation asks again.
      cfg.stop_after_steps = 0;
    }
    cfg = st->flags.apply(cfg);
    if (st->print_config) {
      validate(cfg);
      std::printf("%s\n", config_to_json(cfg).c_str());
      return 0;
    }
    TrainSummary s = train_with_restarts(cfg, st->resume);
    if (s.rank != 0) {
      // Rank 0 reports for the run.
    } else if (st->json) {
      std::printf("%s\n", s.to_json().c_str());
    } else if (!s.stopped_early) {
      print_table(s);
    }
    // Stopped by a signal: checkpointed, but say so to the shell (128 + signal).
    if (s.signal != 0) return 128 + s.signal;
    if (s.rank == 0 && !s.stopped_early && cfg.report) {
      try {
        ReportResult r = write_report(open_run(s.run_dir));
        std::fprintf(stderr, "twist: report written to %s (open it in a browser)\n", r.path.c_str());
      } catch (const Error& e) {
        std::fprintf(stderr,
                     "\ntwist: error: the run finished and its files are kept, but its report failed: %s\n"
                     "(write it again with: twist report --run %s)\n",
                     e.what(), s.run_dir.c_str());
        return 1;
      }
    }
    return 0;
  };
}

}  // namespace twist::cli
