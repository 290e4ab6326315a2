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

// Rows of the bank per chunk: about 64 MiB of float scores or features.
int64_t rows_per_chunk(int64_t k, int64_t d) { return std::max<int64_t>(1, (int64_t(16) << 20) / std::max(k, d)); }

// The unit rows k-means++ seeds on in a bank of more than `seed_rows`:
// that many drawn without replacement (sorted, so a spilled bank is read
// forward).
torch::Tensor seeding_rows(const FeatureBank& bank, int64_t seed_rows, at::Generator& gen) {
  const int64_t n = bank.rows();
  const auto picked = std::get<0>(torch::randperm(n, gen, torch::kInt64).narrow(0, 0, seed_rows).sort());
  std::vector<torch::Tensor> rows;
  for (int64_t i = 0; i < seed_rows; ++i) rows.push_back(bank.read(picked[i].item<int64_t>(), 1));
  return unit_rows(torch::cat(rows));
}

// Lloyd iterations over the bank chunk by chunk: each pass assigns every
// row to its nearest centre and sums the rows of each cluster.
Fit lloyd(const FeatureBank& bank, torch::Tensor centres, int64_t iterations, int64_t chunk) {
  const int64_t n = bank.rows();
  Fit f;
  for (int64_t it = 0; it < iterations; ++it) {
    torch::Tensor index = torch::empty({n}, torch::kInt64), sums = torch::zeros_like(centres);
    double inertia = 0;
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t m = std::min(chunk, n - begin);
      const torch::Tensor x = unit_rows(bank.read(begin, m));
      const auto [best, nearest] = x.matmul(centres.t()).max(1);
      inertia += (1 - best).sum().item<double>();
      index.narrow(0, begin, m).copy_(nearest);
      sums.index_add_(0, nearest, x);
    }
    f.inertia = inertia;
    if (f.assignment.defined() && f.assignment.equal(index)) break;
    f.assignment = index;
    const torch::Tensor norms = sums.norm(2, 1, true);
    // An emptied cluster keeps its centre.
    centres = torch::where(norms > 0, sums / norms.clamp_min(1e-12), centres);
  }
  return f;
}

}  // namespace

torch::Tensor spherical_kmeans(const torch::Tensor& features, int64_t k, uint64_t seed, int64_t restarts,
                               int64_t iterations, const KmeansScore& score) {
  check(features.dim() == 2, "k-means: features must be N x d");
  return spherical_kmeans(FeatureBank::of(features), k, seed, restarts, iterations, 0, 0, score);
}

torch::Tensor spherical_kmeans(const FeatureBank& bank, int64_t k, uint64_t seed, int64_t restarts, int64_t iterations,
                               int64_t chunk_rows, int64_t seed_rows, const KmeansScore& score) {
  check(bank.rows() >= k && k >= 1, "k-means: " + std::to_string(k) + " clusters need at least as many samples, got " +
                                        std::to_string(bank.rows()));
  const int64_t seeding =
      seed_rows > 0 ? seed_rows : std::max(k, std::min<int64_t>(50000, rows_per_chunk(1, bank.dim())));
  check(seeding >= k, "k-means: seeding needs at least k rows");
  torch::NoGradGuard no_grad;
  const int64_t chunk = chunk_rows > 0 ? chunk_rows : rows_per_chunk(k, bank.dim());
  at::Generator gen = make_generator(seed, /*stream=*/7);
  // A bank of at most `seeding` rows is seeded on whole, normalised once.
  const torch::Tensor whole = bank.rows() <= seeding ? unit_rows(bank.all()) : torch::Tensor();
  torch::Tensor best;
  double best_score = 0;
  for (int64_t r = 0; r < std::max<int64_t>(1, restarts); ++r) {
    const torch::Tensor rows = whole.defined() ? whole : seeding_rows(bank, seeding, gen);
    const Fit f = lloyd(bank, seed_centres(rows, k, gen), iterations, chunk);
    const double s = score ? score(f.assignment, f.inertia) : -f.inertia;
    if (!best.defined() || s > best_score) best = f.assignment, best_score = s;
  }
  return best;
}

}  // namespace twist
