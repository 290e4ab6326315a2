#include "twist/data.h"
#include "twist/error.h"
#include "twist/random.h"

namespace twist {

TrainEvalSplits load_train_eval_splits(const std::string& spec, int64_t val_split, bool want_eval) {
  TrainEvalSplits s;
  Dataset full = load_dataset(spec, "train");
  if (val_split > 0) {
    check(val_split < full.size(), "val_split " + std::to_string(val_split) +
                                       " leaves no training images (the data set has " + std::to_string(full.size()) +
                                       ")");
    // A fixed permutation, independent of any run's seed: every run of a
    // sweep, and every evaluation of it, holds out the same images.
    auto gen = make_generator(20211231, 0);
    auto perm = torch::randperm(full.size(), gen, torch::kInt64);
    s.eval = full.subset(perm.narrow(0, 0, val_split), "[val]");
    s.train = full.subset(perm.narrow(0, val_split, full.size() - val_split), "[train]");
    s.eval_name = "val";
    return s;
  }
  s.train = std::move(full);
  const DataSpec parsed = parse_data_spec(spec);
  // ImageNet's layout has train/ and val/, its val serving as the test set.
  const std::string test =
      parsed.kind == "folder" && !has_split(spec, "test") && has_split(spec, "val") ? "val" : "test";
  if (want_eval && parsed.split.empty() && has_split(spec, test)) {
    s.eval = load_dataset(spec, test);
    s.eval_name = test;
  }
  return s;
}

}  // namespace twist
