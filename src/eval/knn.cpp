// Cosine kNN as chunked matrix products: each chunk of queries against the
// bank chunk by chunk, keeping a running top-k, so neither the similarity
// matrix nor the bank needs to be in memory whole.
#include "twist/error.h"
#include "twist/eval.h"

namespace twist {
torch::Tensor unit_rows(const torch::Tensor& x) {
  return torch::nn::functional::normalize(x.to(torch::kFloat32), torch::nn::functional::NormalizeFuncOptions().dim(1));
}

namespace {

struct TopK {
  torch::Tensor sims, index;  // n x k, best first
};

// The k most similar bank rows of each (unit) query row, over the whole bank.
TopK running_topk(const torch::Tensor& q, const FeatureBank& bank, int64_t k, int64_t bank_chunk) {
  TopK best{torch::full({q.size(0), 0}, -2.0f), torch::zeros({q.size(0), 0}, torch::kInt64)};
  for (int64_t j = 0; j < bank.rows(); j += bank_chunk) {
    const int64_t m = std::min(bank_chunk, bank.rows() - j);
    auto top = q.mm(unit_rows(bank.read(j, m)).t()).topk(std::min(k, m), 1);
    auto sims = torch::cat({best.sims, std::get<0>(top)}, 1);
    auto index = torch::cat({best.index, std::get<1>(top) + j}, 1);
    auto merged = sims.topk(std::min(k, sims.size(1)), 1);
    best = {std::get<0>(merged), index.gather(1, std::get<1>(merged))};
  }
  return best;
}

// `rows` whitened once, chunk by chunk, into a bank of their own (spilled
// past the usual budget): each query chunk then reads whitened rows.
FeatureBank whitened(const FeatureBank& rows, const Whitening& white, int64_t chunk) {
  FeatureBank out;
  rows.for_each_chunk(chunk, [&](int64_t, const torch::Tensor& x) { out.append(white.apply(x)); });
  return out;
}

}  // namespace

KnnResult knn_classify(const torch::Tensor& bank, const torch::Tensor& bank_labels, const torch::Tensor& query,
                       const torch::Tensor& query_labels, const KnnOptions& o) {
  check(bank.dim() == 2 && query.dim() == 2, "knn: bank and query must be N x d with the same d");
  return knn_classify(FeatureBank::of(bank), bank_labels, FeatureBank::of(query), query_labels, o);
}

KnnResult knn_classify(const FeatureBank& bank, const torch::Tensor& bank_labels, const FeatureBank& query,
                       const torch::Tensor& query_labels, const KnnOptions& o) {
  torch::NoGradGuard no_grad;
  check(bank.dim() == query.dim(), "knn: bank and query must be N x d with the same d");
  check(bank.rows() == bank_labels.size(0) && query.rows() == query_labels.size(0), "knn: one label per feature row");
  check(query.rows() > 0, "knn: no queries");
  check(o.query_chunk >= 1 && o.bank_chunk >= 1, "knn: chunk sizes must be positive");
  if (o.whiten) {
    const Whitening white = Whitening::fit(bank, o.whiten_eps, o.bank_chunk);
    KnnOptions plain = o;
    plain.whiten = false;
    return knn_classify(whitened(bank, white, o.bank_chunk), bank_labels, whitened(query, white, o.query_chunk),
                        query_labels, plain);
  }
  const int64_t k = std::min(o.k, bank.rows());
  check(k >= 1, "knn: k must be at least 1 and the bank non-empty");
  const auto bl = bank_labels.to(torch::kInt64), ql = query_labels.to(torch::kInt64);
  const int64_t classes =
      o.num_classes > 0 ? o.num_classes : std::max(bl.max().item<int64_t>(), ql.max().item<int64_t>()) + 1;
  int64_t correct1 = 0, correct5 = 0;
  for (int64_t i = 0; i < query.rows(); i += o.query_chunk) {
    const int64_t n = std::min(o.query_chunk, query.rows() - i);
    const TopK top = running_topk(unit_rows(query.read(i, n)), bank, k, o.bank_chunk);
    auto w = o.temperature > 0 ? (top.sims / o.temperature).exp() : torch::ones_like(top.sims);
    auto votes = torch::zeros({n, classes}).scatter_add_(1, bl.index({top.index}), w);
    auto y = ql.narrow(0, i, n).view({-1, 1});
    auto ranked = std::get<1>(votes.topk(std::min<int64_t>(5, classes), 1));
    correct1 += ranked.narrow(1, 0, 1).eq(y).sum().item<int64_t>();
    correct5 += ranked.eq(y).any(1).sum().item<int64_t>();
  }
  const double N = double(query.rows());
  return {correct1 / N, correct5 / N};
}

}  // namespace twist
