// twist: self-supervised learning and unsupervised classification with TWIST.
#include <torch/torch.h>

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "twist/error.h"

namespace {

// Training allocates and frees the same large tensors every step. glibc hands
// blocks above its mmap threshold back to the kernel on free and trims the
// heap's top, so each step faults its activations in again: 2.3 million page
// faults in a 20-step `twist bench` of the default recipe, against 0.24
// million with freed memory kept (bench/README.md, "Allocator"). Keep it:
// resident memory stays at its high-water mark (one step of +50 MiB in the
// second epoch of the default recipe, then flat: bench/README.md, "Memory").
// TWIST_MALLOC=glibc, or glibc's own MALLOC_*_ variables, leave glibc as is.
void keep_freed_memory() {
  const char* choice = std::getenv("TWIST_MALLOC");
  if (choice && std::string(choice) == "glibc") return;
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) return;
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  CLI::App app{
      "twist: self-supervised learning by estimating twin class distributions (TWIST).\n"
      "Pretrain on unlabeled images, cluster them into classes, evaluate what was learned."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "twist 0.1.0");
  const std::vector<std::pair<std::string, std::function<int()>>> commands = {
      {"train", twist::cli::add_train_command(app)},       {"eval", twist::cli::add_eval_command(app)},
      {"finetune", twist::cli::add_finetune_command(app)}, {"predict", twist::cli::add_predict_command(app)},
      {"embed", twist::cli::add_embed_command(app)},       {"export", twist::cli::add_export_command(app)},
      {"report", twist::cli::add_report_command(app)},     {"launch", twist::cli::add_launch_command(app)},
      {"bench", twist::cli::add_bench_command(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) { return app.exit(e); } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) { return app.exit(e); } catch (const CLI::ParseError& e) {
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
