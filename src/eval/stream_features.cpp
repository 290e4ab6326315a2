// Streamed evaluation: a data set's features batch by batch into a
// FeatureBank, for data sets (image folders) of any size.
#include <limits>

#include "twist/error.h"
#include "twist/eval.h"

namespace twist {

namespace {

// An in-memory set's features stay in memory, as its images are: only
// image folders, of any size, spill.
FeatureBank bank_for(const Dataset& data, const StreamOptions& o) {
  return FeatureBank(data.file_backed() ? o.bank_budget_bytes : std::numeric_limits<int64_t>::max(), o.spill_dir);
}

// B x heads: each C-class head's argmax of a batch's features.
torch::Tensor every_head_argmax(TwistModel& model, const torch::Tensor& features) {
  std::vector<torch::Tensor> argmax;
  for (int64_t k = 0; k < model->num_heads(); ++k) argmax.push_back(head_batch_logits(model, features, k).argmax(1));
  return torch::stack(argmax, 1);
}

}  // namespace

FeatureBank stream_features(const Dataset& data, int64_t side,
                            const std::function<torch::Tensor(const torch::Tensor& images_u8)>& features,
                            const StreamOptions& o) {
  FeatureBank bank = bank_for(data, o);
  for_each_embedded_batch(
      data, side, o, 1, [&](const torch::Tensor& images) { return std::vector<torch::Tensor>{features(images)}; },
      [&](const std::vector<torch::Tensor>& rows) { bank.append(rows[0]); });
  return bank;
}

StreamedEmbeddings embed_streamed(TwistModel& model, const Dataset& data, int64_t side, const Normalization& norm,
                                  const StreamOptions& o) {
  // Per batch: the head's highest-scoring clusters, its argmax, every head's argmax.
  std::vector<torch::Tensor> ranked, best, every;
  const int64_t heads = model->num_heads();
  StreamedEmbeddings e{
      FeatureBank(data.file_backed() ? o.bank_budget_bytes : std::numeric_limits<int64_t>::max(), o.spill_dir),
      {},
      {},
      {}};
  for_each_embedded_batch(
      data, side, o, heads > 1 ? 4 : 3,
      [&](const torch::Tensor& images) {
        auto f = backbone_batch_features(model->backbone, images, norm);
        auto logits = head_batch_logits(model, f);
        auto top = std::get<1>(logits.topk(std::min<int64_t>(5, logits.size(1)), 1));
        std::vector<torch::Tensor> rows{f, logits.argmax(1), top};
        if (heads > 1) rows.push_back(every_head_argmax(model, f));
        return rows;
      },
      [&](const std::vector<torch::Tensor>& rows) {
        e.features.append(rows[0]);
        best.push_back(rows[1].reshape({-1}).to(torch::kInt64));
        ranked.push_back(rows[2].to(torch::kInt64));
        if (heads > 1) every.push_back(rows[3].to(torch::kInt64));
      });
  check(!ranked.empty(), "embed: data set '" + data.name + "' has no images");
  e.top5 = torch::cat(ranked);
  e.argmax = torch::cat(best);
  if (heads > 1) e.heads_argmax = torch::cat(every);
  return e;
}

}  // namespace twist
