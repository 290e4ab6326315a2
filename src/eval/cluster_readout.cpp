// The run's cluster read-out: the head's argmax or k-means of the
// backbone's features, whichever scores higher by its agreement with the
// features' nearest neighbours and its balance (twist/cluster_readout.h).
#include "twist/cluster_readout.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "twist/error.h"
#include "twist/eval.h"
#include "twist/io.h"
#include "twist/npy.h"

namespace twist {
namespace {

constexpr int64_t kAgreementChunk = 1024;  // query rows per similarity block
const char* kReadoutFile = "cluster_readout.json";
const char* kCentresFile = "cluster_centres.npy";

}  // namespace

bool kmeans_clearly_better(double head_score, double kmeans_score) {
  return kmeans_score > head_score && 1 - kmeans_score <= (1 - kKmeansDisagreementShare) * (1 - head_score);
}

double cluster_balance(const torch::Tensor& clusters, int64_t k) {
  check(k >= 2 && clusters.dim() == 1 && clusters.size(0) >= 1, "cluster balance: needs N >= 1 ids and k >= 2");
  const torch::Tensor share =
      torch::bincount(clusters.to(torch::kInt64), {}, k).to(torch::kFloat64) / double(clusters.size(0));
  check(share.size(0) == k, "cluster balance: a cluster id is not below k = " + std::to_string(k));
  const torch::Tensor used = share.masked_select(share > 0);
  return std::max(0.0, -(used * used.log()).sum().item<double>() / std::log(double(k)));  // not -0 for one cluster
}

double readout_score(double agreement, double balance) { return agreement - kReadoutBalanceWeight * (1 - balance); }

torch::Tensor nearest_neighbours(const torch::Tensor& features, int64_t k) {
  check(features.dim() == 2, "neighbour agreement: features must be N x d");
  const int64_t n = features.size(0);
  check(k >= 1 && n > k,
        "neighbour agreement: needs more than k = " + std::to_string(k) + " rows, got " + std::to_string(n));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = unit_rows(features);
  std::vector<torch::Tensor> rows;
  for (int64_t begin = 0; begin < n; begin += kAgreementChunk) {
    const int64_t m = std::min(kAgreementChunk, n - begin);
    torch::Tensor sim = x.narrow(0, begin, m).matmul(x.t());
    sim.index_put_({torch::arange(m), torch::arange(begin, begin + m)}, -2.0f);  // not oneself
    rows.push_back(std::get<1>(sim.topk(k, 1)));
  }
  return torch::cat(rows);
}

double agreement_with_neighbours(const torch::Tensor& neighbours, const torch::Tensor& clusters) {
  check(neighbours.dim() == 2 && clusters.dim() == 1 && neighbours.size(0) == clusters.size(0),
        "neighbour agreement: N x k neighbours and N cluster ids");
  const torch::Tensor ids = clusters.to(torch::kInt64);
  const double n = double(ids.size(0));
  const double observed =
      ids.index({neighbours}).eq(ids.unsqueeze(1)).sum().item<double>() / (n * double(neighbours.size(1)));
  const double expected = (torch::bincount(ids).to(torch::kFloat64) / n).pow(2).sum().item<double>();
  return expected >= 1 ? 0.0 : (observed - expected) / (1 - expected);
}

double neighbour_agreement(const torch::Tensor& features, const torch::Tensor& clusters, int64_t k) {
  check(features.dim() == 2 && clusters.dim() == 1 && features.size(0) == clusters.size(0),
        "neighbour agreement: N x d features and N cluster ids");
  return agreement_with_neighbours(nearest_neighbours(features, k), clusters);
}

torch::Tensor cluster_centres(const torch::Tensor& features, const torch::Tensor& clusters, int64_t k) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = unit_rows(features);
  torch::Tensor sums = torch::zeros({k, x.size(1)}, x.options());
  sums.index_add_(0, clusters.to(torch::kInt64), x);
  return sums / sums.norm(2, 1, true).clamp_min(1e-12);
}

KmeansFit readout_kmeans(const torch::Tensor& features, const torch::Tensor& neighbours, int64_t clusters,
                         uint64_t seed, int64_t fits) {
  check(fits >= 1, "cluster read-out: k-means needs at least one fit");
  const KmeansScore score = [&](const torch::Tensor& ids, double) {
    return readout_score(agreement_with_neighbours(neighbours, ids), cluster_balance(ids, clusters));
  };
  KmeansFit best;
  best.clusters = spherical_kmeans(features, clusters, seed, fits, kKmeansIterations, score);
  best.agreement = agreement_with_neighbours(neighbours, best.clusters);
  best.balance = cluster_balance(best.clusters, clusters);
  return best;
}

