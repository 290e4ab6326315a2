// Streamed evaluation: a data set's features batch by batch into a
// FeatureBank, for data sets (image folders) of any size.
#include <limits>

#include "twist/error.h"
#include "twist/eval.h"

namespace twist {

FeatureBank stream_features(const Dataset& data, int64_t side,
                            const std::function<torch::Tensor(const torch::Tensor& images_u8)>& features,
                            const StreamOptions& o) {
  // An in-memory set's features stay in memory, as its images are: only
  // image folders, of any size, spill.
  FeatureBank bank(data.file_backed() ? o.bank_budget_bytes : std::numeric_limits<int64_t>::max(), o.spill_dir);
  for_each_eval_batch(data, side, o.batch_size,
                      [&](int64_t, const torch::Tensor& images) { bank.append(features(images)); });
  return bank;
}

StreamedEmbeddings embed_streamed(TwistModel& model, const Dataset& data, int64_t side, const Normalization& norm,
                                  const StreamOptions& o) {
  std::vector<torch::Tensor> ranked, best;  // per batch: the head's highest-scoring clusters, its argmax
  StreamedEmbeddings e;
  e.features = stream_features(
      data, side,
      [&](const torch::Tensor& images) {
        auto f = backbone_batch_features(model->backbone, images, norm);
        auto logits = head_batch_logits(model, f);
        best.push_back(logits.argmax(1));
        ranked.push_back(std::get<1>(logits.topk(std::min<int64_t>(5, logits.size(1)), 1)));
        return f;
      },
      o);
  check(!ranked.empty(), "embed: data set '" + data.name + "' has no images");
  e.top5 = torch::cat(ranked).to(torch::kInt64);
  e.argmax = torch::cat(best).to(torch::kInt64);
  return e;
}

}  // namespace twist
