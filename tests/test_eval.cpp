#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "twist/cluster_readout.h"
#include "twist/error.h"
#include "twist/eval.h"

namespace {

torch::Tensor ids(std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); }

struct Reference {
  std::vector<int64_t> pred, labels;
  double nmi, ami, ari, acc;
};

// Reference values from scikit-learn 1.2.1 (normalized_mutual_info_score,
// adjusted_mutual_info_score, adjusted_rand_score, arithmetic normalisation)
// and scipy's linear_sum_assignment on the contingency matrix for the
// accuracy, run independently of this code:
//   from sklearn import metrics; metrics.adjusted_mutual_info_score(labels, pred) ...
TEST(ClusterMetrics, MatchScikitLearn) {
  std::vector<Reference> cases = {
      {{0, 0, 1, 1, 2, 2, 2, 0}, {0, 0, 1, 1, 1, 2, 2, 2}, 0.5588730382, 0.3196726506, 0.2380952381, 0.75},
      // more clusters (4) than classes (3)
      {{0, 1, 1, 2, 3, 3, 0, 2, 1, 3}, {0, 0, 1, 1, 2, 2, 0, 1, 1, 2}, 0.7315064849, 0.5817165181, 0.4915254237, 0.7},
      // a single cluster
      {{0, 0, 0, 0, 0, 0}, {0, 1, 2, 0, 1, 2}, 0.0, 0.0, 0.0, 1.0 / 3.0},
      // empty clusters (ids 1, 3, 4 unused)
      {{0, 0, 2, 2, 5, 5, 5}, {1, 1, 0, 0, 2, 2, 0}, 0.7471790951, 0.5701874865, 0.475, 6.0 / 7.0},
      // perfect up to a permutation
      {{2, 2, 0, 0, 1, 1}, {0, 0, 1, 1, 2, 2}, 1.0, 1.0, 1.0, 1.0},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    auto m = twist::cluster_metrics(ids(c.pred), ids(c.labels));
    EXPECT_NEAR(m.nmi, c.nmi, 1e-8) << "case " << i;
    EXPECT_NEAR(m.ami, c.ami, 1e-8) << "case " << i;
    EXPECT_NEAR(m.ari, c.ari, 1e-8) << "case " << i;
    EXPECT_NEAR(m.acc, c.acc, 1e-12) << "case " << i;
  }
}

