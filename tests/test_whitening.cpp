#include <gtest/gtest.h>

#include "twist/error.h"
#include "twist/eval.h"

namespace {

// Rows whose label (two classes) lives in a direction of small variance,
// beside two directions of large variance that carry nothing: cosine on the
// raw rows is ruled by the noise, on whitened rows by every direction alike.
torch::Tensor rows_with_a_quiet_label(int64_t n, torch::Tensor* labels) {
  *labels = torch::randint(0, 2, {n}, torch::kInt64);
  auto label_dir = (*labels * 2 - 1).to(torch::kFloat32) + torch::randn({n}) * 0.1;
  return torch::stack({torch::randn({n}) * 100, label_dir, torch::randn({n}) * 50}, 1) * 0.01;
}

TEST(Whitening, GivesUnitCovarianceAndZeroMean) {
  torch::manual_seed(0);
  // Correlated columns with scales from 0.1 to 30.
  auto x =
      torch::randn({5000, 4}).mm(torch::tensor(
          {{30.0f, 0.0f, 0.0f, 0.0f}, {10.0f, 1.0f, 0.0f, 0.0f}, {0.0f, 2.0f, 0.5f, 0.0f}, {0.0f, 0.0f, 0.3f, 0.1f}})) +
      3.0;
  const auto w = twist::Whitening::fit(twist::FeatureBank::of(x), /*eps=*/1e-9);
  auto y = w.apply(x).to(torch::kFloat64);
  EXPECT_LT(y.mean(0).abs().max().item<double>(), 1e-3);
  auto cov = y.t().mm(y) / double(y.size(0));
  EXPECT_LT((cov - torch::eye(4, torch::kFloat64)).abs().max().item<double>(), 1e-3);
  // ZCA: the matrix is symmetric (the rotation back keeps the axes).
  EXPECT_LT((w.matrix - w.matrix.t()).abs().max().item<double>(), 1e-3 * w.matrix.abs().max().item<double>());
}

TEST(Whitening, ChunkedFitEqualsOneChunkAndFloorsSmallDirections) {
  torch::manual_seed(1);
  auto x = torch::randn({1000, 3}) * torch::tensor({100.0f, 1.0f, 0.01f});
  const auto bank = twist::FeatureBank::of(x);
  const auto one = twist::Whitening::fit(bank, 1e-4, 1 << 20), many = twist::Whitening::fit(bank, 1e-4, 7);
  EXPECT_TRUE(torch::allclose(one.matrix, many.matrix, 1e-4, 1e-6));
  EXPECT_TRUE(torch::allclose(one.mean, many.mean, 1e-5, 1e-6));
  // Variance 1e-4 x the largest (1e4) = 1 is added to every eigenvalue: the
  // largest direction keeps variance ~1, the smallest (1e-4) ~1e-4.
  auto y = one.apply(x);
  auto var = y.var(0);
  EXPECT_NEAR(var[0].item<double>(), 1.0, 0.01);
  EXPECT_NEAR(var[1].item<double>(), 0.5, 0.05);
  EXPECT_LT(var[2].item<double>(), 1e-3);
}

TEST(Whitening, RefusesTooFewRowsAndWrongWidths) {
  EXPECT_THROW(twist::Whitening::fit(twist::FeatureBank::of(torch::ones({1, 3}))), twist::Error);
  const auto w = twist::Whitening::fit(twist::FeatureBank::of(torch::randn({10, 3})));
  EXPECT_THROW(w.apply(torch::ones({2, 4})), twist::Error);
  // A constant bank has nothing to whiten: finite zeros, not NaN.
  const auto flat = twist::Whitening::fit(twist::FeatureBank::of(torch::ones({10, 3})));
  EXPECT_TRUE(torch::isfinite(flat.apply(torch::ones({2, 3}))).all().item<bool>());
}

TEST(Whitening, KnnOnWhitenedFeaturesFindsALabelTheNoiseHides) {
  torch::manual_seed(0);
  torch::Tensor bank_labels, query_labels;
  const auto bank = rows_with_a_quiet_label(2000, &bank_labels);
  const auto query = rows_with_a_quiet_label(500, &query_labels);
  twist::KnnOptions o;
  const double raw = twist::knn_classify(bank, bank_labels, query, query_labels, o).top1;
  o.whiten = true;
  const double white = twist::knn_classify(bank, bank_labels, query, query_labels, o).top1;
  EXPECT_GT(white, 0.98);
  EXPECT_LT(raw, white - 0.1);
}

}  // namespace
