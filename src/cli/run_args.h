#pragma once
// What every command that reads a run directory shares: --run, --data,
// --val-split, --threads, --json; and how results are printed and kept.
#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "twist/data.h"
#include "twist/eval.h"
#include "twist/probe.h"
#include "twist/run.h"

namespace twist::cli {

struct RunArgs {
  std::string run;
  std::string data;  // empty: the run's own data set
  int64_t val_split = 0;
  int64_t skip_bad_images = -1;  // -1: the run's own allowance
  int64_t threads = 0;
  bool json = false;
};

// Registers --run (required), --threads, --json and, with `with_data`,
// --data, --val-split and --skip-bad-images.
void add_run_args(CLI::App* cmd, RunArgs& args, bool with_data = true);

// Sets LibTorch's thread count (0: every core) and opens the run.
Run open_run_for(const RunArgs& args);

// The labelled splits an evaluation uses: the data set's training split as
// the bank / classifier training set, and its test split (or, with
// --val-split N, the same held-out images training used) as the query set.
// Both must have labels; errors name the data set and what is missing.
// Image folders stay file-backed: every command reads them batch by batch.
TrainEvalSplits labelled_splits(const Run& run, const RunArgs& args, const std::string& what);

// fn(), which reads the image files of `sets`, passing over files that do
// not decode up to the allowance (--skip-bad-images, else the run's own):
// each is named once on stderr and left out of its set, and fn() runs again
// (skipping_bad_images). Returns the files passed over.
std::vector<std::string> reading_past_bad_images(const Run& run, const RunArgs& args, const std::vector<Dataset*>& sets,
                                                 const std::function<void()>& fn);

// Throws unless the data set has as many channels as the run's model takes.
void check_channels(const Run& run, const Dataset& data, const std::string& spec);

// A classifier's per-epoch scores as a JSON array (epoch, loss, top1, top5).
nlohmann::ordered_json history_json(const std::vector<EpochScore>& history);

// The side length the model was trained at.
int64_t run_image_size(const Run& run);
// The side `data` is evaluated at: an image folder is decoded at the run's
// image size, an in-memory set keeps its own (without loading it again).
int64_t eval_side(const Run& run, const Dataset& data);
// The backbone's features of a split at eval_side, streamed batch by batch
// (image folders of any size) into a bank that spills to a temporary file.
FeatureBank streamed_backbone_features(Run& run, const Dataset& data, const StreamOptions& o = {});

// Prints `result` as one JSON object (--json) or as an aligned table of
// `rows`, and keeps it as DIR/`file` for later reports.
void emit(const RunArgs& args, const Run& run, const std::string& file, const std::string& title,
          const nlohmann::ordered_json& result, const std::vector<std::pair<std::string, std::string>>& rows);

std::string fixed(double v, int digits = 4);

}  // namespace twist::cli
