#pragma once
// Evaluation of what TWIST learned: kNN on backbone features, and the
// unsupervised-classification metrics of the head's argmax (NMI, AMI, ARI,
// accuracy after Hungarian matching).
#include <torch/torch.h>

#include <vector>

#include "twist/data.h"
#include "twist/models.h"

namespace twist {

struct Embeddings {
  torch::Tensor features;  // N x d backbone features
  torch::Tensor logits;    // N x C head outputs
};

// Runs the model in eval mode over un-augmented, normalized images.
Embeddings embed(TwistModel& model, const Dataset& data, const Normalization& norm,
                 int64_t batch_size = 500);

// Flattened pixels in [0, 1]: the raw-pixel baseline pretraining must beat.
torch::Tensor pixel_features(const Dataset& data);
// The same, minus the per-channel mean and over the standard deviation (for
// cosine similarity a stronger baseline than raw pixels).
torch::Tensor centered_pixel_features(const Dataset& data, const Normalization& norm);

struct KnnOptions {
  int64_t k = 20;
  double temperature = 0.07;  // votes weighted by exp(cos / T); <= 0: plain majority vote
  int64_t num_classes = 0;    // 0: 1 + the largest label
};

struct KnnResult {
  double top1 = 0, top5 = 0;
};

// Cosine k-nearest-neighbour classification of `query` against `bank`.
KnnResult knn_classify(const torch::Tensor& bank, const torch::Tensor& bank_labels,
                       const torch::Tensor& query, const torch::Tensor& query_labels,
                       const KnnOptions& options = {});

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

}  // namespace twist
