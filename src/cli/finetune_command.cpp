// twist finetune: semi-supervised fine-tuning on a fraction of the labels.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "run_args.h"
#include "twist/error.h"
#include "twist/metric_names.h"
#include "twist/probe.h"

namespace twist::cli {
namespace {

std::string fraction_tag(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", f * 100.0);
  return std::string(buf) + "pct";
}

}  // namespace

std::function<int()> add_finetune_command(CLI::App& app) {
  CLI::App* cmd =
      app.add_subcommand("finetune",
                         "Semi-supervised fine-tuning: backbone + a new linear classifier trained on a class-balanced\n"
                         "fraction of the labels (the paper's 1% / 10% protocol), scored on the test split.");
  struct State {
    RunArgs args;
    double fraction = 0;
    std::string label_list;
    ClassifierOptions o;
  };
  auto st = std::make_shared<State>();
  st->o.epochs = 20;
  st->o.lr = 0.2;
  st->o.backbone_lr = 0.01;
  add_run_args(cmd, st->args);
  auto* frac = cmd->add_option("--label-fraction", st->fraction,
                               "fraction of the training labels to use, in (0, 1], e.g. 0.01 or 0.1");
  cmd->add_option("--label-list", st->label_list,
                  "train on exactly these training-split indices (one per line, as a previous run wrote)")
      ->excludes(frac);
  cmd->add_option("--epochs", st->o.epochs, "epochs [20]")->check(CLI::PositiveNumber);
  cmd->add_option("--lr", st->o.lr, "classifier learning rate, cosine-decayed [0.2]")->check(CLI::PositiveNumber);
  cmd->add_option("--backbone-lr", st->o.backbone_lr,
                  "backbone learning rate, cosine-decayed; lower than the classifier's so that the pretrained "
                  "features are adjusted, not overwritten [0.01]")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", st->o.batch_size, "batch size [256]")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--weight-decay", st->o.weight_decay, "weight decay [0]")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", st->o.seed, "seed of the label subset, the classifier and the views [0]");

  return [st, cmd]() {
    const RunArgs& a = st->args;
    const bool from_list = !st->label_list.empty();
    check(from_list || cmd->count("--label-fraction") > 0,
          "finetune needs --label-fraction F (e.g. 0.01) or --label-list FILE");
    if (!from_list)
      check(st->fraction > 0 && st->fraction <= 1,
            "--label-fraction must be in (0, 1], e.g. 0.01 for 1% of the labels; got " + std::to_string(st->fraction));
    Run run = open_run_for(a);
    TrainEvalSplits s = labelled_splits(run, a, "fine-tuning");
    torch::Tensor subset;
    std::string list_file;
    if (from_list) {
      subset = read_index_list(st->label_list, s.train.size());
      list_file = st->label_list;
    } else {
      subset = balanced_label_subset(s.train.labels, st->fraction, st->o.seed);
      list_file = run.path("finetune_labels_" + fraction_tag(st->fraction) + ".txt");
      write_index_list(list_file, subset);
    }
    const double used = double(subset.numel()) / double(s.train.size());
    Dataset labelled = s.train.subset(subset, "[" + std::to_string(subset.numel()) + " labels]");
    check(labelled.size() >= 2,
          "fine-tuning needs at least 2 labelled images; the subset has " + std::to_string(labelled.size()));
    std::fprintf(stderr, "twist: fine-tuning on %lld labelled images (%.2f%% of %s; list in %s), %lld epochs\n",
                 (long long)labelled.size(), 100 * used, s.train.name.c_str(), list_file.c_str(),
                 (long long)st->o.epochs);
    const int64_t classes = std::max(s.train.num_classes, s.eval.num_classes);
    ClassifierResult r;
    // Only the labelled images and the evaluation split are read, batch by batch.
    const std::vector<std::string> skipped = reading_past_bad_images(run, a, {&s.eval, &labelled}, [&] {
      r = train_classifier(run.model->backbone, labelled, s.eval, eval_side(run, s.train), run.state.norm, classes,
                           st->o);
    });
    nlohmann::ordered_json j;
    j["top1"] = r.top1;
    j["top5"] = r.top5;
    j["best_top1"] = r.best_top1;
    j["best_epoch"] = r.best_epoch;
    j["labels"] = labelled.size();
    j["label_fraction"] = used;
    j["label_list"] = list_file;
    j["epochs"] = st->o.epochs;
    j["lr"] = st->o.lr;
    j["backbone_lr"] = st->o.backbone_lr;
    j["split"] = s.eval_name;
    j["skipped_images"] = skipped.size();
    j["history"] = history_json(r.history);
    const std::string tag = from_list ? "list" : fraction_tag(st->fraction);
    emit(a, run, names::kFinetunePrefix + tag + ".json",
         "Fine-tuned on " + std::to_string(labelled.size()) + " labels (" + fixed(100 * used, 2) + "%), " +
             s.eval_name + " split",
         j,
         {{"top-1 (final)", fixed(r.top1)},
          {"top-5 (final)", fixed(r.top5)},
          {"top-1 (best, epoch " + std::to_string(r.best_epoch) + ")", fixed(r.best_top1)}});
    return 0;
  };
}

}  // namespace twist::cli