torch::Tensor nearest_centres(const FeatureBank& features, const torch::Tensor& centres, int64_t k) {
  torch::NoGradGuard no_grad;
  check(features.dim() == centres.size(1), "cluster read-out: the features have " + std::to_string(features.dim()) +
                                               " dimensions, its centres " + std::to_string(centres.size(1)));
  std::vector<torch::Tensor> ids;
  for (int64_t begin = 0; begin < features.rows(); begin += kAgreementChunk) {
    const int64_t m = std::min(kAgreementChunk, features.rows() - begin);
    const torch::Tensor cos = unit_rows(features.read(begin, m)).matmul(centres.t());
    ids.push_back(std::get<1>(cos.topk(std::min(k, centres.size(0)), 1)));
  }
  return ids.empty() ? torch::empty({0, std::min(k, centres.size(0))}, torch::kInt64) : torch::cat(ids);
}

ClusterReadout choose_cluster_readout(const torch::Tensor& features, const torch::Tensor& head_clusters,
                                      int64_t clusters, const std::string& mode, uint64_t seed) {
  check(mode == "auto" || mode == "head" || mode == "kmeans",
        "cluster read-out: '" + mode + "' is not auto, head or kmeans");
  ClusterReadout r;
  r.images = features.size(0);
  // Too few images to judge by (or for k-means): the head.
  if (mode == "head" || r.images < kMinImagesPerCluster * clusters) return r;
  const torch::Tensor neighbours = nearest_neighbours(features, kReadoutNeighbours);  // once, for all
  const KmeansFit km = readout_kmeans(features, neighbours, clusters, seed, kReadoutKmeansFits);
  r.kmeans_agreement = km.agreement;
  r.kmeans_balance = km.balance;
  r.head_agreement = agreement_with_neighbours(neighbours, head_clusters);
  r.head_balance = cluster_balance(head_clusters, clusters);
  if (mode == "kmeans" || kmeans_clearly_better(readout_score(r.head_agreement, r.head_balance), km.score())) {
    r.method = "kmeans";
    r.centres = cluster_centres(features, km.clusters, clusters);
  }
  return r;
}

Dataset readout_images(const Dataset& train) { return seeded_subset(train, kReadoutImages, /*stream=*/3); }

ClusterReadout choose_cluster_readout(TwistModel& model, const Dataset& images, int64_t side, const Normalization& norm,
                                      int64_t clusters, const std::string& mode, const StreamOptions& stream) {
  if (mode == "head" || images.size() < kMinImagesPerCluster * clusters)
    return choose_cluster_readout(torch::zeros({0, 1}), torch::zeros({0}, torch::kInt64), clusters, mode);
  const StreamedEmbeddings e = embed_streamed(model, images, side, norm, stream);
  return choose_cluster_readout(e.features.all(), e.argmax, clusters, mode);
}

void save_cluster_readout(const std::string& dir, const ClusterReadout& r) {
  nlohmann::ordered_json j;
  j["method"] = r.method;
  j["head_agreement"] = r.head_agreement;
  j["kmeans_agreement"] = r.kmeans_agreement;
  j["head_balance"] = r.head_balance;
  j["kmeans_balance"] = r.kmeans_balance;
  j["images"] = r.images;
  if (r.kmeans()) {
    j["clusters"] = r.centres.size(0);
    write_npy(dir + "/" + kCentresFile, r.centres.contiguous());
  }
  write_file_atomic(dir + "/" + kReadoutFile, j.dump(2) + "\n");
}

std::optional<ClusterReadout> load_cluster_readout(const std::string& dir) {
  const std::string path = dir + "/" + kReadoutFile;
  if (!std::filesystem::exists(path)) return std::nullopt;
  ClusterReadout r;
  try {
    const auto j = nlohmann::json::parse(read_file_bytes(path, "cluster read-out"));
    r.method = j.at("method").get<std::string>();
    r.head_agreement = j.at("head_agreement").get<double>();
    r.kmeans_agreement = j.at("kmeans_agreement").get<double>();
    r.head_balance = j.value("head_balance", -1.0);  // absent in runs saved before the balance counted
    r.kmeans_balance = j.value("kmeans_balance", -1.0);
    r.images = j.at("images").get<int64_t>();
    check(r.method == "head" || r.method == "kmeans", "method '" + r.method + "' is neither head nor kmeans");
    if (r.kmeans()) {
      r.centres = read_npy(dir + "/" + kCentresFile).to(torch::kFloat32);
      check(r.centres.dim() == 2 && r.centres.size(0) == j.at("clusters").get<int64_t>(),
            std::string(kCentresFile) + " does not hold its " + std::to_string(j.at("clusters").get<int64_t>()) +
                " centres");
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + path + "' is not a cluster read-out written by twist train: " + e.what());
  } catch (const Error& e) { throw Error("'" + path + "': " + e.what()); }
  return r;
}

}  // namespace twist
