#pragma once
// The training loop and the run directory it writes (docs/design.md §5.8, §7):
// config.json, checkpoint.pt (atomic), metrics.jsonl, summary.json.
#include <torch/torch.h>

#include <string>
#include <vector>

#include <memory>
#include "twist/augment.h"
#include "twist/checkpoint.h"
#include "twist/config.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/io.h"
#include "twist/loss.h"

#include "twist/models.h"
#include "twist/optim.h"

namespace twist {

// What a training step is built from, read off a config; `twist bench` builds
// the same step from the same functions.
TwistModelOptions model_options(const TrainConfig& config, int64_t in_channels);
// The side of the local crops: local_size, or with 0 the paper's 96 for
// 224 scaled to `image_size` (12 for 28, 14 for 32, 41 for 96), at least
// 4 pixels and, for a ViT, one patch.
int64_t local_side(const TrainConfig& config, int64_t image_size);
// config.cluster_heads, or with 0 (auto) kAutoClusterHeads where the C-class
// head clusters (C <= kAutoHeadsMaxClasses) and trains with the TWIST loss
// alone (no momentum teacher, no self-labeling phase); 1 otherwise.
inline constexpr int64_t kAutoClusterHeads = 5;
inline constexpr int64_t kAutoHeadsMaxClasses = 100;
int64_t resolved_cluster_heads(const TrainConfig& config);
// config.stem, or with "auto" the ResNet stem that suits images of
// `image_side` pixels: "small" (3x3 stride 1, no max-pool, as for CIFAR)
// up to kSmallStemMaxSide, "imagenet" (7x7 stride 2 + max-pool: a quarter
// of the side) above, where a stride-1 stem works on 16 times the positions
// per image (96-pixel photo crops: 33-34 against 299-302 images/s, one
// thread each, docs/recipe.md, forty-third round). A side of 0 (not
// known) gives "small".
inline constexpr int64_t kSmallStemMaxSide = 64;
std::string resolved_stem(const TrainConfig& config, int64_t image_side);
// The two global views (and the local ones) at `image_size` / local_side.
// `self_label`: the harder crops of the self-labeling phase.
MultiCropOptions crop_options(const TrainConfig& config, int64_t image_size, bool self_label = false);
LarsOptions optimizer_options(const TrainConfig& config);
// Each of `model`'s parameters' LARS rule: optimizer_options' rules, and with
// head_lr > 0 every parameter outside the backbone unscaled at head_lr / lr.
std::vector<LarsRule> optimizer_rules(const TrainConfig& config, TwistModel& model);
// The configured optimizer (lars, sgd or adamw) over `model`'s parameters.
std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& config, TwistModel& model);
TwistLossOptions loss_options(const TrainConfig& config);
// runs/<date>-<time>: where a run goes without --out.
std::string default_run_dir();
// The main phase's length in epochs for a training set of `images`:
// config.epochs, or with epochs 0 (auto) max(4, ceil(min_images / images)).
double resolved_epochs(const TrainConfig& config, int64_t images);
// The first steps of an invocation, which throughput figures leave out
// (allocator and cache warm-up).
inline constexpr int64_t kUntimedSteps = 3;
// --budget-minutes: the run times this many steps after the untimed ones,
// then sizes itself with budgeted_main_steps.
inline constexpr int64_t kBudgetTimedSteps = 20;
// The main phase's length under a budget of `budget_s` seconds when the
// `done` steps so far took `spent_s` and each next one takes
// `seconds_per_step`: as many as fit with the `sl_total` self-labeling steps
// after them, never more than the planned `main_total`, never fewer than `done`.
int64_t budgeted_main_steps(double budget_s, double spent_s, double seconds_per_step, int64_t done, int64_t main_total,
                            int64_t sl_total);
