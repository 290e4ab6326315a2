// twist eval knn|linear|cluster|diagnostics: what a run learned, measured.
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>

#include "commands.h"
#include "run_args.h"
#include "twist/cluster_readout.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/io.h"
#include "twist/metric_names.h"
#include "twist/probe.h"

namespace twist::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string class_name(const Dataset& d, int64_t c) {
  if (c < 0) return "(unmatched)";
  return c < int64_t(d.class_names.size()) ? d.class_names[c] : std::to_string(c);
}

int run_knn(const RunArgs& a, int64_t k, double temperature, int64_t bank_mib) {
  Run run = open_run_for(a);
  if (k == 0) k = run.config.knn_k;
  TrainEvalSplits s = labelled_splits(run, a, "kNN");
  check(k >= 1 && k <= s.train.size(), "--k " + std::to_string(k) + " must be between 1 and the " +
                                           std::to_string(s.train.size()) + " training images of " + s.train.name);
  StreamOptions so;
  so.bank_budget_bytes = bank_mib << 20;
  KnnResult weighted, vote, whitened;
  const std::vector<std::string> skipped = reading_past_bad_images(run, a, {&s.eval, &s.train}, [&] {
    const FeatureBank bank = streamed_backbone_features(run, s.train, so);
    const FeatureBank query = streamed_backbone_features(run, s.eval, so);
    KnnOptions o;
    o.k = k;
    o.temperature = temperature;
    o.num_classes = std::max(s.train.num_classes, s.eval.num_classes);
    weighted = knn_classify(bank, s.train.labels, query, s.eval.labels, o);
    o.temperature = 0;
    vote = knn_classify(bank, s.train.labels, query, s.eval.labels, o);
    o.temperature = temperature;
    o.whiten = true;
    whitened = knn_classify(bank, s.train.labels, query, s.eval.labels, o);
  });
  Json j;
  j["top1"] = weighted.top1;
  j["top5"] = weighted.top5;
  j["vote_top1"] = vote.top1;
  j["vote_top5"] = vote.top5;
  j["whitened_top1"] = whitened.top1;
  j["whitened_top5"] = whitened.top5;
  j["k"] = k;
  j["temperature"] = temperature;
  j["split"] = s.eval_name;
  j["train_images"] = s.train.size();
  j["eval_images"] = s.eval.size();
  j["skipped_images"] = skipped.size();
  emit(a, run, names::kEvalKnnFile,
       "kNN on backbone features (k=" + std::to_string(k) + ", cosine), " + s.eval_name + " split", j,
       {{"top-1, weighted (T=" + fixed(temperature, 2) + ")", fixed(weighted.top1)},
        {"top-5, weighted", fixed(weighted.top5)},
        {"top-1, majority vote", fixed(vote.top1)},
        {"top-5, majority vote", fixed(vote.top5)},
        {"top-1, weighted, whitened features", fixed(whitened.top1)},
        {"top-5, weighted, whitened features", fixed(whitened.top5)}});
  return 0;
}

