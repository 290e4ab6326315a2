// The prefetching loader: a batch is a pure function of (seed, step), so the
// batches are the same however many workers make them, or none.
#include <gtest/gtest.h>

#include "twist/loader.h"

namespace {

using namespace twist;

TEST(BatchLoader, SameBatchesWithAnyNumberOfWorkersOrNone) {
  Dataset d;
  torch::manual_seed(0);
  d.images = torch::randint(0, 256, {96, 1, 12, 12}, torch::kInt64).to(torch::kUInt8);
  const EpochSampler sampler(d.size(), 16, 3);
  const MultiCropOptions crops = MultiCropOptions::paper(12, 1, 6);
  const Normalization norm{{0.5}, {0.25}};
  for (int workers : {0, 1, 3}) {
    BatchLoader loader(d, sampler, crops, norm, 3, 2, 9, {workers, 2});
    for (int64_t step = 2; step < 9; ++step) {
      const Batch got = loader.next();
      const Batch want = BatchLoader::make_batch(d, sampler, crops, norm, 3, step);
      ASSERT_EQ(got.step, step) << workers << " workers";
      EXPECT_TRUE(torch::equal(got.indices, want.indices)) << workers << " workers, step " << step;
      ASSERT_EQ(got.views.size(), 3u);
      for (size_t v = 0; v < 3; ++v)
        EXPECT_TRUE(torch::equal(got.views[v], want.views[v])) << workers << " workers, step " << step;
    }
    EXPECT_THROW(loader.next(), std::out_of_range);
  }
}

}  // namespace
