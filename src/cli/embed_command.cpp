// twist embed: features (or head outputs) as .npy arrays for other tools.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "run_args.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/npy.h"

namespace twist::cli {
namespace {

// Streamed: each batch's rows go to the file as they are made, so memory
// stays flat whatever the size of the set (an image folder of any size).
// `head`: which C-class head writes logits and probabilities.
int64_t write_rows(Run& run, const Dataset& d, const std::string& what, int64_t head, const std::string& path,
                   torch::ScalarType type) {
  std::unique_ptr<NpyRowWriter> out;
  int64_t dim = 0;
  for_each_eval_batch(d, eval_side(run, d), StreamOptions{}.batch_size, [&](int64_t, const torch::Tensor& images) {
    torch::Tensor x = backbone_batch_features(run.model->backbone, images, run.state.norm);
    if (what != "features") x = head_batch_logits(run.model, x, head);
    if (what == "probabilities") x = torch::softmax(x / run.config.temperature, 1);
    if (!out) out = std::make_unique<NpyRowWriter>(path, d.size(), dim = x.size(1), type);
    out->append(x);
  });
  out->finish();
  return dim;
}

// Two passes over the features: a bank (spilled to disk past its budget)
// to fit the whitening, then its rows whitened chunk by chunk to the file.
int64_t write_whitened(Run& run, const Dataset& d, const std::string& path, torch::ScalarType type) {
  const FeatureBank bank = streamed_backbone_features(run, d);
  const Whitening white = Whitening::fit(bank);
  NpyRowWriter out(path, bank.rows(), bank.dim(), type);
  const int64_t chunk = 8192;  // rows in memory at once
  for (int64_t i = 0; i < bank.rows(); i += chunk)
    out.append(white.apply(bank.read(i, std::min(chunk, bank.rows() - i))));
  out.finish();
  return bank.dim();
}

}  // namespace

std::function<int()> add_embed_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "embed",
      "Write backbone features as a float32 (or --dtype float16) .npy array (N x d) that numpy.load\n"
      "reads, and the labels (int64, N) beside it as FILE.labels.npy where the data set has them.");
  struct State {
    RunArgs args;
    std::string out, what = "features", dtype = "float32";
    bool whiten = false;
    int64_t head = -1;
  };
  auto st = std::make_shared<State>();
  add_run_args(cmd, st->args);
  cmd->add_option("--out", st->out, "output .npy file")->required();
  cmd->add_option("--output", st->what,
                  "features (backbone, N x d), logits (head before softmax, N x C) or probabilities [features]")
      ->check(CLI::IsMember({"features", "logits", "probabilities"}));
  cmd->add_option("--dtype", st->dtype, "float32, or float16 for half the bytes (about 3 significant digits) [float32]")
      ->check(CLI::IsMember({"float32", "float16"}));
  cmd->add_option("--head", st->head,
                  "logits/probabilities: which of the run's C-class heads (0 ... cluster_heads - 1; summary.json's "
                  "cluster_heads lists them) [the one the run uses, its chosen_head]")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--whiten", st->whiten,
                "features: ZCA-whitened with the mean and covariance of the rows written (every direction at unit "
                "variance; cosine kNN on them is the summary's knn_top1_whitened)");
  return [st]() {
    check(st->args.val_split == 0, "embed writes a whole split: --val-split does not apply (use --data SPEC@test)");
    Run run = open_run_for(st->args);
    const std::string spec = run_data_spec(run, st->args.data);
    Dataset d = load_dataset(spec, "train");
    check_channels(run, d, spec);
    check(d.size() > 0, "data set '" + spec + "' has no images");
    check(!st->whiten || st->what == "features", "--whiten applies to --output features only");
    check(st->head < 0 || st->what != "features", "--head applies to --output logits or probabilities only");
    check(st->head < run.model->num_heads(), "--head " + std::to_string(st->head) + ": the run has " +
                                                 std::to_string(run.model->num_heads()) + " C-class head(s), 0 ... " +
                                                 std::to_string(run.model->num_heads() - 1));
    const int64_t head = st->head < 0 ? run.model->chosen_head() : st->head;
    std::fprintf(stderr, "twist: embedding %s (%lld images)\n", d.name.c_str(), (long long)d.size());
    int64_t dim = 0;
    // A file that does not decode (within --skip-bad-images) leaves no row:
    // rows and labels are those of the other files, in order.
    const std::vector<std::string> skipped = reading_past_bad_images(run, st->args, {&d}, [&] {
      const auto type = st->dtype == "float16" ? torch::kHalf : torch::kFloat32;
      dim = st->whiten ? write_whitened(run, d, st->out, type) : write_rows(run, d, st->what, head, st->out, type);
    });
    std::string labels_file;
    if (d.has_labels()) {
      std::string stem = st->out;
      if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".npy") == 0) stem.resize(stem.size() - 4);
      labels_file = stem + ".labels.npy";
      write_npy(labels_file, d.labels.to(torch::kInt64));
    }
    nlohmann::ordered_json j;
    j["out"] = st->out;
    j["rows"] = d.size();
    j["dim"] = dim;
    j["output"] = st->what;
    if (st->what != "features") j["head"] = head;
    j["whitened"] = st->whiten;
    j["data"] = d.name;
    j["skipped_images"] = skipped.size();
    if (!skipped.empty()) j["skipped_files"] = skipped;
    if (!labels_file.empty()) j["labels"] = labels_file;
    emit(st->args, run, "", "Embedded " + d.name, j,
         {{"array", st->out + " (" + std::to_string(d.size()) + " x " + std::to_string(dim) + " float32)"},
          {"labels", labels_file.empty() ? "(the data set has none)" : labels_file}});
    return 0;
  };
}

}  // namespace twist::cli
