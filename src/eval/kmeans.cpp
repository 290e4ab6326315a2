// Spherical k-means on backbone features: a clustering read-out that does
// not depend on the head (the head's argmax is the other).
#include <limits>

#include "twist/augment.h"
#include "twist/error.h"
#include "twist/eval.h"

namespace twist {
namespace {

// k-means++ seeding: each next centre drawn with probability proportional
// to its squared distance (on the unit sphere: 2 - 2 cos) to the nearest one.
torch::Tensor seed_centres(const torch::Tensor& x, int64_t k, at::Generator& gen) {
  const int64_t n = x.size(0);
  std::vector<int64_t> picked = {torch::randint(n, {1}, gen, torch::kInt64).item<int64_t>()};
  torch::Tensor nearest = torch::full({n}, std::numeric_limits<float>::infinity(), x.options());
  for (int64_t c = 1; c < k; ++c) {
    const torch::Tensor d = (2 - 2 * x.matmul(x[picked.back()])).clamp_min(0);
    nearest = torch::minimum(nearest, d);
    const double total = nearest.sum().item<double>();
    // Fewer distinct points than k: any point not yet a centre.
    const torch::Tensor weights = total > 0 ? nearest : torch::ones_like(nearest);
    picked.push_back(torch::multinomial(weights, 1, false, gen).item<int64_t>());
  }
  return x.index_select(0, torch::tensor(picked, torch::kInt64));
}

struct Fit {
  torch::Tensor assignment;
  double inertia = 0;  // sum over points of 1 - cos to its centre
};

Fit lloyd(const torch::Tensor& x, torch::Tensor centres, int64_t iterations) {
  Fit f;
  for (int64_t it = 0; it < iterations; ++it) {
    const auto [best, index] = x.matmul(centres.t()).max(1);
    f.inertia = (1 - best).sum().item<double>();
    if (f.assignment.defined() && f.assignment.equal(index)) break;
    f.assignment = index;
    torch::Tensor sums = torch::zeros_like(centres).index_add_(0, index, x);
    const torch::Tensor norms = sums.norm(2, 1, true);
    // An emptied cluster keeps its centre.
    centres = torch::where(norms > 0, sums / norms.clamp_min(1e-12), centres);
  }
  return f;
}

}  // namespace

torch::Tensor spherical_kmeans(const torch::Tensor& features, int64_t k, uint64_t seed, int64_t restarts,
                               int64_t iterations) {
  check(features.dim() == 2 && features.size(0) >= k && k >= 1,
        "k-means: " + std::to_string(k) + " clusters need at least as many samples, got " +
            std::to_string(features.dim() == 2 ? features.size(0) : 0));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::nn::functional::normalize(features.to(torch::kFloat32),
                                                           torch::nn::functional::NormalizeFuncOptions().dim(1));
  at::Generator gen = make_generator(seed, /*stream=*/7);
  Fit best;
  best.inertia = std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < std::max<int64_t>(1, restarts); ++r) {
    Fit f = lloyd(x, seed_centres(x, k, gen), iterations);
    if (f.inertia < best.inertia) best = f;
  }
  return best.assignment;
}

}  // namespace twist
