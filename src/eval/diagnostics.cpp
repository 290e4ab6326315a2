// The paper's diagnostic figures as data: similarity distributions (Fig. 5)
// and the spread of the pre-softmax outputs (Fig. 3).
#include "twist/augment.h"
#include "twist/error.h"
#include "twist/eval.h"

namespace twist {

SimilarityHistograms similarity_histograms(const torch::Tensor& features, const torch::Tensor& labels, int64_t bins,
                                           int64_t max_samples, uint64_t seed) {
  torch::NoGradGuard no_grad;
  check(features.dim() == 2 && labels.dim() == 1 && features.size(0) == labels.size(0),
        "similarity histograms: need N x d features and N labels");
  check(bins >= 1 && max_samples >= 2, "similarity histograms: need at least 1 bin and 2 samples");
  auto f = features.to(torch::kFloat32);
  auto l = labels.to(torch::kInt64);
  if (f.size(0) > max_samples) {
    const auto pick = similarity_sample(f.size(0), max_samples, seed);
    f = f.index_select(0, pick);
    l = l.index_select(0, pick);
  }
  const int64_t n = f.size(0);
  f = torch::nn::functional::normalize(f, torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto sim = f.mm(f.t()).clamp(-1.0, 1.0);
  auto upper = torch::ones({n, n}, torch::kBool).triu(1);
  auto same_mask = l.view({-1, 1}).eq(l.view({1, -1})).logical_and(upper);
  auto diff_mask = l.view({-1, 1}).ne(l.view({1, -1})).logical_and(upper);
  auto same = sim.masked_select(same_mask).to(torch::kFloat64);
  auto diff = sim.masked_select(diff_mask).to(torch::kFloat64);

  SimilarityHistograms h;
  h.same_pairs = same.numel();
  h.different_pairs = diff.numel();
  for (int64_t b = 0; b <= bins; ++b) h.edges.push_back(-1.0 + 2.0 * double(b) / double(bins));
  auto hist = [&](const torch::Tensor& v) {
    std::vector<double> out(bins, 0.0);
    if (v.numel() == 0) return out;
    // Bin b holds [edge_b, edge_b+1); the last bin also holds 1.
    auto idx = ((v + 1.0) * (double(bins) / 2.0)).floor().clamp(0, bins - 1).to(torch::kInt64);
    auto counts = torch::bincount(idx, {}, bins).to(torch::kFloat64) / double(v.numel());
    for (int64_t b = 0; b < bins; ++b) out[b] = counts[b].item<double>();
    return out;
  };
  h.same = hist(same);
  h.different = hist(diff);
  for (int64_t b = 0; b < bins; ++b) h.overlap += std::min(h.same[b], h.different[b]);
  h.same_mean = same.numel() ? same.mean().item<double>() : 0.0;
  h.different_mean = diff.numel() ? diff.mean().item<double>() : 0.0;
  return h;
}

torch::Tensor similarity_sample(int64_t n, int64_t max_samples, uint64_t seed) {
  if (n <= max_samples) return torch::arange(n, torch::kInt64);
  auto gen = make_generator(seed, 0xd1a6);
  return torch::randperm(n, gen, torch::kInt64).narrow(0, 0, max_samples);
}

void OutputSpreadSum::add(const torch::Tensor& logits) {
  torch::NoGradGuard no_grad;
  check(logits.dim() == 2 && logits.size(1) >= 1 && (!col_sum_.defined() || logits.size(1) == col_sum_.size(0)),
        "output spread: need N x C outputs, one C");
  const auto x = logits.detach().to(torch::kCPU, torch::kFloat64);  // sums kept on the host
  if (!col_sum_.defined()) {
    col_sum_ = torch::zeros({x.size(1)}, torch::kFloat64);
    col_square_sum_ = torch::zeros({x.size(1)}, torch::kFloat64);
  }
  if (x.size(0) == 0) return;
  row_std_sum_ += (x - x.mean(1, true)).pow(2).mean(1).sqrt().sum().item<double>();
  col_sum_ += x.sum(0);
  col_square_sum_ += x.pow(2).sum(0);
  n_ += x.size(0);
}

OutputSpread OutputSpreadSum::result() const {
  check(n_ >= 1, "output spread: need N x C outputs");
  const auto mean = col_sum_ / double(n_);
  OutputSpread s;
  s.row_std = row_std_sum_ / double(n_);
  s.col_std = (col_square_sum_ / double(n_) - mean.pow(2)).clamp_min(0).sqrt().mean().item<double>();
  return s;
}

OutputSpread output_spread(const torch::Tensor& logits) {
  OutputSpreadSum sum;
  sum.add(logits);
  return sum.result();
}

}  // namespace twist