int run_linear(const RunArgs& a, ClassifierOptions o, bool precomputed) {
  Run run = open_run_for(a);
  TrainEvalSplits s = labelled_splits(run, a, "the linear probe");
  const int64_t classes = std::max(s.train.num_classes, s.eval.num_classes);
  o.augment = !precomputed;
  std::fprintf(stderr, "twist: linear probe, %s, %lld epochs, batch %lld, lr %g\n",
               precomputed ? "PRECOMPUTED features of un-augmented images (fast, not the paper's protocol)"
                           : "random-resized-crop + flip views (the paper's protocol)",
               (long long)o.epochs, (long long)o.batch_size, o.lr);
  ClassifierResult r;
  const std::vector<std::string> skipped = reading_past_bad_images(run, a, {&s.eval, &s.train}, [&] {
    // Both stream an image folder of any size.
    if (precomputed) {
      const FeatureBank xs = streamed_backbone_features(run, s.train), xt = streamed_backbone_features(run, s.eval);
      r = train_linear_on_features(xs, s.train.labels, xt, s.eval.labels, classes, o);
    } else {
      r = train_classifier(run.model->backbone, s.train, s.eval, eval_side(run, s.train), run.state.norm, classes, o);
    }
  });
  Json j;
  j["top1"] = r.top1;
  j["top5"] = r.top5;
  j["best_top1"] = r.best_top1;
  j["best_top5"] = r.best_top5;
  j["best_epoch"] = r.best_epoch;
  j["mode"] = precomputed ? "precomputed" : "augmented";
  j["epochs"] = o.epochs;
  j["batch_size"] = o.batch_size;
  j["lr"] = o.lr;
  j["split"] = s.eval_name;
  j["skipped_images"] = skipped.size();
  j["history"] = history_json(r.history);
  emit(a, run, precomputed ? names::kEvalLinearPrecomputedFile : names::kEvalLinearFile,
       std::string("Linear probe (frozen backbone, ") + (precomputed ? "precomputed features" : "augmented views") +
           "), " + s.eval_name + " split",
       j,
       {{"top-1 (final)", fixed(r.top1)},
        {"top-5 (final)", fixed(r.top5)},
        {"top-1 (best, epoch " + std::to_string(r.best_epoch) + ")", fixed(r.best_top1)},
        {"top-5 (best)", fixed(r.best_top5)}});
  return 0;
}

// The choice twist train makes at the end (cluster_readout auto), made
// again on the run's training images, saved in the run directory.
ClusterReadout choose_again(Run& run, const RunArgs& a, TrainEvalSplits& s) {
  Dataset images = readout_images(s.train);
  ClusterReadout r;
  reading_past_bad_images(run, a, {&images}, [&] {
    r = choose_cluster_readout(run.model, images, eval_side(run, images), run.state.norm, run.config.classes, "auto");
  });
  save_cluster_readout(run.dir, r);
  std::fprintf(stderr,
               "twist: clusters read out by %s (neighbour agreement: head %.4f, k-means %.4f; balance: head %.4f, "
               "k-means %.4f)\n",
               r.kmeans() ? "k-means of the features" : "the head", r.head_agreement, r.kmeans_agreement,
               r.head_balance, r.kmeans_balance);
  return r;
}

