#include "run_args.h"

#include <cstdio>

#include "twist/bad_images.h"
#include "twist/error.h"
#include "twist/io.h"
#include "twist/train.h"

namespace twist::cli {

void add_run_args(CLI::App* cmd, RunArgs& a, bool with_data) {
  cmd->add_option("--run", a.run, "run directory written by twist train")->required();
  if (with_data) {
    cmd->add_option("--data", a.data, "data set spec (default: the one the run trained on)");
    cmd->add_option("--val-split", a.val_split,
                    "evaluate on the N training images that train --val-split N held out, not the test split "
                    "(choose settings on these; report the test split)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--skip-bad-images", a.skip_bad_images,
                    "image folders: pass over up to N image files that do not decode, naming each (counted as "
                    "skipped_images) [the run's own --skip-bad-images]")
        ->check(CLI::NonNegativeNumber);
  }
  cmd->add_option("--threads", a.threads, "LibTorch threads (0: every core)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", a.json, "print one JSON object on stdout (logs stay on stderr)");
}

Run open_run_for(const RunArgs& a) {
  use_threads(a.threads);
  return open_run(a.run);
}

TrainEvalSplits labelled_splits(const Run& run, const RunArgs& a, const std::string& what) {
  const std::string spec = run_data_spec(run, a.data);
  check(parse_data_spec(spec).split.empty(),
        "--data '" + spec + "' names a split; " + what +
            " uses the training split and the test split of one data set: drop the @ suffix");
  TrainEvalSplits s = load_train_eval_splits(spec, a.val_split);
  check(s.train.has_labels(), "data set '" + s.train.name + "' has no labels: " + what + " needs them");
  check(s.eval.size() > 0, "data set '" + spec + "' has no test split: " + what +
                               " needs one (or hold out training images with --val-split N)");
  check(s.eval.has_labels(), "data set '" + s.eval.name + "' has no labels: " + what + " needs them");
  check_channels(run, s.train, spec);
  std::fprintf(stderr, "twist: %s on %s (%lld images) against %s (%lld images)\n", what.c_str(), s.eval.name.c_str(),
               (long long)s.eval.size(), s.train.name.c_str(), (long long)s.train.size());
  return s;
}

std::vector<std::string> reading_past_bad_images(const Run& run, const RunArgs& a, const std::vector<Dataset*>& sets,
                                                 const std::function<void()>& fn) {
  BadImages bad(a.skip_bad_images >= 0 ? a.skip_bad_images : run.config.skip_bad_images);
  skipping_bad_images(&bad, sets, fn);
  return bad.files();
}

void check_channels(const Run& run, const Dataset& data, const std::string& spec) {
  check(data.channels() == int64_t(run.state.norm.mean.size()),
        "data set '" + spec + "' has " + std::to_string(data.channels()) + " channels, the model in '" + run.dir +
            "' takes " + std::to_string(run.state.norm.mean.size()));
}

nlohmann::ordered_json history_json(const std::vector<EpochScore>& history) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& e : history)
    out.push_back({{"epoch", e.epoch}, {"loss", e.loss}, {"top1", e.top1}, {"top5", e.top5}});
  return out;
}

int64_t run_image_size(const Run& run) {
  if (run.config.image_size > 0) return run.config.image_size;
  // The run trained at its data set's native size: look at one split.
  return load_dataset(run.config.data, "train").height();
}

int64_t eval_side(const Run& run, const Dataset& data) {
  return data.file_backed() ? run_image_size(run) : data.height();
}

FeatureBank streamed_backbone_features(Run& run, const Dataset& data, const StreamOptions& o) {
  return stream_features(
      data, eval_side(run, data),
      [&](const torch::Tensor& images) { return backbone_batch_features(run.model->backbone, images, run.state.norm); },
      o);
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void emit(const RunArgs& a, const Run& run, const std::string& file, const std::string& title,
          const nlohmann::ordered_json& result, const std::vector<std::pair<std::string, std::string>>& rows) {
  if (!file.empty()) write_file_atomic(run.path(file), result.dump(2) + "\n");
  if (a.json) {
    std::printf("%s\n", result.dump().c_str());
    return;
  }
  std::printf("\n%s\n", title.c_str());
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  for (const auto& [k, v] : rows) std::printf("  %-*s  %s\n", int(width), k.c_str(), v.c_str());
  if (!file.empty()) std::printf("\n(kept in %s)\n", run.path(file).c_str());
}

}  // namespace twist::cli
