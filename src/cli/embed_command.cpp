// twist embed: features (or head outputs) as .npy arrays for other tools.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "run_args.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/npy.h"

namespace twist::cli {

std::function<int()> add_embed_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "embed",
      "Write backbone features as a float32 .npy array (N x d) that numpy.load reads, and the labels\n"
      "(int64, N) beside it as FILE.labels.npy where the data set has them.");
  struct State {
    RunArgs args;
    std::string out, what = "features";
  };
  auto st = std::make_shared<State>();
  add_run_args(cmd, st->args);
  cmd->add_option("--out", st->out, "output .npy file")->required();
  cmd->add_option("--output", st->what,
                  "features (backbone, N x d), logits (head before softmax, N x C) or probabilities [features]")
      ->check(CLI::IsMember({"features", "logits", "probabilities"}));
  return [st]() {
    check(st->args.val_split == 0, "embed writes a whole split: --val-split does not apply (use --data SPEC@test)");
    Run run = open_run_for(st->args);
    const std::string spec = run_data_spec(run, st->args.data);
    Dataset d = in_memory(load_dataset(spec, "train"), run_image_size(run));
    check_channels(run, d, spec);
    std::fprintf(stderr, "twist: embedding %s (%lld images)\n", d.name.c_str(), (long long)d.size());
    Embeddings e = embed(run.model, d, run.state.norm);
    torch::Tensor x = st->what == "features" ? e.features
                      : st->what == "logits" ? e.logits
                                             : torch::softmax(e.logits / run.config.temperature, 1);
    write_npy(st->out, x.to(torch::kFloat32));
    std::string labels_file;
    if (d.has_labels()) {
      std::string stem = st->out;
      if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".npy") == 0) stem.resize(stem.size() - 4);
      labels_file = stem + ".labels.npy";
      write_npy(labels_file, d.labels.to(torch::kInt64));
    }
    nlohmann::ordered_json j;
    j["out"] = st->out;
    j["rows"] = x.size(0);
    j["dim"] = x.size(1);
    j["output"] = st->what;
    j["data"] = d.name;
    if (!labels_file.empty()) j["labels"] = labels_file;
    emit(st->args, run, "", "Embedded " + d.name, j,
         {{"array", st->out + " (" + std::to_string(x.size(0)) + " x " + std::to_string(x.size(1)) + " float32)"},
          {"labels", labels_file.empty() ? "(the data set has none)" : labels_file}});
    return 0;
  };
}

}  // namespace twist::cli