// `method` run: the run's clusters (its cluster_readout.json, the head's
// argmax without one); auto: the same after choosing again; head: the
// head's argmax. Against the labels.
int run_cluster(const RunArgs& a, const std::string& assignments, const std::string& method) {
  Run run = open_run_for(a);
  TrainEvalSplits s = labelled_splits(run, a, "unsupervised classification");
  const std::optional<ClusterReadout> saved =
      method == "auto" ? std::optional<ClusterReadout>(choose_again(run, a, s)) : load_cluster_readout(run.dir);
  const bool kmeans = method != "head" && saved && saved->kmeans();
  torch::Tensor pred;
  ClusterMetrics m;
  double top5 = 0;
  const std::vector<std::string> skipped = reading_past_bad_images(run, a, {&s.eval}, [&] {
    const StreamedEmbeddings e = embed_streamed(run.model, s.eval, eval_side(run, s.eval), run.state.norm);
    const torch::Tensor ranked = kmeans ? nearest_centres(e.features, saved->centres, 5) : e.top5;
    pred = kmeans ? ranked.select(1, 0).contiguous() : e.argmax;
    m = cluster_metrics(pred, s.eval.labels);
    top5 = mapped_ranked_accuracy(ranked, s.eval.labels, m.mapping);
  });
  Json mapping = Json::array();
  for (size_t c = 0; c < m.mapping.size(); ++c)
    mapping.push_back({{"cluster", c}, {"class", m.mapping[c]}, {"name", class_name(s.eval, m.mapping[c])}});
  Json j;
  j["nmi"] = m.nmi;
  j["ami"] = m.ami;
  j["ari"] = m.ari;
  j["acc"] = m.acc;
  j["top5"] = top5;
  j["readout"] = kmeans ? "kmeans" : "head";
  if (saved && saved->kmeans_agreement > -1) {
    j["readout_agreement"] = {{"head", saved->head_agreement}, {"kmeans", saved->kmeans_agreement}};
    if (saved->kmeans_balance > -1)  // runs saved before the balance counted have none
      j["readout_balance"] = {{"head", saved->head_balance}, {"kmeans", saved->kmeans_balance}};
  }
  j["clusters"] = run.config.classes;
  j["clusters_used"] = m.clusters_used;
  j["classes"] = std::max(s.train.num_classes, s.eval.num_classes);
  j["split"] = s.eval_name;
  j["skipped_images"] = skipped.size();
  j["mapping"] = mapping;
  // The mapping is what twist predict uses to name a cluster: of the
  // clusters it shows (the run's read-out) only.
  const bool predicts_these = kmeans || !saved || !saved->kmeans();
  if (!predicts_these)
    std::fprintf(stderr,
                 "twist: cluster_mapping.json left as it was: twist predict shows this run's k-means clusters\n");
  Json keep;
  keep["mapping"] = m.mapping;
  Json names = Json::array();
  for (int64_t c : m.mapping) names.push_back(c >= 0 ? Json(class_name(s.eval, c)) : Json(nullptr));
  keep["names"] = names;
  if (predicts_these) write_file_atomic(run.path("cluster_mapping.json"), keep.dump(2) + "\n");
  if (!assignments.empty()) {
    std::string csv = "index,cluster,label\n";
    auto p = pred.to(torch::kInt64).contiguous();
    auto l = s.eval.labels.to(torch::kInt64).contiguous();
    for (int64_t i = 0; i < p.numel(); ++i)
      csv += std::to_string(i) + "," + std::to_string(p.data_ptr<int64_t>()[i]) + "," +
             std::to_string(l.data_ptr<int64_t>()[i]) + "\n";
    write_file_atomic(assignments, csv);
  }
  emit(a, run, names::kEvalClusterFile,
       std::string("Unsupervised classification (") +
           (kmeans ? "nearest of the run's k-means centres of its features" : "argmax of the head") +
           ", C=" + std::to_string(run.config.classes) + "), " + s.eval_name + " split",
       j,
       {{"accuracy (Hungarian matching)", fixed(m.acc)},
        {"top-5 accuracy (after matching)", fixed(top5)},
        {"NMI", fixed(m.nmi)},
        {"AMI", fixed(m.ami)},
        {"ARI", fixed(m.ari)},
        {"clusters in use", std::to_string(m.clusters_used) + " of " + std::to_string(run.config.classes)}});
  return 0;
}

// The backbone's own clusters: spherical k-means of its features on the
// evaluation split into as many clusters as there are classes.
int run_kmeans(const RunArgs& a, uint64_t seed) {
  Run run = open_run_for(a);
  TrainEvalSplits s = labelled_splits(run, a, "unsupervised classification");
  const int64_t classes = std::max(s.train.num_classes, s.eval.num_classes);
  ClusterMetrics m;
  const std::vector<std::string> skipped = reading_past_bad_images(run, a, {&s.eval}, [&] {
    // Streamed: k-means reads the split's feature bank chunk by chunk.
    m = cluster_metrics(spherical_kmeans(streamed_backbone_features(run, s.eval), classes, seed), s.eval.labels);
  });
  Json j;
  j["method"] = "kmeans";
  j["nmi"] = m.nmi;
  j["ami"] = m.ami;
  j["ari"] = m.ari;
  j["acc"] = m.acc;
  j["clusters"] = classes;
  j["clusters_used"] = m.clusters_used;
  j["seed"] = seed;
  j["split"] = s.eval_name;
  j["skipped_images"] = skipped.size();
  emit(a, run, names::kEvalClusterKmeansFile,
       "Unsupervised classification (spherical k-means of backbone features, k=" + std::to_string(classes) + "), " +
           s.eval_name + " split",
       j,
       {{"accuracy (Hungarian matching)", fixed(m.acc)},
        {"NMI", fixed(m.nmi)},
        {"AMI", fixed(m.ami)},
        {"ARI", fixed(m.ari)}});
  return 0;
}

