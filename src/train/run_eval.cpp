#include "run_eval.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "twist/augment.h"
#include "twist/metric_names.h"

namespace twist {
namespace {

// The subset decoded once when it is within the in-memory rule (the curves
// evaluate it again and again), else left file-backed and streamed.
Dataset decoded_if_small(const Dataset& d, int64_t side) {
  return in_memory_bytes(d, side) <= in_memory_limit_bytes() ? in_memory(d, side) : d;
}

}  // namespace

EvalFigures evaluate_model(TwistModel& model, const Dataset& bank, const Dataset& query, int64_t side,
                           const Normalization& norm, int64_t knn_k, int64_t classes, const StreamOptions& stream,
                           bool whitened_knn, const ClusterReadout* readout) {
  const StreamedEmbeddings q = embed_streamed(model, query, side, norm, stream);
  const FeatureBank b = stream_features(
      bank, side, [&](const torch::Tensor& x) { return backbone_batch_features(model->backbone, x, norm); }, stream);
  KnnOptions ko;
  ko.k = std::min(knn_k, bank.size());
  ko.num_classes = std::max(bank.num_classes, query.num_classes);
  const KnnResult knn = knn_classify(b, bank.labels, q.features, query.labels, ko);
  EvalFigures f;
  f.knn_top1 = knn.top1;
  f.knn_top5 = knn.top5;
  if (whitened_knn && b.rows() >= 2) {
    ko.whiten = true;
    f.knn_top1_whitened = knn_classify(b, bank.labels, q.features, query.labels, ko).top1;
  }
  // k-means needs at least one image per cluster (a tiny test split may have fewer).
  f.kmeans_done = query.size() >= ko.num_classes;
  if (f.kmeans_done) f.kmeans = cluster_metrics(spherical_kmeans(q.features, ko.num_classes), query.labels);
  if (classes == ko.num_classes) {
    f.clustered = true;
    f.head_cluster = cluster_metrics(q.argmax, query.labels);
    f.cluster =
        readout && readout->kmeans()
            ? cluster_metrics(nearest_centres(q.features, readout->centres).select(1, 0).contiguous(), query.labels)
            : f.head_cluster;
    for (int64_t k = 0; q.heads_argmax.defined() && k < q.heads_argmax.size(1); ++k)
      f.heads.push_back(cluster_metrics(q.heads_argmax.select(1, k).contiguous(), query.labels));
  }
  return f;
}

int64_t pixel_baseline_bytes(const Dataset& bank, const Dataset& query, int64_t side) {
  return in_memory_bytes(bank, side) + in_memory_bytes(query, side);
}

bool pixel_baselines_fit(const Dataset& bank, const Dataset& query, int64_t side) {
  return pixel_baseline_bytes(bank, query, side) <= in_memory_limit_bytes();
}

double pixel_knn_top1(const Dataset& bank, const Dataset& query, int64_t side, const KnnOptions& ko,
                      const Normalization* centre, const StreamOptions& stream) {
  auto pixels = [&](const torch::Tensor& x) {
    return centre ? centered_pixel_batch_features(x, *centre) : pixel_batch_features(x);
  };
  return knn_classify(stream_features(bank, side, pixels, stream), bank.labels,
                      stream_features(query, side, pixels, stream), query.labels, ko)
      .top1;
}

RunEvaluator::RunEvaluator(TrainEvalSplits& data, int64_t image_size, const TrainConfig& config,
                           const Normalization& norm, BadImages* bad, const StreamOptions& stream)
    : data_(data), cfg_(config), norm_(norm), side_(image_size), bad_(bad), stream_(stream) {
  if (data.eval.size() == 0)
    reason_ = "the data set has no held-out split (--val-split N holds out N images)";
  else if (!data.eval.has_labels() || !data.train.has_labels())
    reason_ = "the images have no labels";
  possible_ = reason_.empty();
}

bool RunEvaluator::due(int64_t step, double train_seconds) const {
  if (!possible_) return false;
  // Steps count from the run's start, so a resumed run's curve points fall
  // where the uninterrupted run's do.
  if (cfg_.eval_every > 0 && step % cfg_.eval_every == 0) return true;
  return cfg_.eval_every_minutes > 0 && train_seconds - last_seconds_ >= 60 * cfg_.eval_every_minutes;
}

MetricsLine RunEvaluator::during(TwistModel& model, int64_t step, int64_t steps_per_epoch, double train_seconds) {
  if (!curve_bank_) {
    // The bank's files may include some that the loader has not met yet.
    Dataset bank = seeded_subset(data_.train, kCurveBankImages, 1),
            query = seeded_subset(data_.eval, kCurveQueryImages, 2);
    skipping_bad_images(bad_, {&query, &bank}, [&] {
      curve_bank_ = std::make_unique<Dataset>(decoded_if_small(bank, side_));
      curve_query_ = std::make_unique<Dataset>(decoded_if_small(query, side_));
    });
  }
  last_step_ = step;
  last_seconds_ = train_seconds;
  EvalFigures f;
  skipping_bad_images(bad_, {curve_query_.get(), curve_bank_.get()}, [&] {
    f = evaluate_model(model, *curve_bank_, *curve_query_, side_, norm_, cfg_.knn_k, cfg_.classes, stream_);
  });
  MetricsLine line = {{"step", double(step)},
                      {"epoch", double(step) / double(steps_per_epoch)},
                      {"train_seconds", train_seconds},
                      {names::kEvalKnnTop1, f.knn_top1}};
  if (f.kmeans_done) line.push_back({names::kEvalKmeansAcc, f.kmeans.acc});
  if (f.clustered) line.insert(line.end(), {{names::kEvalAcc, f.cluster.acc}, {names::kEvalNmi, f.cluster.nmi}});
  if (!f.heads.empty()) line.push_back({"chosen_head", double(model->chosen_head())});
  for (size_t k = 0; k < f.heads.size(); ++k) {
    const std::string head = "head" + std::to_string(k) + "_";
    line.insert(line.end(), {{head + "loss", model->head_loss[int64_t(k)].item<double>()},
                             {head + "acc", f.heads[k].acc},
                             {head + "nmi", f.heads[k].nmi}});
  }
  return line;
}

namespace {

// Each C-class head's training loss and figures, and which one was used.
void record_heads(TwistModel& model, const EvalFigures& f, TrainSummary& summary) {
  if (model->num_heads() < 2) return;
  summary.chosen_head = model->chosen_head();
  const auto loss = model->head_loss.cpu();
  for (int64_t k = 0; k < model->num_heads(); ++k) {
    TrainSummary::Head h;
    h.loss = loss[k].item<double>();
    if (size_t(k) < f.heads.size()) {
      h.acc = f.heads[size_t(k)].acc;
      h.nmi = f.heads[size_t(k)].nmi;
    }
    summary.heads.push_back(h);
  }
}

}  // namespace

EvalRates RunEvaluator::measure_rates(TwistModel& model) {
  Dataset sample = seeded_subset(data_.eval.size() > 0 ? data_.eval : data_.train, kEvalRateImages, /*stream=*/5);
  EvalRates r;
  skipping_bad_images(bad_, {&sample},
                      [&] { r = measure_eval_rates(model, sample, side_, norm_, cfg_.classes, stream_); });
  return r;
}

ClusterReadout RunEvaluator::choose_readout(TwistModel& model) {
  ClusterReadout r;
  Dataset images = readout_images(data_.train);
  skipping_bad_images(bad_, {&images}, [&] {
    r = choose_cluster_readout(model, images, side_, norm_, cfg_.classes, cfg_.cluster_readout, stream_);
  });
  return r;
}

void RunEvaluator::final(TwistModel& model, TrainSummary& summary, Communicator* comm, const ClusterReadout* readout) {
  Dataset &query = data_.eval, &bank = data_.train;  // sifted in place where a file does not decode
  StreamOptions stream = stream_;
  stream.comm = comm;
  const bool speaks = !comm || comm->rank() == 0;
  if (speaks)
    std::fprintf(stderr, "twist: evaluating on %s (%lld images%s)\n", query.name.c_str(), (long long)query.size(),
                 comm ? (", embedded by " + std::to_string(comm->world_size()) + " ranks").c_str() : "");
  EvalFigures f;
  skipping_bad_images(bad_, {&query, &bank}, [&] {
    f = evaluate_model(model, bank, query, side_, norm_, cfg_.knn_k, cfg_.classes, stream, /*whitened_knn=*/true,
                       readout);
  });
  KnnOptions ko;
  ko.k = cfg_.knn_k;
  ko.num_classes = std::max(bank.num_classes, query.num_classes);
  summary.evaluated = true;
  summary.eval_split = data_.eval_name;
  summary.knn_top1 = f.knn_top1;
  summary.knn_top5 = f.knn_top5;
  summary.knn_top1_whitened = f.knn_top1_whitened;
  if (pixel_baselines_fit(bank, query, side_)) {
    summary.pixel_knn_top1 = pixel_knn_top1(bank, query, side_, ko, nullptr, stream);
    summary.centered_pixel_knn_top1 = pixel_knn_top1(bank, query, side_, ko, &norm_, stream);
  } else if (speaks) {
    std::fprintf(stderr, "twist: pixel baselines skipped: %s and %s hold %lld MiB of pixels, above %lld MiB\n",
                 bank.name.c_str(), query.name.c_str(), (long long)(pixel_baseline_bytes(bank, query, side_) >> 20),
                 (long long)(in_memory_limit_bytes() >> 20));
  }
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
    summary.head_acc = f.head_cluster.acc;
    summary.head_nmi = f.head_cluster.nmi;
  }
  record_heads(model, f, summary);
}

}  // namespace twist
