// budget_covers "all": the work after training, measured and counted (eval_cost.h).
#include "eval_cost.h"

#include <algorithm>
#include <chrono>

#include "run_eval.h"
#include "twist/cluster_readout.h"
#include "twist/random.h"
#include "twist/report.h"

namespace twist {
namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point kStarted = Clock::now();

double seconds_of(const std::function<void()>& work) {
  const auto t0 = Clock::now();
  work();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// kNN of `queries` random rows against `bank` random rows of width `dim`:
// seconds per pair (the similarities and the running top-k).
double knn_pair_seconds(int64_t dim, int64_t classes, at::Generator& gen) {
  constexpr int64_t bank = 4096, queries = 512;
  const auto b = torch::randn({bank, dim}, gen), q = torch::randn({queries, dim}, gen);
  const auto bl = torch::randint(classes, {bank}, gen, torch::kInt64),
             ql = torch::randint(classes, {queries}, gen, torch::kInt64);
  KnnOptions ko;
  ko.num_classes = classes;
  return seconds_of([&] { knn_classify(b, bl, q, ql, ko); }) / double(bank * queries);
}

}  // namespace

EvalRates measure_eval_rates(TwistModel& model, const Dataset& sample, int64_t side, const Normalization& norm,
                             int64_t classes, const StreamOptions& stream) {
  EvalRates r;
  const double n = double(sample.size());
  torch::Tensor features;
  r.embed = seconds_of([&] { features = embed_streamed(model, sample, side, norm, stream).features.all(); }) / n;
  r.pixels = seconds_of([&] { stream_features(sample, side, pixel_batch_features, stream); }) / n;
  at::Generator gen = make_generator(/*seed=*/20261207, /*stream=*/0);
  const int64_t k = std::max<int64_t>(classes, 2);
  // A file-backed set's images come at `side`, an in-memory set's at their own size.
  r.pair_pixels = knn_pair_seconds(sample.channels() * sample.height() * sample.width(), k, gen);
  r.pair_features = knn_pair_seconds(features.size(1), k, gen);
  constexpr int64_t restarts = 2;
  r.kmeans_row = seconds_of([&] { spherical_kmeans(features, std::min<int64_t>(k, features.size(0)), 0, restarts); }) /
                 (n * restarts);
  return r;
}

EvalWork after_training_work(const TrainConfig& config, const Dataset& train, const Dataset& eval, int64_t side,
                             bool evaluated, int world) {
  EvalWork w;
  const double readout = double(std::min(kReadoutImages, train.size()));
  if (config.cluster_readout != "head") {
    w.embedded += readout;
    w.feature_pairs += readout * readout;  // its neighbours
    w.kmeans_rows += readout * double(kReadoutKmeansFits);
  }
  const double bank = double(train.size()), query = double(eval.size()), ranks = double(std::max(world, 1));
  if (config.eval && evaluated) {
    w.embedded += (bank + query) / ranks;
    w.feature_pairs += 2 * bank * query;               // plain and whitened
    w.kmeans_rows += query * double(kKmeansRestarts);  // evaluate_model's k-means
    if (pixel_baselines_fit(train, eval, side)) {
      w.pixel_rows += 2 * (bank + query) / ranks;  // raw and normalized
      w.pixel_pairs += 2 * bank * query;
    }
  }
  if (config.report && query > 0) w.embedded += std::min(double(ReportOptions{}.max_images), query);
  return w;
}

double eval_seconds(const EvalRates& r, const EvalWork& w) {
  return kEvalCostMargin * (r.embed * w.embedded + r.pixels * w.pixel_rows + r.pair_pixels * w.pixel_pairs +
                            r.pair_features * w.feature_pairs + r.kmeans_row * w.kmeans_rows);
}

double seconds_since_start() { return std::chrono::duration<double>(Clock::now() - kStarted).count(); }

}  // namespace twist