// The warm-up of a main phase that a budget cut from `planned` steps to
// `main_total`: it keeps its share of the run, `warmup` steps of `planned`,
// but never ends before the `done` steps already taken, nor grows.
int64_t budgeted_warmup_steps(int64_t warmup, int64_t done, int64_t main_total, int64_t planned);
// With flip_p -1 (auto), sets it from the mirror check of `sample`, images
// of the training set (twist/mirror_check.h); `say`: tells stderr the
// outcome. Any other flip_p is left as given.
void resolve_flip(TrainConfig& config, const torch::Tensor& sample, bool say);
// With rotation or shear -1 (auto), sets them from the rotation check of
// `sample` (twist/rotation_check.h), as resolve_flip does the flip.
void resolve_rotation_and_shear(TrainConfig& config, const torch::Tensor& sample, bool say);
// Whether any of flip, rotation and shear is still auto (-1): the views
// that a sample of the training images must decide.
bool auto_views_pending(const TrainConfig& config);
// The training set's normalization (twist/data.h) and the resolved flip
// rotation and shear where they are auto (-1), from one sample: a folder's images
// are decoded once for all, a set in memory is sampled only for the checks.
Normalization statistics_and_auto_views(TrainConfig& config, const Dataset& train, BadImages* bad, bool say);

// Sets LibTorch's intra-op thread count: `requested`, or when 0 the
// machine's cores shared among the processes that run on it. Returns it.
int64_t use_threads(int64_t requested, int processes_per_machine = 1);

struct TrainSummary {
  int64_t steps = 0;
  int64_t skipped_steps = 0;   // steps skipped for a non-finite loss or gradient (skip_nonfinite)
  int64_t skipped_images = 0;  // image files that did not decode, skipped (skip_bad_images)
  double epochs = 0;
  double images_per_s = 0;
  double final_loss = 0;
  double train_seconds = 0;
  std::string eval_split;  // "test", "val" or "" when not evaluated
  bool evaluated = false;
  double knn_top1 = -1, knn_top5 = -1;
  double knn_top1_whitened = -1;            // the same on whitened features (eval.h, Whitening)
  double pixel_knn_top1 = -1;               // raw pixels in [0, 1]
  double centered_pixel_knn_top1 = -1;      // pixels normalized per channel
  double kmeans_acc = -1, kmeans_nmi = -1;  // spherical k-means of the backbone's features, k = classes
  bool clustered = false;
  double nmi = 0, ami = 0, ari = 0, acc = 0;  // the run's clusters (cluster_readout's)
  int64_t clusters_used = 0;
  double head_acc = 0, head_nmi = 0;  // the head's argmax, the same as acc and nmi when it is the read-out
  // The read-out chosen at the end (twist/cluster_readout.h): "head" or
  // "kmeans", and each partition's neighbour agreement and cluster balance
  // (-1: not measured).
  std::string cluster_readout = "head";
  double head_agreement = -1, kmeans_agreement = -1, head_balance = -1, kmeans_balance = -1;
  // cluster_heads >= 2: each C-class head's training loss (moving average)
  // and, when clustered, its figures; the figures above are chosen_head's.
  struct Head {
    double loss = 0, acc = -1, nmi = -1;
  };
  std::vector<Head> heads;
  int64_t chosen_head = 0;
  int64_t collapse_step = 0;          // the logged step where the collapse warning fired, else 0
  std::string collapse_warning;       // its message
  std::vector<std::string> restarts;  // why each earlier attempt of this run was restarted (collapse_restarts)
  bool stopped_early = false;         // stop_after_steps or a signal: resumable
  int signal = 0;                     // the SIGINT/SIGTERM that stopped the run, else 0
  std::string run_dir;
  int rank = 0;  // distributed runs: only rank 0 wrote the run directory and evaluated
  std::string to_json() const;
};

// Thrown by train() when a collapse persists past the warm-up and
// config.collapse_restarts > 0: the attempt is worthless, the caller may
// start again with safer settings (train_with_restarts).
struct CollapseRestart : Error {
  CollapseRestart(int64_t step, const std::string& why, bool flat) : Error(why), step(step), flat(flat) {}
  int64_t step;
  bool flat;  // every image's distribution flat, rather than every image in few classes
};

// Trains per `config`, writing the run directory. With `resume`, continues
// the run in config.out from its checkpoint. `restarts`: why earlier
// attempts of this run were restarted, for its summary.
TrainSummary train(TrainConfig config, bool resume, const std::vector<std::string>& restarts = {});
// train(), restarting a run whose predictions collapse after the warm-up
// from scratch at half the learning rate (and, after a flat collapse with
// temperature_mode "all", with the temperature on the entropies only), at
// most config.collapse_restarts times; each collapsed attempt's
// metrics.jsonl is kept as metrics.collapsed-N.jsonl.
TrainSummary train_with_restarts(TrainConfig config, bool resume);

}  // namespace twist