int run_diagnostics(const RunArgs& a, int64_t bins, int64_t max_samples) {
  Run run = open_run_for(a);
  TrainEvalSplits s = labelled_splits(run, a, "diagnostics");
  SimilarityHistograms h;
  OutputSpread spread;
  const std::vector<std::string> skipped = reading_past_bad_images(run, a, {&s.eval}, [&] {
    // Streamed, one pass: the outputs' spread summed batch by batch, and
    // the features of the sampled images (whose pairs are compared) kept.
    const torch::Tensor pick = similarity_sample(s.eval.size(), max_samples, 0);
    torch::Tensor slot = torch::full({s.eval.size()}, -1, torch::kInt64), sampled;  // each image's place in `pick`
    slot.index_put_({pick}, torch::arange(pick.numel(), torch::kInt64));
    OutputSpreadSum sum;
    for_each_eval_batch(
        s.eval, eval_side(run, s.eval), StreamOptions{}.batch_size, [&](int64_t begin, const torch::Tensor& x) {
          const torch::Tensor f = backbone_batch_features(run.model->backbone, x, run.state.norm);
          sum.add(head_batch_logits(run.model, f));
          const torch::Tensor at = slot.narrow(0, begin, f.size(0)), kept = (at >= 0).nonzero().squeeze(1);
          if (!sampled.defined()) sampled = torch::empty({pick.numel(), f.size(1)});
          sampled.index_copy_(0, at.index_select(0, kept), f.index_select(0, kept).to(torch::kFloat32));
        });
    h = similarity_histograms(sampled, s.eval.labels.index_select(0, pick), bins, max_samples, 0);
    spread = sum.result();
  });
  Json j;
  j["overlap"] = h.overlap;
  j["same_class_mean"] = h.same_mean;
  j["different_class_mean"] = h.different_mean;
  j["same_class_pairs"] = h.same_pairs;
  j["different_class_pairs"] = h.different_pairs;
  j["row_std"] = spread.row_std;
  j["col_std"] = spread.col_std;
  j["split"] = s.eval_name;
  j["skipped_images"] = skipped.size();
  j["bin_edges"] = h.edges;
  j["same_class"] = h.same;
  j["different_class"] = h.different;
  emit(a, run, "diagnostics.json", "Diagnostics (paper Fig. 3 and 5), " + s.eval_name + " split", j,
       {{"cosine similarity, same class (mean)", fixed(h.same_mean)},
        {"cosine similarity, different class (mean)", fixed(h.different_mean)},
        {"overlap of the two distributions", fixed(h.overlap)},
        {"pre-softmax std along rows (per sample)", fixed(spread.row_std)},
        {"pre-softmax std along columns (per class)", fixed(spread.col_std)}});
  return 0;
}

}  // namespace

