#include <cmath>

#include "twist/error.h"
#include "twist/eval.h"

namespace twist {
namespace {

double entropy_of_counts(const std::vector<double>& counts, double n) {
  double h = 0;
  for (double c : counts)
    if (c > 0) h -= (c / n) * std::log(c / n);
  return h;
}

double comb2(double x) { return x * (x - 1) / 2; }

// Expected mutual information of two labelings with the given marginals under
// the permutation model (Vinh, Epps & Bailey 2010, Eq. 24b), as sklearn's
// expected_mutual_information computes it.
double expected_mutual_information(const std::vector<double>& a, const std::vector<double>& b, double n) {
  double emi = 0;
  const double lg_n = std::lgamma(n + 1);
  for (double ai : a) {
    if (ai == 0) continue;
    for (double bj : b) {
      if (bj == 0) continue;
      const double lo = std::max(1.0, ai + bj - n), hi = std::min(ai, bj);
      const double base =
          std::lgamma(ai + 1) + std::lgamma(bj + 1) + std::lgamma(n - ai + 1) + std::lgamma(n - bj + 1) - lg_n;
      for (double nij = lo; nij <= hi; nij += 1) {
        const double lg = base - std::lgamma(nij + 1) - std::lgamma(ai - nij + 1) - std::lgamma(bj - nij + 1) -
                          std::lgamma(n - ai - bj + nij + 1);
        emi += (nij / n) * std::log(n * nij / (ai * bj)) * std::exp(lg);
      }
    }
  }
  return emi;
}

}  // namespace

ClusterMetrics cluster_metrics(const torch::Tensor& pred_t, const torch::Tensor& labels_t) {
  check(pred_t.dim() == 1 && labels_t.dim() == 1 && pred_t.size(0) == labels_t.size(0),
        "cluster_metrics: predictions and labels must be vectors of the same length");
  check(pred_t.size(0) > 0, "cluster_metrics: no samples");
  auto pred = pred_t.to(torch::kInt64).contiguous();
  auto labels = labels_t.to(torch::kInt64).contiguous();
  check(pred.min().item<int64_t>() >= 0 && labels.min().item<int64_t>() >= 0,
        "cluster_metrics: ids must be non-negative");
  const int64_t R = pred.max().item<int64_t>() + 1, K = labels.max().item<int64_t>() + 1;
  const int64_t N = pred.size(0);
  std::vector<double> table(R * K, 0), a(R, 0), b(K, 0);
  auto p = pred.accessor<int64_t, 1>();
  auto l = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < N; ++i) {
    table[p[i] * K + l[i]] += 1;
    a[p[i]] += 1;
    b[l[i]] += 1;
  }
  const double n = double(N);
  ClusterMetrics m;
  for (double x : a) m.clusters_used += x > 0;
  int64_t classes_used = 0;
  for (double x : b) classes_used += x > 0;

  double mi = 0;
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < K; ++j) {
      const double c = table[i * K + j];
      if (c > 0) mi += (c / n) * std::log(n * c / (a[i] * b[j]));
    }
  mi = std::max(mi, 0.0);
  const double hu = entropy_of_counts(a, n), hv = entropy_of_counts(b, n);
  const double mean_h = 0.5 * (hu + hv);
  // One cluster and one class: perfect agreement by convention (as sklearn).
  const bool trivial = m.clusters_used == classes_used && (m.clusters_used <= 1);
  if (trivial) {
    m.nmi = m.ami = 1.0;
  } else {
    m.nmi = mean_h > 0 ? mi / mean_h : 0.0;
    const double emi = expected_mutual_information(a, b, n);
    double denom = mean_h - emi;
    const double tiny = std::numeric_limits<double>::epsilon();
    denom = denom < 0 ? std::min(denom, -tiny) : std::max(denom, tiny);
    m.ami = (mi - emi) / denom;
  }

  double sum_comb = 0, sa = 0, sb = 0;
  for (double c : table) sum_comb += comb2(c);
  for (double x : a) sa += comb2(x);
  for (double x : b) sb += comb2(x);
  const double expected = N > 1 ? sa * sb / comb2(n) : 0.0;
  const double max_index = 0.5 * (sa + sb);
  m.ari = (max_index - expected) != 0 ? (sum_comb - expected) / (max_index - expected) : 1.0;

  m.mapping = hungarian_max(table, R, K);
  double matched = 0;
  for (int64_t i = 0; i < R; ++i)
    if (m.mapping[i] >= 0) matched += table[i * K + m.mapping[i]];
  m.acc = matched / n;
  return m;
}

double mapped_topk_accuracy(const torch::Tensor& logits, const torch::Tensor& labels,
                            const std::vector<int64_t>& mapping, int64_t k) {
  torch::NoGradGuard no_grad;
  check(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0) && logits.size(0) > 0,
        "mapped top-k: need N x C outputs and N labels");
  return mapped_ranked_accuracy(std::get<1>(logits.topk(std::min<int64_t>(k, logits.size(1)), 1)), labels, mapping);
}

double mapped_ranked_accuracy(const torch::Tensor& ranked, const torch::Tensor& labels,
                              const std::vector<int64_t>& mapping) {
  torch::NoGradGuard no_grad;
  check(ranked.dim() == 2 && labels.dim() == 1 && ranked.size(0) == labels.size(0) && ranked.size(0) > 0,
        "mapped top-k: need N x k cluster ids and N labels");
  const auto top = ranked.to(torch::kInt64);
  check(top.min().item<int64_t>() >= 0, "mapped top-k: cluster ids must not be negative");
  // Clusters the mapping does not know (never predicted, or unmatched) map to -1.
  std::vector<int64_t> full(std::max<int64_t>(int64_t(mapping.size()), top.max().item<int64_t>() + 1), -1);
  for (size_t c = 0; c < mapping.size(); ++c) full[c] = mapping[c];
  auto classes = torch::tensor(full, torch::kInt64).index({top});
  auto hit = classes.eq(labels.to(torch::kInt64).view({-1, 1})).any(1);
  return hit.to(torch::kFloat64).mean().item<double>();
}

}  // namespace twist
