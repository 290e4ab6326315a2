// twist: self-supervised learning and unsupervised classification with TWIST.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "twist/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "twist: self-supervised learning by estimating twin class distributions (TWIST).\n"
      "Pretrain on unlabeled images, cluster them into classes, evaluate what was learned."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "twist 0.1.0");
  const std::vector<std::pair<std::string, std::function<int()>>> commands = {
      {"train", twist::cli::add_train_command(app)},
      {"eval", twist::cli::add_eval_command(app)},
      {"finetune", twist::cli::add_finetune_command(app)},
      {"predict", twist::cli::add_predict_command(app)},
      {"embed", twist::cli::add_embed_command(app)},
      {"export", twist::cli::add_export_command(app)},
      {"report", twist::cli::add_report_command(app)},
      {"launch", twist::cli::add_launch_command(app)},
      {"bench", twist::cli::add_bench_command(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "twist: %s (see twist --help)\n", e.what());
    return 2;
  }
  try {
    for (const auto& [name, run] : commands)
      if (app.got_subcommand(name)) return run();
  } catch (const twist::Error& e) {
    std::fprintf(stderr, "\ntwist: error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "\ntwist: internal error: %s\n", e.what_without_backtrace());
    return 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\ntwist: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
