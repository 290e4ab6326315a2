#pragma once
// A run's evaluation on its held-out split: kNN on the backbone's features
// against the labelled training images, and the head's argmax as clusters
// when C equals the number of classes. At the end of a run on the whole
// sets (with the pixel baselines, into summary.json); during it, with
// --eval-every, on fixed seeded subsets (into metrics.jsonl: learning curves).
#include <cstdint>
#include <memory>
#include <string>

#include "eval_cost.h"
#include "step_log.h"
#include "twist/bad_images.h"
#include "twist/cluster_readout.h"
#include "twist/config.h"
#include "twist/data.h"
#include "twist/eval.h"
#include "twist/models.h"
#include "twist/train.h"

namespace twist {

struct EvalFigures {
  double knn_top1 = -1, knn_top5 = -1;
  double knn_top1_whitened = -1;  // the same kNN on whitened features (KnnOptions::whiten)
  bool kmeans_done = false;
  ClusterMetrics kmeans;  // spherical k-means of the query's features, k = the number of classes
  bool clustered = false;
  ClusterMetrics cluster;             // the read-out's clusters (the head's argmax unless k-means), when C = classes
  ClusterMetrics head_cluster;        // the head's argmax, when clustered
  std::vector<ClusterMetrics> heads;  // each C-class head's (cluster_heads >= 2), when clustered
};

// kNN (k, cosine, weighted votes) of `query` against `bank` (and on whitened
// features too with `whitened_knn`, as at the end of a run), k-means of the
// query's backbone features into as many clusters as there are classes,
// and cluster metrics of the head's argmax on `query` when it has as many
// classes as the labels (with `readout` k-means: the query's nearest
// centres, the head's argmax in head_cluster). Both sets labelled, in memory or file-backed
// (decoded at `side`), streamed batch by batch into feature banks.
EvalFigures evaluate_model(TwistModel& model, const Dataset& bank, const Dataset& query, int64_t side,
                           const Normalization& norm, int64_t knn_k, int64_t classes, const StreamOptions& stream = {},
                           bool whitened_knn = false, const ClusterReadout* readout = nullptr);

// kNN top-1 on raw pixels in [0, 1] (`centre` null) or on pixels normalized
// by `centre`, streamed: the baselines pretraining must beat.
double pixel_knn_top1(const Dataset& bank, const Dataset& query, int64_t side, const KnnOptions& ko,
                      const Normalization* centre, const StreamOptions& stream = {});

// The largest subsets the evaluation during training uses (seeded, fixed
// for the run): the kNN bank of training images and the held-out queries.
constexpr int64_t kCurveBankImages = 10000;
constexpr int64_t kCurveQueryImages = 2000;

// Whether a run's final evaluation of `query` against `bank` computes the
// pixel baselines: their banks hold 12 bytes per pixel (float32 x 3
// channels), so they are kept to folders within the in-memory rule.
int64_t pixel_baseline_bytes(const Dataset& bank, const Dataset& query, int64_t side);
bool pixel_baselines_fit(const Dataset& bank, const Dataset& query, int64_t side);

class RunEvaluator {
 public:
  // Image folders of any size are streamed (`stream`: batch size, feature
  // banks' memory budget and spill directory). With `bad` (--skip-bad-images),
  // an image of the sets evaluated that does not decode is passed over and
  // counted there, as in training, not the end of the evaluation; final()
  // then leaves such files out of `data` itself (no copy of the sets' file
  // lists, which an ImageNet-sized folder makes large).
  RunEvaluator(TrainEvalSplits& data, int64_t image_size, const TrainConfig& config, const Normalization& norm,
               BadImages* bad = nullptr, const StreamOptions& stream = {});
  // Labelled held-out images and labelled training images; `reason` says
  // why not otherwise.
  bool possible() const { return possible_; }
  const std::string& reason() const { return reason_; }
  // --eval-every: due after `step` (steps or minutes of training since the
  // last evaluation during training)?
  bool due(int64_t step, double train_seconds) const;
  // Whether --eval-every or --eval-every-minutes asks for learning curves.
  bool curves() const { return possible_ && (cfg_.eval_every > 0 || cfg_.eval_every_minutes > 0); }
  // Evaluates on the subsets; the metrics.jsonl line of its figures.
  MetricsLine during(TwistModel& model, int64_t step, int64_t steps_per_epoch, double train_seconds);
  // Evaluates on the whole sets, pixel baselines included (for sets within
  // in_memory_limit_bytes() of pixels), into `summary`. With `comm`, every
  // rank of a distributed run calls it: each embeds its share of the
  // batches, and every rank gets the figures (rank 0 speaks).
  void final(TwistModel& model, TrainSummary& summary, Communicator* comm = nullptr,
             const ClusterReadout* readout = nullptr);
  // The run's cluster read-out (config.cluster_readout), chosen on up to
  // kCurveBankImages seeded training images, labels unused: possible
  // without held-out images or labels. Every rank computes the same.
  ClusterReadout choose_readout(TwistModel& model);
  // budget_covers all: the rates of the work after training (eval_cost.h),
  // timed on kEvalRateImages seeded held-out images (else training images),
  // passing over files that do not decode as the evaluation would.
  EvalRates measure_rates(TwistModel& model);

 private:
  TrainEvalSplits& data_;
  const TrainConfig& cfg_;
  Normalization norm_;
  int64_t side_;
  BadImages* bad_;
  StreamOptions stream_;
  bool possible_ = false;
  std::string reason_;
  std::unique_ptr<Dataset> curve_bank_, curve_query_;  // chosen (and decoded if small) at the first use
  int64_t last_step_ = 0;
  double last_seconds_ = 0;
};

}  // namespace twist
