// The fixed seeded subsets evaluation works on (learning curves, the cluster
// read-out's choice): the same images for every run of a data set.
#include "twist/eval.h"
#include "twist/random.h"

namespace twist {

Dataset seeded_subset(const Dataset& d, int64_t n, uint64_t stream) {
  if (d.size() <= n) return d;
  at::Generator gen = make_generator(/*seed=*/20261201, stream);
  auto pick = std::get<0>(torch::randperm(d.size(), gen, torch::kInt64).narrow(0, 0, n).sort());
  return d.subset(pick, "[subset of " + std::to_string(n) + "]");
}

}  // namespace twist
