#pragma once
// Which partition a run reports as its clusters: the head's argmax, or
// spherical k-means of the backbone's features, chosen without labels by
// how well each agrees with the features' nearest neighbours and how evenly
// it fills its clusters.
//
// The head's partition is what TWIST trains; on some data (docs/recipe.md,
// twenty-second round: generated digits) it merges classes that the
// backbone's features keep apart, and k-means on those features finds them.
// The chance-corrected share of each image's k nearest neighbours (cosine)
// that fall in its own cluster measures, on unlabeled images, how well a
// partition follows the features' own neighbourhoods; each partition's
// score is that agreement less a small charge for unequal cluster sizes
// (readout_score); k-means is taken when it removes at least a quarter of
// the head's shortfall from a perfect score (near-ties went either way on
// the validation runs, and there the head was the better partition). The
// choice, its agreements and balances and k-means' centres are saved in the
// run directory (cluster_readout.json, cluster_centres.npy) for twist eval
// cluster and twist predict.
#include <torch/torch.h>

#include <optional>
#include <string>

#include "twist/data.h"
#include "twist/eval.h"
#include "twist/feature_bank.h"
#include "twist/models.h"

namespace twist {

struct ClusterReadout {
  std::string method = "head";  // "head" or "kmeans"
  double head_agreement = -1;   // neighbour_agreement of each partition
  double kmeans_agreement = -1;
  double head_balance = -1;  // cluster_balance of each (-1: not measured, or a run saved before it)
  double kmeans_balance = -1;
  int64_t images = 0;     // unlabeled training images the choice was made on
  torch::Tensor centres;  // "kmeans": C x d unit rows (float32)
  bool kmeans() const { return method == "kmeans"; }
};

// The share of the k nearest neighbours (cosine, oneself left out) of each
// row of `features` (N x d) that lie in its own cluster (`clusters`, N ids),
// corrected for chance as Cohen's kappa: (observed - expected) / (1 -
// expected), expected = the sum of the squared cluster shares. 1 when every
// neighbourhood stays in one cluster, about 0 for a partition that ignores
// the features. Needs N > k.
double neighbour_agreement(const torch::Tensor& features, const torch::Tensor& clusters, int64_t k = 10);
// The same in two steps, so that several partitions share one search: each
// row's k nearest other rows by cosine (N x k int64), then the agreement of
// `clusters` with them.
torch::Tensor nearest_neighbours(const torch::Tensor& features, int64_t k);
double agreement_with_neighbours(const torch::Tensor& neighbours, const torch::Tensor& clusters);
// The neighbours the read-out's choice counts.
constexpr int64_t kReadoutNeighbours = 10;

// How evenly `clusters` (N ids in [0, k)) fill k clusters: the entropy of
// their shares over ln k, 1 when all k hold as many, 0 when one holds all.
double cluster_balance(const torch::Tensor& clusters, int64_t k);

// A partition's read-out score: its neighbour agreement less
// kReadoutBalanceWeight x (1 - its cluster_balance). Where the features
// separate the classes almost perfectly, a k-means partition that merges
// two classes and splits a third into uneven parts agreed with the
// neighbours as well as the right one, or better, and was chosen on
// agreement alone (docs/recipe.md, twenty-ninth round: a digits run read
// out at 0.857 where the head held 0.933). TWIST's own loss asks the head
// for equally full classes (its mean-entropy term), so the charge mostly
// tells apart partitions that agree about as well. On 22 validation runs
// it changed one choice of twist's read-out (0.857 -> 0.933) and three of
// a numpy port's, each for the better; on the same features with the
// classes made unequal (the largest five times the smallest) it changed
// none (same round). A partition that follows unequal classes exactly pays
// 0.010 at five times, 0.057 at a hundred times (ten geometric classes).
constexpr double kReadoutBalanceWeight = 0.2;
double readout_score(double agreement, double balance);

// Spherical k-means of `features` into `clusters` with `fits` restarts
// (seeded by `seed`), of which the one of highest readout_score against
// `neighbours` (nearest_neighbours of the same rows) is kept: the read-out's
// k-means. Chosen by the score that already picks between the head and
// k-means, not by inertia: restarts land in partitions of different
// accuracy, and the lowest inertia did not reliably find the better ones
// (docs/recipe.md, twenty-sixth round: on the harder digits, where k-means
// is the read-out, 0.881 +- 0.051 held-out accuracy as the lowest inertia of
// 5, 0.936 +- 0.001 as the most agreeing of 20). Fifty restarts, not
// twenty: twenty missed the good partition of one harder digits run (its
// clusters 0.829 against 0.961 with fifty; twenty-seventh round).
struct KmeansFit {
  torch::Tensor clusters;  // N ids
  double agreement = -1;   // agreement_with_neighbours of them
  double balance = -1;     // cluster_balance of them
  double score() const { return readout_score(agreement, balance); }
};
KmeansFit readout_kmeans(const torch::Tensor& features, const torch::Tensor& neighbours, int64_t clusters,
                         uint64_t seed, int64_t fits);
constexpr int64_t kReadoutKmeansFits = 50;

// The unit-length mean direction of each cluster's unit rows (k x d); an
// empty cluster's centre is a zero row (nothing is ever nearest to it).
torch::Tensor cluster_centres(const torch::Tensor& features, const torch::Tensor& clusters, int64_t k);

// Each row's `k` nearest centres by cosine, nearest first (N x k int64 ids),
// the bank read chunk by chunk.
torch::Tensor nearest_centres(const FeatureBank& features, const torch::Tensor& centres, int64_t k = 1);

// Fewer unlabeled images per cluster than this and the head is kept.
constexpr int64_t kMinImagesPerCluster = 20;

// k-means replaces the head when it removes at least this share of the
// head's shortfall from a perfect readout_score: 1 - s_kmeans <= (1 - 0.25) (1 - s_head).
constexpr double kKmeansDisagreementShare = 0.25;
bool kmeans_clearly_better(double head_score, double kmeans_score);

// `mode` "head" keeps the head; "kmeans" takes k-means into `clusters`
// clusters (readout_kmeans of kReadoutKmeansFits fits, seeded); "auto" takes k-means when kmeans_clearly_better
// by their readout_score on these images. `features`: N x d backbone features of unlabeled images,
// `head_clusters` their head argmax; fewer than kMinImagesPerCluster x `clusters` of them keep the head.
ClusterReadout choose_cluster_readout(const torch::Tensor& features, const torch::Tensor& head_clusters,
                                      int64_t clusters, const std::string& mode, uint64_t seed = 0);

// The training images a run's read-out is chosen on: kReadoutImages of
// them, seeded (the same for every run of the data set).
constexpr int64_t kReadoutImages = 10000;
Dataset readout_images(const Dataset& train);
// The same choice for a model: its features and head argmax on `images`
// (readout_images of the training set; labels unused), embedded at `side`.
// Mode "head" and too few images embed nothing.
ClusterReadout choose_cluster_readout(TwistModel& model, const Dataset& images, int64_t side, const Normalization& norm,
                                      int64_t clusters, const std::string& mode, const StreamOptions& stream = {});

// cluster_readout.json (and, for k-means, cluster_centres.npy) in `dir`.
void save_cluster_readout(const std::string& dir, const ClusterReadout& r);
// What save_cluster_readout wrote, or nothing for a run without it (runs
// from before the choice: the head). Throws twist::Error naming the file
// when it is unreadable or does not match.
std::optional<ClusterReadout> load_cluster_readout(const std::string& dir);

}  // namespace twist