std::function<int()> add_eval_command(CLI::App& app) {
  CLI::App* eval = app.add_subcommand("eval", "Measure what a run learned (needs a labelled data set)");
  eval->require_subcommand(1);
  struct State {
    RunArgs knn_args, linear_args, cluster_args, diag_args;
    int64_t k = 0;  // 0: the run's knn_k, as its end-of-run kNN
    double knn_temperature = KnnOptions{}.temperature;
    int64_t bank_mib = kFeatureBankBudgetBytes >> 20;
    ClassifierOptions linear;
    bool precomputed = false;
    std::string assignments;
    std::string cluster_method = "run";
    uint64_t kmeans_seed = 0;
    int64_t bins = 50, max_samples = 4000;
  };
  auto st = std::make_shared<State>();

  CLI::App* knn = eval->add_subcommand("knn", "weighted k-nearest-neighbour classification on backbone features");
  add_run_args(knn, st->knn_args);
  knn->add_option("--k", st->k, "neighbours [the run's --knn-k: the same k as the figures of its summary]");
  knn->add_option("--temperature", st->knn_temperature,
                  "votes weighted by exp(cos/T); the majority vote is reported beside it [0.07]")
      ->check(CLI::PositiveNumber);
  knn->add_option("--bank-memory", st->bank_mib,
                  "image folders: MiB of features each of the two banks holds in memory; past that they go to a "
                  "temporary file in $TMPDIR (else /tmp), read back chunk by chunk [32]")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 30));

  CLI::App* linear =
      eval->add_subcommand("linear", "linear classifier on the frozen backbone (the paper's linear evaluation)");
  add_run_args(linear, st->linear_args);
  linear->add_option("--epochs", st->linear.epochs, "epochs [100]")->check(CLI::PositiveNumber);
  linear->add_option("--lr", st->linear.lr, "SGD learning rate, cosine-decayed [0.1]")->check(CLI::PositiveNumber);
  linear->add_option("--batch-size", st->linear.batch_size, "batch size [256]")->check(CLI::Range(2, 1 << 20));
  linear->add_option("--weight-decay", st->linear.weight_decay, "weight decay [0]")->check(CLI::NonNegativeNumber);
  linear->add_option("--scale-min", st->linear.scale_min, "smallest random-resized-crop area [0.08]")
      ->check(CLI::Range(0.01, 1.0));
  linear->add_option("--seed", st->linear.seed, "seed of the classifier and its views [0]");
  linear->add_flag("--precomputed", st->precomputed,
                   "train on cached features of un-augmented images: much faster, usually a little lower "
                   "than the augmented protocol, and labelled as such");

  CLI::App* cluster = eval->add_subcommand(
      "cluster", "unsupervised classification: the run's clusters against the labels (NMI, AMI, ARI, accuracy)");
  add_run_args(cluster, st->cluster_args);
  cluster->add_option("--assignments", st->assignments,
                      "write index,cluster,label per sample to this CSV file (--method run, auto or head)");
  cluster
      ->add_option("--method", st->cluster_method,
                   "run: the run's clusters, as twist train chose them (cluster_readout.json: the head's argmax, "
                   "or the nearest of k-means centres of its features; names twist predict's clusters) | auto: "
                   "choose between the two again as twist train does (on up to 10,000 of the run's training "
                   "images, labels unused), save the choice, then as run | head: "
                   "the head's argmax | kmeans: spherical k-means of the backbone's features on this split into "
                   "as many clusters as there are classes [run]")
      ->check(CLI::IsMember({"run", "auto", "head", "kmeans"}));
  cluster->add_option("--seed", st->kmeans_seed, "k-means: seed of its k-means++ starts [0]");

  CLI::App* diag =
      eval->add_subcommand("diagnostics", "the paper's Fig. 3 and 5 as data: similarity distributions, output spread");
  add_run_args(diag, st->diag_args);
  diag->add_option("--bins", st->bins, "histogram bins over [-1, 1] [50]")->check(CLI::Range(1, 100000));
  diag->add_option("--max-samples", st->max_samples, "samples whose pairs are compared [4000]")
      ->check(CLI::Range(2, 100000));

  return [st, knn, linear, cluster, diag]() {
    if (knn->parsed()) return run_knn(st->knn_args, st->k, st->knn_temperature, st->bank_mib);
    if (linear->parsed()) return run_linear(st->linear_args, st->linear, st->precomputed);
    if (cluster->parsed())
      return st->cluster_method == "kmeans" ? run_kmeans(st->cluster_args, st->kmeans_seed)
                                            : run_cluster(st->cluster_args, st->assignments, st->cluster_method);
    if (diag->parsed()) return run_diagnostics(st->diag_args, st->bins, st->max_samples);
    return 2;
  };
}

}  // namespace twist::cli
