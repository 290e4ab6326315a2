#include "twist/error.h"
#include "twist/eval.h"

namespace twist {

KnnResult knn_classify(const torch::Tensor& bank, const torch::Tensor& bank_labels, const torch::Tensor& query,
                       const torch::Tensor& query_labels, const KnnOptions& o) {
  torch::NoGradGuard no_grad;
  check(bank.dim() == 2 && query.dim() == 2 && bank.size(1) == query.size(1),
        "knn: bank and query must be N x d with the same d");
  check(bank.size(0) == bank_labels.size(0) && query.size(0) == query_labels.size(0), "knn: one label per feature row");
  const int64_t k = std::min(o.k, bank.size(0));
  check(k >= 1, "knn: k must be at least 1 and the bank non-empty");
  const int64_t classes = o.num_classes > 0
                              ? o.num_classes
                              : std::max(bank_labels.max().item<int64_t>(), query_labels.max().item<int64_t>()) + 1;
  auto b =
      torch::nn::functional::normalize(bank.to(torch::kFloat32), torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto q =
      torch::nn::functional::normalize(query.to(torch::kFloat32), torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto bl = bank_labels.to(torch::kInt64);
  auto ql = query_labels.to(torch::kInt64);
  int64_t correct1 = 0, correct5 = 0;
  const int64_t chunk = 1000;
  for (int64_t i = 0; i < q.size(0); i += chunk) {
    const int64_t n = std::min(chunk, q.size(0) - i);
    auto sim = q.narrow(0, i, n).mm(b.t());
    auto top = sim.topk(k, 1);
    auto s = std::get<0>(top), idx = std::get<1>(top);
    auto w = o.temperature > 0 ? (s / o.temperature).exp() : torch::ones_like(s);
    auto votes = torch::zeros({n, classes}).scatter_add_(1, bl.index({idx}), w);
    auto y = ql.narrow(0, i, n).view({-1, 1});
    auto ranked = std::get<1>(votes.topk(std::min<int64_t>(5, classes), 1));
    correct1 += ranked.narrow(1, 0, 1).eq(y).sum().item<int64_t>();
    correct5 += ranked.eq(y).any(1).sum().item<int64_t>();
  }
  const double N = double(q.size(0));
  return {correct1 / N, correct5 / N};
}

}  // namespace twist
