#pragma once
// How unevenly a batch of features spreads its variance over its
// dimensions: ln(d * ||C||_F^2 / tr(C)^2) for the batch's covariance C
// (d x d). That is ln(d / r) with r = (sum of eigenvalues)^2 / (sum of
// squared eigenvalues), the participation ratio: the number of directions the
// variance is effectively spread over. 0 when every direction carries the
// same variance (isotropic features), ln d when one direction carries it all.
// Scale-free: multiplying the features by a constant leaves it unchanged.
//
// A term twist adds to the training objective (`--spread-weight`, default 1;
// 0 in the paper's recipes): cosine kNN on TWIST's backbone features is ruled
// by their few directions of largest variance, and whitening them adds 3-4
// points of kNN top-1 (docs/recipe.md, ninth round); this term asks the
// backbone for that spread itself (twenty-first round: +2.3 points of kNN).
#include <torch/torch.h>

namespace twist {

// features: N x d (N >= 2, d >= 1), any floating type; computed in float32.
// Returns a 0-dimensional tensor with gradient to the features.
torch::Tensor feature_spread_penalty(const torch::Tensor& features);

}  // namespace twist
