// Self-labeling, the stage after TWIST's main phase for ResNets
// (docs/design.md §2.6): confident predictions of the easier (weak) global
// view become hard labels for the harder (strong) one and for every local
// crop.
#include <algorithm>
#include <cmath>

#include "twist/error.h"
#include "twist/loss.h"

namespace twist {

SelfLabelSelection select_self_labels(const torch::Tensor& p_view0, const torch::Tensor& p_view1,
                                      double keep_fraction) {
  check(p_view0.dim() == 2 && p_view0.sizes() == p_view1.sizes(),
        "select_self_labels: the two global views' probabilities must be B x C alike");
  check(keep_fraction > 0 && keep_fraction <= 1, "select_self_labels: keep_fraction must lie in (0, 1]");
  torch::NoGradGuard no_grad;
  const int64_t B = p_view0.size(0);
  auto m0 = p_view0.max(1);
  auto m1 = p_view1.max(1);
  const torch::Tensor& c0 = std::get<0>(m0);
  const torch::Tensor& c1 = std::get<0>(m1);
  SelfLabelSelection s;
  // Ties go to view 0: the first global view is the weak anchor.
  s.weak = (c1 > c0).to(torch::kInt64);
  s.labels = torch::where(s.weak.eq(0), std::get<1>(m0), std::get<1>(m1));
  const torch::Tensor confidence = torch::max(c0, c1);
  const int64_t k = std::min<int64_t>(B, std::max<int64_t>(1, std::llround(keep_fraction * double(B))));
  // A stable descending sort: equal confidences keep their order.
  const torch::Tensor order = std::get<1>(confidence.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  s.kept = torch::zeros({B}, confidence.options().dtype(torch::kBool));
  s.kept.index_fill_(0, order.narrow(0, 0, k), true);
  return s;
}

SelfLabelLoss self_label_loss(const std::vector<torch::Tensor>& logits, double keep_fraction) {
  check(logits.size() >= 2, "self_label_loss needs the two global views, got " + std::to_string(logits.size()));
  for (const auto& l : logits)
    check(l.dim() == 2 && l.sizes() == logits[0].sizes(),
          "self_label_loss: every view's logits must be B x C with the same B and C");
  const SelfLabelSelection sel =
      select_self_labels(torch::softmax(logits[0].detach(), 1), torch::softmax(logits[1].detach(), 1), keep_fraction);
  const torch::Tensor idx = sel.kept.nonzero().squeeze(1);
  const torch::Tensor labels = sel.labels.index_select(0, idx);
  // The strong anchor is the global view that was not the weak one.
  const torch::Tensor strong = torch::where(sel.weak.eq(0).unsqueeze(1), logits[1], logits[0]);
  torch::Tensor sum = torch::nn::functional::cross_entropy(strong.index_select(0, idx), labels);
  for (size_t v = 2; v < logits.size(); ++v)
    sum = sum + torch::nn::functional::cross_entropy(logits[v].index_select(0, idx), labels);
  SelfLabelLoss out;
  out.loss = sum / double(logits.size() - 1);
  out.kept_fraction = double(idx.size(0)) / double(logits[0].size(0));
  return out;
}

}  // namespace twist
