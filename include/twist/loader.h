#pragma once
// Seeded epoch sampling and a loader that prepares the augmented views of the
// next batches on background threads while the model trains. A batch is a
// pure function of (seed, step): a run resumed at step s sees exactly the
// batches an uninterrupted run would.
#include <torch/torch.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "twist/augment.h"
#include "twist/bad_images.h"
#include "twist/data.h"

namespace twist {

// Shuffles every epoch with a permutation seeded by (seed, epoch) and cuts it
// into full batches (the incomplete last batch is dropped, as NBS and the
// diversity term want full batches). With `world` ranks, `batch_size` is the
// global batch and rank r reads the r-th of `world` equal slices of it: the
// ranks' shards of an epoch are disjoint, and together they are exactly
// what one process with the global batch reads.
class EpochSampler {
 public:
  EpochSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, int rank = 0, int world = 1);
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t batch_size() const { return batch_size_; }                 // global
  int64_t local_batch_size() const { return batch_size_ / world_; }  // this rank's
  int rank() const { return rank_; }
  int world() const { return world_; }
  // This rank's sample indices at step `step` (int64, local_batch_size long).
  torch::Tensor indices(int64_t step) const;
  torch::Tensor epoch_permutation(int64_t epoch) const;

 private:
  int64_t size_, batch_size_, steps_per_epoch_;
  uint64_t seed_;
  int rank_, world_;
};

struct Batch {
  int64_t step = 0;
  std::vector<torch::Tensor> views;  // float, normalized, one per crop
  torch::Tensor indices;
};

struct LoaderOptions {
  // Background threads preparing batches (single-threaded each). 0: none,
  // next() makes the batch itself with the caller's intra-op threads.
  int workers = 1;
  int prefetch = 4;  // batches prepared ahead at most
  // Where the views are made: on a GPU, each batch's uint8 images are copied
  // there (pinned, non-blocking) and augmented there.
  torch::Device device = torch::kCPU;
  // File-backed sets: where a file that does not decode is counted and
  // passed over (--skip-bad-images); null: such a file is an error.
  BadImages* bad_images = nullptr;
  // File-backed sets: JPEGs decoded at the smallest DCT scale (1/2, 1/4,
  // 1/8) at which every crop box still spans its view's output size, and
  // only in the rows and columns the boxes cover (the boxes are drawn on
  // the full size from the header first, so their distribution is
  // unchanged; docs/design.md, "Decoding only what the crop needs"). Off:
  // every image decoded whole at full size, then cropped.
  bool scaled_jpeg = true;
};

class BatchLoader {
 public:
  BatchLoader(const Dataset& data, const EpochSampler& sampler, MultiCropOptions crops, Normalization norm,
              uint64_t seed, int64_t first_step, int64_t end_step, LoaderOptions options = {});
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  // The batch of the next step; rethrows a worker's error.
  Batch next();
  // Builds the batch of one step synchronously (what the workers run).
  // With `bad`, a file that does not decode is replaced by a stand-in
  // (read_or_stand_in), and `indices` names the images read. `scaled_jpeg`:
  // LoaderOptions::scaled_jpeg.
  static Batch make_batch(const Dataset& data, const EpochSampler& sampler, const MultiCropOptions& crops,
                          const Normalization& norm, uint64_t seed, int64_t step, torch::Device device = torch::kCPU,
                          BadImages* bad = nullptr, bool scaled_jpeg = true);

 private:
  void work(int worker);

  const Dataset& data_;
  EpochSampler sampler_;
  MultiCropOptions crops_;
  Normalization norm_;
  uint64_t seed_;
  const int64_t first_step_;
  int64_t next_step_, end_step_;
  LoaderOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace twist
