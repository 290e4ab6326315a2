#pragma once
// budget_covers "all": what the work after a run's last step will cost (the
// cluster read-out, the final evaluation with its pixel baselines, the
// report), counted from the sets' sizes and from speeds measured on a few
// hundred images while the run trains, so that the budget can end the
// training early enough for all of it.
#include <cstdint>

#include "twist/config.h"
#include "twist/data.h"
#include "twist/eval.h"
#include "twist/models.h"

namespace twist {

// Seconds per unit of each kind of work after training.
struct EvalRates {
  double embed = 0;          // per image through the model (decoded, embedded, the heads' rankings)
  double pixels = 0;         // per image's pixels streamed into a pixel baseline's bank
  double pair_pixels = 0;    // per (bank row, query row) pair of kNN at the pixels' width
  double pair_features = 0;  // the same at the backbone features' width
  double kmeans_row = 0;     // per row of one k-means restart on the features
};

// How much of each kind there is.
struct EvalWork {
  double embedded = 0, pixel_rows = 0, pixel_pairs = 0, feature_pairs = 0, kmeans_rows = 0;
};

// Images measured: a seeded subset of the held-out split (else of the training set).
constexpr int64_t kEvalRateImages = 512;
// The estimate is the measured rates times the work, times this: the rates
// come from small sets, whose k-means converge sooner and whose banks fit
// caches that the whole sets' do not.
constexpr double kEvalCostMargin = 1.1;

// Times each kind of work on `sample` (at most kEvalRateImages images of the
// run's data, at `side`) with `model`, which it leaves in the mode it found
// (no gradients, no running statistics changed, the global random
// generator untouched). `classes`: the k-means' k.
EvalRates measure_eval_rates(TwistModel& model, const Dataset& sample, int64_t side, const Normalization& norm,
                             int64_t classes, const StreamOptions& stream);

// The work finish() and the report do for this run: the read-out on up to
// kReadoutImages training images, the final evaluation of `eval` against
// `train` (split among `world` ranks) where config.eval and `evaluated`,
// and the report's images where config.report.
EvalWork after_training_work(const TrainConfig& config, const Dataset& train, const Dataset& eval, int64_t side,
                             bool evaluated, int world);

// Seconds for `work` at `rates`, with kEvalCostMargin.
double eval_seconds(const EvalRates& rates, const EvalWork& work);

// Seconds since this process started (a static clock set as the library loads).
double seconds_since_start();

}  // namespace twist
