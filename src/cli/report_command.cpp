// twist report: the run as one HTML page (curves, figures, image grids,
// top-5 predictions, the paper's diagnostics).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "run_args.h"
#include "twist/error.h"
#include "twist/report.h"

namespace twist::cli {

std::function<int()> add_report_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Write DIR/report.html: training curves, the final figures against the raw-pixel baseline, example\n"
      "images of each predicted class, top-5 predictions, similarity histograms and output spread.\n"
      "One self-contained file (inline SVG, embedded PNG images, no script): open it in any browser.");
  struct State {
    RunArgs args;
    ReportOptions options;
  };
  auto st = std::make_shared<State>();
  add_run_args(cmd, st->args, /*with_data=*/false);
  cmd->add_option("--data", st->options.data, "data set spec whose held-out split is shown (default: the run's)");
  cmd->add_option("--out", st->options.out, "output file [RUN/report.html]");
  cmd->add_option("--images-per-class", st->options.images_per_class, "example images per predicted class [12]")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--max-classes", st->options.max_classes,
                  "image grids for at most this many (the largest) "
                  "classes [100]")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--examples", st->options.top5_examples, "images shown with their top-5 predictions [8]")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--max-images", st->options.max_images,
                  "run the model on at most this many images of the split (a seeded subset) [10000]")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", st->options.seed, "which images are chosen [0]");
  return [st]() {
    Run run = open_run_for(st->args);
    ReportResult r = write_report(run, st->options);
    nlohmann::ordered_json j;
    j["report"] = r.path;
    j["bytes"] = r.bytes;
    j["metrics_lines"] = r.metrics_lines;
    j["skipped_lines"] = r.skipped_lines;
    j["images"] = r.images;
    j["split"] = r.split;
    j["sections"] = r.sections;
    emit(st->args, run, "", "Report of " + run.dir, j,
         {{"written to", r.path + " (" + std::to_string(r.bytes / 1024) + " KiB)"},
          {"curves from", std::to_string(r.metrics_lines) + " lines of metrics.jsonl"},
          {"images", std::to_string(r.images) + " of " + r.split}});
    return 0;
  };
}

}  // namespace twist::cli
