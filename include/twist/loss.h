#pragma once
// The TWIST loss (Wang et al., Eq. 1-4), usable on its own: give it the
// logits of every view of one batch and it returns the total and its terms.
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace twist {

struct TwistLossOptions {
  double alpha = 1.0;        // weight of the sharpness term (mean per-sample entropy)
  double beta = 1.0;         // weight of the diversity term (entropy of the batch mean)
  double eps = 1e-5;         // inside every log, as the reference implementation
  double temperature = 1.0;  // softmax temperature tau
  // Where tau applies. true (twist's default): every term is computed on
  // softmax(z / tau). false (the official code's form): the consistency KL
  // on softmax(z), the sharpness and diversity entropies on softmax(z / tau),
  // so tau < 1 sharpens what the entropy terms see without making the
  // twin distributions' disagreement tau times steeper.
  bool temperature_on_consistency = true;
  // Mean of the rows of p (B x C -> 1 x C) for the diversity term; empty:
  // this batch's mean. Distributed training passes the global batch's mean
  // (twist::global_batch_mean); the per-sample terms stay per-rank means,
  // which gradient averaging turns into global means.
  std::function<torch::Tensor(const torch::Tensor&)> batch_mean;
};

struct TwistLossTerms {
  torch::Tensor total;        // consistency + alpha*sharpness - beta*diversity
  torch::Tensor consistency;  // symmetric KL between the paired views
  torch::Tensor sharpness;    // mean entropy of each distribution
  torch::Tensor diversity;    // entropy of the batch-mean distribution
};

// H(p) per row: -sum_c p*log(p+eps).  p: B x C  ->  B
torch::Tensor entropy(const torch::Tensor& p, double eps = 1e-5);
// KL(a||b) per row: sum_c a*(log(a+eps) - log(b+eps)).  a, b: B x C  ->  B
torch::Tensor kl_divergence(const torch::Tensor& a, const torch::Tensor& b, double eps = 1e-5);

// Loss of one pair of views given their probabilities (B x C each).
TwistLossTerms twist_pair_loss(const torch::Tensor& p1, const torch::Tensor& p2, const TwistLossOptions& options = {});

// Multi-crop TWIST loss. logits[v] is B x C for view v; views 0 and 1 are the
// global crops. Pairs are (0,1) and (g,j) for g in {0,1}, j >= 2: 1 + 2L pairs
// for L local crops, each contributing the full loss, averaged uniformly.
TwistLossTerms twist_loss(const std::vector<torch::Tensor>& logits, const TwistLossOptions& options = {});

// Number of pairs twist_loss forms for n views (n >= 2).
int twist_pair_count(int n_views);

// The asymmetric loss of a momentum teacher (Eq. 5). teacher_logits: the
// teacher's logits of the first T views (the global crops; no gradient);
// student_logits: the student's logits of every view. Consistency is the
// mean over pairs (teacher view t, student view s != t) of
// KL(p_teacher_t || p_student_s); sharpness the mean over student views of
// their mean entropy; diversity the mean over student views of the entropy
// of their batch mean. total = consistency + alpha*sharpness - beta*diversity.
TwistLossTerms twist_teacher_loss(const std::vector<torch::Tensor>& teacher_logits,
                                  const std::vector<torch::Tensor>& student_logits,
                                  const TwistLossOptions& options = {});

// Self-labeling (docs/design.md §2.6): per sample, the global view with the higher
// maximum probability is the weak anchor, whose argmax is the label; the
// other global view is the strong anchor. The `keep_fraction` of the batch
// with the highest confidence (the weak anchor's maximum probability) keeps
// its label (at least one sample; ties to the lower index).
struct SelfLabelSelection {
  torch::Tensor weak;    // B, int64: which global view (0 or 1) is the weak anchor
  torch::Tensor labels;  // B, int64: the weak anchor's argmax
  torch::Tensor kept;    // B, bool
};
SelfLabelSelection select_self_labels(const torch::Tensor& p_view0, const torch::Tensor& p_view1, double keep_fraction);

struct SelfLabelLoss {
  torch::Tensor loss;  // mean over the strong anchor and the local views of cross-entropy on the kept samples
  double kept_fraction = 0;
};
// logits[0], logits[1]: the global views; logits[2..]: local views.
SelfLabelLoss self_label_loss(const std::vector<torch::Tensor>& logits, double keep_fraction);

}  // namespace twist