TEST(ClusterMetrics, MappingIsOneToOne) {
  auto m = twist::cluster_metrics(ids({2, 2, 0, 0, 1, 1}), ids({0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(m.mapping, (std::vector<int64_t>{1, 2, 0}));
  EXPECT_EQ(m.clusters_used, 3);
}

double brute_force_max(const std::vector<double>& w, int64_t rows, int64_t cols) {
  // Every injective map of the smaller side into the larger.
  const int64_t n = std::max(rows, cols);
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  double best = -1;
  do {
    double s = 0;
    for (int64_t i = 0; i < rows; ++i)
      if (perm[i] < cols) s += w[i * cols + perm[i]];
    best = std::max(best, s);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(Hungarian, EqualsBruteForceOnRandomMatrices) {
  auto gen = at::detail::createCPUGenerator(11);
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t rows = 1 + trial % 6, cols = 1 + (trial / 6) % 6;
    auto t = torch::randint(0, 20, {rows * cols}, gen, torch::kFloat64);
    std::vector<double> w(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    auto match = twist::hungarian_max(w, rows, cols);
    double got = 0;
    std::vector<int> used(cols, 0);
    for (int64_t i = 0; i < rows; ++i) {
      if (match[i] < 0) continue;
      ASSERT_LT(match[i], cols);
      ASSERT_EQ(used[match[i]]++, 0) << "column used twice";
      got += w[i * cols + match[i]];
    }
    EXPECT_DOUBLE_EQ(got, brute_force_max(w, rows, cols)) << rows << "x" << cols;
  }
}

// Two well-separated Gaussian blobs per class: kNN must be perfect; shuffled
// labels on the bank must give chance level.
// Four directions in 8 dimensions, 50 noisy copies each, at different
// lengths (spherical k-means looks at directions only): every restart of
// k-means++ finds them, so the clustering is perfect; the same seed gives
// the same ids.
TEST(Kmeans, SeparatedDirectionsAreFoundExactly) {
  torch::manual_seed(3);
  auto labels = torch::arange(4, torch::kInt64).repeat_interleave(50);
  auto x = torch::eye(8).narrow(0, 0, 4).index_select(0, labels) + 0.05 * torch::randn({200, 8});
  x = x * torch::rand({200, 1}).mul(9).add(1);
  auto perm = torch::randperm(200, torch::kInt64);
  x = x.index_select(0, perm);
  labels = labels.index_select(0, perm);
  auto ids = twist::spherical_kmeans(x, 4, /*seed=*/1);
  ASSERT_EQ(ids.sizes(), torch::IntArrayRef({200}));
  const auto m = twist::cluster_metrics(ids, labels);
  EXPECT_EQ(m.acc, 1.0);
  EXPECT_NEAR(m.nmi, 1.0, 1e-12);
  EXPECT_TRUE(ids.equal(twist::spherical_kmeans(x, 4, 1)));
  EXPECT_THROW(twist::spherical_kmeans(x.narrow(0, 0, 3), 4), twist::Error);
}

// Without a score the restart of lowest inertia is kept; the inertia each
// restart reports is its partition's (sum of 1 - cos to the cluster's
// mean direction, recomputed here); the first restart is the fit of one.
TEST(Kmeans, KeepsTheRestartOfBestScoreByDefaultTheLowestInertia) {
  torch::manual_seed(6);
  const auto x = torch::randn({150, 6});
  std::vector<torch::Tensor> fits;
  std::vector<double> inertia;
  const twist::KmeansScore record = [&](const torch::Tensor& ids, double e) {
    fits.push_back(ids);
    inertia.push_back(e);
    return double(fits.size() % 3);  // keeps the second restart
  };
  const auto second = twist::spherical_kmeans(x, 5, 4, 6, twist::kKmeansIterations, record);
  ASSERT_EQ(fits.size(), 6u);
  EXPECT_TRUE(second.equal(fits[1]));
  const auto unit = x / x.norm(2, 1, true);
  for (size_t r = 0; r < fits.size(); ++r) {
    const auto centres = twist::cluster_centres(x, fits[r], 5);
    const double e = (1 - (unit * centres.index_select(0, fits[r])).sum(1)).sum().item<double>();
    EXPECT_NEAR(inertia[r], e, 1e-3) << "restart " << r;
  }
  const auto lowest = std::min_element(inertia.begin(), inertia.end());
  ASSERT_GT(*std::max_element(inertia.begin(), inertia.end()), *lowest + 0.01);  // restarts differ
  EXPECT_TRUE(twist::spherical_kmeans(x, 5, 4, 6).equal(fits[size_t(lowest - inertia.begin())]));
  EXPECT_TRUE(twist::spherical_kmeans(x, 5, 4, 1).equal(fits.front()));
}

// Over a feature bank spilled to disk, read a few rows at a time, k-means
// gives the in-memory ids; seeding on a sample of the rows still finds the
// four directions.
TEST(Kmeans, StreamedOverASpilledBankEqualsInMemory) {
  torch::manual_seed(4);
  auto labels = torch::arange(4, torch::kInt64).repeat_interleave(60);
  auto x = torch::eye(8).narrow(0, 0, 4).index_select(0, labels) + 0.3 * torch::randn({240, 8});
  const auto perm = torch::randperm(240, torch::kInt64);
  x = x.index_select(0, perm);
  labels = labels.index_select(0, perm);
  twist::FeatureBank disk(/*budget_bytes=*/0);
  for (int64_t i = 0; i < 240; i += 50) disk.append(x.narrow(0, i, std::min<int64_t>(50, 240 - i)));
  ASSERT_TRUE(disk.spilled());
  const auto whole = twist::spherical_kmeans(x, 4, /*seed=*/2);
  EXPECT_TRUE(twist::spherical_kmeans(disk, 4, 2, 5, 100, /*chunk_rows=*/7).equal(whole));
  const auto sampled = twist::spherical_kmeans(disk, 4, 2, 5, 100, 7, /*seed_rows=*/40);
  EXPECT_GT(twist::cluster_metrics(sampled, labels).acc, 0.95);
  EXPECT_THROW(twist::spherical_kmeans(disk, 4, 2, 5, 100, 0, /*seed_rows=*/3), twist::Error);
}

TEST(Knn, SeparableDataIsPerfect) {
  torch::manual_seed(5);
  const int64_t classes = 4, per = 50, d = 16;
  auto centres = torch::randn({classes, d}) * 10;
  auto make = [&](int64_t n) {
    auto y = torch::arange(classes).repeat_interleave(n);
    auto x = centres.index_select(0, y) + torch::randn({classes * n, d});
    return std::make_pair(x, y);
  };
  auto [bx, by] = make(per);
  auto [qx, qy] = make(20);
  auto r = twist::knn_classify(bx, by, qx, qy);
  EXPECT_DOUBLE_EQ(r.top1, 1.0);
  EXPECT_DOUBLE_EQ(r.top5, 1.0);
  twist::KnnOptions majority;
  majority.temperature = 0;
  EXPECT_DOUBLE_EQ(twist::knn_classify(bx, by, qx, qy, majority).top1, 1.0);
  auto shuffled = by.index_select(0, torch::randperm(by.size(0)));
  EXPECT_LT(twist::knn_classify(bx, shuffled, qx, qy).top1, 0.6);
}

// One query, hand-made bank: neighbours at cosine 1 (label 0), .6 (label 1),
// .6 (label 1). Weighted (T=.07): e^(1/.07) beats 2 e^(.6/.07) -> label 0;
// a majority vote of the 3 picks label 1.
TEST(Knn, WeightedVersusMajorityVote) {
  auto bank = torch::tensor({1.f, 0.f, .6f, .8f, .6f, -.8f}).view({3, 2});
  auto labels = ids({0, 1, 1});
  auto q = torch::tensor({1.f, 0.f}).view({1, 2});
  twist::KnnOptions o;
  o.k = 3;
  EXPECT_DOUBLE_EQ(twist::knn_classify(bank, labels, q, ids({0}), o).top1, 1.0);
  o.temperature = 0;
  EXPECT_DOUBLE_EQ(twist::knn_classify(bank, labels, q, ids({1}), o).top1, 1.0);
}

}  // namespace
