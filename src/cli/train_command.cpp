#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "commands.h"
#include "twist/config.h"
#include "twist/error.h"
#include "twist/report.h"
#include "twist/run.h"
#include "twist/train.h"

namespace twist::cli {
namespace {

std::string flag_name(std::string key) {
  for (char& c : key)
    if (c == '_') c = '-';
  return "--" + key;
}

void print_table(const TrainSummary& s) {
  std::printf("\nTWIST run %s: %lld steps (%.2f epochs), %.0f images/s, final loss %.4f\n",
              s.run_dir.c_str(), (long long)s.steps, s.epochs, s.images_per_s, s.final_loss);
  if (!s.evaluated) {
    std::printf("(not evaluated: no labelled held-out split)\n");
    return;
  }
  std::printf("\n  %-34s %8s\n", ("evaluated on the " + s.eval_split + " split").c_str(), "value");
  std::printf("  %-34s %8.4f\n", "kNN top-1 (cosine), TWIST features", s.knn_top1);
  std::printf("  %-34s %8.4f\n", "kNN top-1, raw pixels (baseline)", s.pixel_knn_top1);
  std::printf("  %-34s %8.4f\n", "kNN top-1, normalized pixels", s.centered_pixel_knn_top1);
  std::printf("  %-34s %+8.4f\n", "gain over raw pixels", s.knn_top1 - s.pixel_knn_top1);
  if (s.clustered) {
    std::printf("  %-34s %8.4f\n", "cluster accuracy (Hungarian)", s.acc);
    std::printf("  %-34s %8.4f\n", "NMI", s.nmi);
    std::printf("  %-34s %8.4f\n", "AMI", s.ami);
    std::printf("  %-34s %8.4f\n", "ARI", s.ari);
    std::printf("  %-34s %8lld\n", "clusters in use", (long long)s.clusters_used);
  }
  std::printf("\nsummary.json, metrics.jsonl, config.json and checkpoint.pt are in %s\n", s.run_dir.c_str());
}

}  // namespace

std::function<int()> add_train_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Pretrain a TWIST model without labels. With no flags: the default recipe on Fashion-MNIST\n"
      "(configs/fashion-mnist.json), evaluated on its test split at the end.");
  struct State {
    std::string config_file;
    bool resume = false;
    bool json = false;
    bool print_config = false;
    std::map<std::string, std::string> values;
    std::map<std::string, CLI::Option*> options;
  };
  auto st = std::make_shared<State>();
  cmd->add_option("--config", st->config_file, "JSON file of settings (same keys as the flags)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--resume", st->resume,
                "continue the run in --out DIR from its checkpoint (same schedules and random state)");
  cmd->add_flag("--json", st->json, "print the summary as one JSON object on stdout");
  cmd->add_flag("--print-config", st->print_config,
                "print the resolved settings as JSON (a config file) and exit without training");
  const TrainConfig defaults;
  for (const auto& k : config_keys()) {
    std::string help = k.help + " [" + get_config_value(defaults, k.key) + "]";
    st->options[k.key] = cmd->add_option(flag_name(k.key), st->values[k.key], help)
                             ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                             ->type_name(k.type == "string" ? "TEXT" : k.type == "int" ? "INT"
                                         : k.type == "float" ? "FLOAT" : "BOOL");
  }
  return [st]() {
    TrainConfig cfg;
    // Layers: defaults, then the resumed run's settings, then --config, then flags.
    if (st->resume) {
      auto it = st->options.find("out");
      check(it->second->count() > 0, "--resume needs the run directory: --out DIR");
      const std::string saved = st->values["out"] + "/config.json";
      check(std::filesystem::exists(saved), "nothing to resume in '" + st->values["out"] + "': no config.json");
      cfg = load_config_file(saved, cfg);
    }
    if (!st->config_file.empty()) cfg = load_config_file(st->config_file, cfg);
    for (const auto& [key, opt] : st->options)
      if (opt->count() > 0) set_config_value(cfg, key, st->values[key]);
    if (st->print_config) {
      validate(cfg);
      std::printf("%s\n", config_to_json(cfg).c_str());
      return 0;
    }
    TrainSummary s = train(cfg, st->resume);
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
