#pragma once
// Evaluation of what TWIST learned: kNN on backbone features, and the
// unsupervised-classification metrics of the head's argmax (NMI, AMI, ARI,
// accuracy after Hungarian matching).
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "twist/data.h"
#include "twist/feature_bank.h"
#include "twist/models.h"

namespace twist {

struct Embeddings {
  torch::Tensor features;  // N x d backbone features
  torch::Tensor logits;    // N x C head outputs
};

// Backbone features (eval mode, no gradient) of uint8 images N x C x H x W,
// normalized first; the module's train/eval mode is restored after.
torch::Tensor backbone_features(Backbone backbone, const torch::Tensor& images_u8, const Normalization& norm,
                                int64_t batch_size = 500);

// Runs the model in eval mode over un-augmented, normalized images.
Embeddings embed(TwistModel& model, const Dataset& data, const Normalization& norm, int64_t batch_size = 500);

// One batch of each (eval mode, no gradient, on the module's device,
// returned on the host; the module's mode is restored after).
torch::Tensor backbone_batch_features(Backbone backbone, const torch::Tensor& images_u8, const Normalization& norm);
torch::Tensor head_batch_logits(TwistModel& model, const torch::Tensor& features);
// The same through C-class head `k` (TwistModel::cluster_head).
torch::Tensor head_batch_logits(TwistModel& model, const torch::Tensor& features, int64_t k);
// At most `n` images of `d`, drawn with a fixed seed and `stream`: the same
// ones for every run of the data set (in their order in `d`).
Dataset seeded_subset(const Dataset& d, int64_t n, uint64_t stream);
// N x d rows scaled to unit length, float32 (cosine similarity as a product).
torch::Tensor unit_rows(const torch::Tensor& x);

// --- streamed evaluation: data sets (image folders) of any size -------------
class Communicator;
struct StreamOptions {
  int64_t batch_size = 256;
  int64_t bank_budget_bytes = kFeatureBankBudgetBytes;  // per bank in memory; past it, a temporary file
  std::string spill_dir;                                // empty: $TMPDIR, else /tmp
  // A distributed run's ranks, all making the same calls: each embeds every
  // world-th batch and every rank gets every batch's rows, in order.
  Communicator* comm = nullptr;
};

// Calls rows(images) on the evaluation images (eval_images at `side`) of
// consecutive batches and sink(those rows) in batch order: `parts` tensors
// of one row per image each (any columns, float32 on the way; an int64
// part comes back exact below 2^24). With options.comm, rank r computes
// batches r, r + world, ... and the rows of every batch reach every rank's
// sink, gathered round by round (memory: a round's rows); a file that does
// not decode on one rank is an ImageError on every rank.
void for_each_embedded_batch(const Dataset& data, int64_t side, const StreamOptions& options, size_t parts,
                             const std::function<std::vector<torch::Tensor>(const torch::Tensor& images_u8)>& rows,
                             const std::function<void(const std::vector<torch::Tensor>& rows)>& sink);

// The rows `features` makes of each batch of the data set's evaluation
// images (eval_images at `side`), appended to a bank: for an image folder,
// memory for two batches of pixels and the bank's budget, whatever the size
// of the folder; an in-memory set's bank stays in memory (no budget).
FeatureBank stream_features(const Dataset& data, int64_t side,
                            const std::function<torch::Tensor(const torch::Tensor& images_u8)>& features,
                            const StreamOptions& options = {});

struct StreamedEmbeddings {
  FeatureBank features;  // N x d backbone features
  torch::Tensor argmax;  // N: the head's highest-scoring output (int64)
  torch::Tensor top5;    // N x min(5, C): its highest-scoring outputs, best first (int64)
  // cluster_heads >= 2: N x heads, every C-class head's argmax (int64).
  torch::Tensor heads_argmax;
};
// The backbone's features and the head's rankings, streamed. Throws
// twist::Error for an empty set.
StreamedEmbeddings embed_streamed(TwistModel& model, const Dataset& data, int64_t side, const Normalization& norm,
                                  const StreamOptions& options = {});

// Flattened pixels in [0, 1] of a batch of uint8 images, and the same
// normalized per channel (the pixel baselines, streamed).
torch::Tensor pixel_batch_features(const torch::Tensor& images_u8);
torch::Tensor centered_pixel_batch_features(const torch::Tensor& images_u8, const Normalization& norm);

// Flattened pixels in [0, 1]: the raw-pixel baseline pretraining must beat.
torch::Tensor pixel_features(const Dataset& data);
// The same, minus the per-channel mean and over the standard deviation (for
// cosine similarity a stronger baseline than raw pixels).
torch::Tensor centered_pixel_features(const Dataset& data, const Normalization& norm);

struct KnnOptions {
  int64_t k = 20;
  double temperature = 0.07;  // votes weighted by exp(cos / T); <= 0: plain majority vote
  int64_t num_classes = 0;    // 0: 1 + the largest label
  // Queries and bank rows compared at once: query_chunk x bank_chunk
  // similarities in memory, a running top-k per query across bank chunks.
  int64_t query_chunk = 1024, bank_chunk = 8192;
  // Whiten bank and queries with the bank's mean and covariance before the
  // cosine (ZCA, eigenvalues floored at whiten_eps x the largest): every
  // direction of the features counts, not only the few of largest variance.
  bool whiten = false;
  double whiten_eps = 1e-4;
};

struct KnnResult {
  double top1 = 0, top5 = 0;
};

// ZCA whitening fitted on a bank's rows: apply(x) = (x - mean) W with W =
// V diag((e + eps * max e)^-1/2) V^T from the covariance's eigenvalues e and
// eigenvectors V. Fitted in one chunked pass (memory d x d, whatever the
// number of rows); throws twist::Error for fewer than two rows.
struct Whitening {
  torch::Tensor mean;    // d
  torch::Tensor matrix;  // d x d
  static Whitening fit(const FeatureBank& rows, double eps = 1e-4, int64_t chunk = 8192);
  torch::Tensor apply(const torch::Tensor& x) const;
};

// Cosine k-nearest-neighbour classification of `query` against `bank`.
KnnResult knn_classify(const torch::Tensor& bank, const torch::Tensor& bank_labels, const torch::Tensor& query,
                       const torch::Tensor& query_labels, const KnnOptions& options = {});
// The same over banks (in memory or spilled to disk), read chunk by chunk.
KnnResult knn_classify(const FeatureBank& bank, const torch::Tensor& bank_labels, const FeatureBank& query,
                       const torch::Tensor& query_labels, const KnnOptions& options = {});

// Maximum-weight one-to-one assignment (Kuhn-Munkres) for a rectangular
// matrix given row-major as rows x cols. Returns, for each row, its column
// or -1 when the row is left unmatched (rows > cols).
std::vector<int64_t> hungarian_max(const std::vector<double>& weights, int64_t rows, int64_t cols);

struct ClusterMetrics {
  double nmi = 0;  // normalized mutual information, arithmetic mean of entropies
  double ami = 0;  // adjusted for chance (expected MI under the permutation model)
  double ari = 0;  // adjusted Rand index
  double acc = 0;  // accuracy after optimal one-to-one cluster-to-class matching
  int64_t clusters_used = 0;
  std::vector<int64_t> mapping;  // cluster -> class (-1 when unmatched)
};

// pred: N cluster ids in [0, num_clusters); labels: N class ids.
ClusterMetrics cluster_metrics(const torch::Tensor& pred, const torch::Tensor& labels);

// Scores one k-means fit: its N cluster ids and its inertia (the sum over
// rows of 1 - cos to their centre); the highest-scoring restart is kept.
using KmeansScore = std::function<double(const torch::Tensor& assignment, double inertia)>;
constexpr int64_t kKmeansIterations = 100;
// Fits of spherical_kmeans unless a caller asks for another number.
constexpr int64_t kKmeansRestarts = 5;

// Spherical k-means (cosine) of N x d features into k clusters: k-means++
// seeding, Lloyd iterations until no assignment changes (at most
// `iterations`), the best of `restarts` fits by `score` (none: the lowest
// inertia). Returns N cluster ids (int64); the same for the same seed, and
// the first restart is the fit that `restarts` 1 gives. A read-out of the
// backbone's clusters independent of the head (twist eval cluster --method kmeans).
torch::Tensor spherical_kmeans(const torch::Tensor& features, int64_t k, uint64_t seed = 0,
                               int64_t restarts = kKmeansRestarts, int64_t iterations = kKmeansIterations,
                               const KmeansScore& score = {});
// The same over a feature bank of any size (streamed evaluation), read
// `chunk_rows` at a time (0: about 64 MiB); k-means++ seeds on every row
// of a bank of at most `seed_rows`, else on that many drawn at random (0:
// 50,000 rows or 64 MiB of them, whichever is fewer, and at least k).
// Memory beyond the centres: one chunk, the seeding rows, N cluster ids.
torch::Tensor spherical_kmeans(const FeatureBank& bank, int64_t k, uint64_t seed = 0,
                               int64_t restarts = kKmeansRestarts, int64_t iterations = kKmeansIterations,
                               int64_t chunk_rows = 0, int64_t seed_rows = 0, const KmeansScore& score = {});

// Top-k accuracy of the head after the cluster -> class mapping: a sample
// counts when one of its k highest-scoring clusters maps to its label.
double mapped_topk_accuracy(const torch::Tensor& logits, const torch::Tensor& labels,
                            const std::vector<int64_t>& mapping, int64_t k);
// The same from each sample's highest-scoring clusters (N x k int64, as
// StreamedEmbeddings::top5 holds them).
double mapped_ranked_accuracy(const torch::Tensor& ranked, const torch::Tensor& labels,
                              const std::vector<int64_t>& mapping);

// --- diagnostics of the paper's figures ------------------------------------

// Fig. 5: cosine similarities of same-class and different-class pairs.
// Histograms are fractions of their pairs per bin over [-1, 1]; `overlap` is
// the shared area, sum_b min(same_b, different_b) (0: separable, 1: identical).
struct SimilarityHistograms {
  std::vector<double> edges;  // bins + 1 values from -1 to 1
  std::vector<double> same, different;
  double overlap = 0;
  double same_mean = 0, different_mean = 0;
  int64_t same_pairs = 0, different_pairs = 0;
};
// All pairs i < j among at most `max_samples` samples (a seeded subset:
// similarity_sample's rows).
SimilarityHistograms similarity_histograms(const torch::Tensor& features, const torch::Tensor& labels,
                                           int64_t bins = 50, int64_t max_samples = 4000, uint64_t seed = 0);

// Fig. 3: standard deviation of the pre-softmax outputs (N x C) along a row
// (over the C classes of one sample) and along a column (over the N samples
// for one class), each averaged. Population standard deviation.
struct OutputSpread {
  double row_std = 0, col_std = 0;
};
OutputSpread output_spread(const torch::Tensor& logits);
// The same summed batch by batch (in float64), for a data set of any size.
class OutputSpreadSum {
 public:
  void add(const torch::Tensor& logits);
  OutputSpread result() const;

 private:
  int64_t n_ = 0;
  double row_std_sum_ = 0;
  torch::Tensor col_sum_, col_square_sum_;  // per class
};

// The rows (of n) similarity_histograms compares: all of them when n is at
// most `max_samples`, else that many drawn with `seed`, in the order drawn.
torch::Tensor similarity_sample(int64_t n, int64_t max_samples, uint64_t seed = 0);

}  // namespace twist
