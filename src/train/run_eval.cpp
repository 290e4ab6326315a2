#include "run_eval.h"

#include <algorithm>
#include <cstdio>

#include "twist/augment.h"
#include "twist/metric_names.h"

namespace twist {
namespace {

// At most `n` samples of `d`, the same ones for every run of the data set.
Dataset seeded_subset(const Dataset& d, int64_t n, uint64_t stream) {
  if (d.size() <= n) return d;
  at::Generator gen = make_generator(/*seed=*/20261201, stream);
  auto pick = std::get<0>(torch::randperm(d.size(), gen, torch::kInt64).narrow(0, 0, n).sort());
  return d.subset(pick, "[subset of " + std::to_string(n) + "]");
}

}  // namespace

EvalFigures evaluate_model(TwistModel& model, const Dataset& bank, const Dataset& query, const Normalization& norm,
                           int64_t knn_k, int64_t classes) {
  Embeddings b = embed(model, bank, norm);
  Embeddings q = embed(model, query, norm);
  KnnOptions ko;
  ko.k = std::min(knn_k, bank.size());
  ko.num_classes = std::max(bank.num_classes, query.num_classes);
  const KnnResult knn = knn_classify(b.features, bank.labels, q.features, query.labels, ko);
  EvalFigures f;
  f.knn_top1 = knn.top1;
  f.knn_top5 = knn.top5;
  // k-means needs at least one image per cluster (a tiny test split may have fewer).
  f.kmeans_done = query.size() >= ko.num_classes;
  if (f.kmeans_done) f.kmeans = cluster_metrics(spherical_kmeans(q.features, ko.num_classes), query.labels);
  if (classes == ko.num_classes) {
    f.clustered = true;
    f.cluster = cluster_metrics(q.logits.argmax(1), query.labels);
  }
  return f;
}

RunEvaluator::RunEvaluator(const TrainEvalSplits& data, int64_t image_size, const TrainConfig& config,
                           const Normalization& norm)
    : data_(data), cfg_(config), norm_(norm), side_(image_size) {
  const int64_t bytes = in_memory_bytes(data.train, image_size) + in_memory_bytes(data.eval, image_size);
  if (data.eval.size() == 0)
    reason_ = "the data set has no held-out split (--val-split N holds out N images)";
  else if (!data.eval.has_labels() || !data.train.has_labels())
    reason_ = "the images have no labels";
  else if (bytes > kInMemoryLimitBytes)
    reason_ = data.train.name + " and " + data.eval.name + " at " + std::to_string(image_size) + "x" +
              std::to_string(image_size) + " would take " + std::to_string(bytes >> 20) +
              " MiB in memory, above the 1024 MiB limit for image folders; evaluate with twist eval on "
              "smaller folders";
  possible_ = reason_.empty();
}

bool RunEvaluator::due(int64_t step, double train_seconds) const {
  if (!possible_) return false;
  if (cfg_.eval_every > 0 && step - last_step_ >= cfg_.eval_every) return true;
  return cfg_.eval_every_minutes > 0 && train_seconds - last_seconds_ >= 60 * cfg_.eval_every_minutes;
}

MetricsLine RunEvaluator::during(TwistModel& model, int64_t step, int64_t steps_per_epoch, double train_seconds) {
  if (!curve_bank_) {
    curve_bank_ = std::make_unique<Dataset>(in_memory(seeded_subset(data_.train, kCurveBankImages, 1), side_));
    curve_query_ = std::make_unique<Dataset>(in_memory(seeded_subset(data_.eval, kCurveQueryImages, 2), side_));
  }
  last_step_ = step;
  last_seconds_ = train_seconds;
  const EvalFigures f = evaluate_model(model, *curve_bank_, *curve_query_, norm_, cfg_.knn_k, cfg_.classes);
  MetricsLine line = {{"step", double(step)},
                      {"epoch", double(step) / double(steps_per_epoch)},
                      {"train_seconds", train_seconds},
                      {names::kEvalKnnTop1, f.knn_top1}};
  if (f.kmeans_done) line.push_back({names::kEvalKmeansAcc, f.kmeans.acc});
  if (f.clustered) line.insert(line.end(), {{names::kEvalAcc, f.cluster.acc}, {names::kEvalNmi, f.cluster.nmi}});
  return line;
}

void RunEvaluator::final(TwistModel& model, TrainSummary& summary) {
  const Dataset query = in_memory(data_.eval, side_);
  const Dataset bank = in_memory(data_.train, side_);
  std::fprintf(stderr, "twist: evaluating on %s (%lld images)\n", query.name.c_str(), (long long)query.size());
  const EvalFigures f = evaluate_model(model, bank, query, norm_, cfg_.knn_k, cfg_.classes);
  KnnOptions ko;
  ko.k = cfg_.knn_k;
  ko.num_classes = std::max(bank.num_classes, query.num_classes);
  summary.evaluated = true;
  summary.eval_split = data_.eval_name;
  summary.knn_top1 = f.knn_top1;
  summary.knn_top5 = f.knn_top5;
  summary.pixel_knn_top1 =
      knn_classify(pixel_features(bank), bank.labels, pixel_features(query), query.labels, ko).top1;
  summary.centered_pixel_knn_top1 = knn_classify(centered_pixel_features(bank, norm_), bank.labels,
                                                 centered_pixel_features(query, norm_), query.labels, ko)
                                        .top1;
  if (f.kmeans_done) {
    summary.kmeans_acc = f.kmeans.acc;
    summary.kmeans_nmi = f.kmeans.nmi;
  }
  if (f.clustered) {
    summary.clustered = true;
    summary.nmi = f.cluster.nmi;
    summary.ami = f.cluster.ami;
    summary.ari = f.cluster.ari;
    summary.acc = f.cluster.acc;
    summary.clusters_used = f.cluster.clusters_used;
  }
}

}  // namespace twist
