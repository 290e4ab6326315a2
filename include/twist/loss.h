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
TwistLossTerms twist_pair_loss(const torch::Tensor& p1, const torch::Tensor& p2,
                               const TwistLossOptions& options = {});

// Multi-crop TWIST loss. logits[v] is B x C for view v; views 0 and 1 are the
// global crops. Pairs are (0,1) and (g,j) for g in {0,1}, j >= 2: 1 + 2L pairs
// for L local crops, each contributing the full loss, averaged uniformly.
TwistLossTerms twist_loss(const std::vector<torch::Tensor>& logits,
                          const TwistLossOptions& options = {});

// Number of pairs twist_loss forms for n views (n >= 2).
int twist_pair_count(int n_views);

}  // namespace twist
