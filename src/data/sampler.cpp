#include "twist/error.h"
#include "twist/loader.h"
#include "twist/random.h"

namespace twist {

EpochSampler::EpochSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, int rank, int world)
    : size_(dataset_size), batch_size_(batch_size), seed_(seed), rank_(rank), world_(world) {
  check(world >= 1 && rank >= 0 && rank < world,
        "rank " + std::to_string(rank) + " is outside a world of " + std::to_string(world));
  check(batch_size % world == 0 && batch_size / world >= 2,
        "batch size " + std::to_string(batch_size) + " (the global batch) must split into " + std::to_string(world) +
            " equal per-rank batches of at least 2: use a multiple of " + std::to_string(2 * world));
  check(batch_size >= 2,
        "batch size must be at least 2 (NBS and the diversity term need a batch), got " + std::to_string(batch_size));
  check(dataset_size >= batch_size, "the data set has " + std::to_string(dataset_size) +
                                        " images, fewer than one batch of " + std::to_string(batch_size));
  steps_per_epoch_ = dataset_size / batch_size;
}

torch::Tensor EpochSampler::epoch_permutation(int64_t epoch) const {
  // Stream ids with the top bit set are reserved for sampling, so they never
  // coincide with the per-step augmentation streams.
  auto gen = make_generator(seed_, (uint64_t(1) << 63) | uint64_t(epoch));
  return torch::randperm(size_, gen, torch::kInt64);
}

torch::Tensor EpochSampler::indices(int64_t step) const {
  const int64_t epoch = step / steps_per_epoch_;
  const int64_t pos = step % steps_per_epoch_;
  const int64_t local = batch_size_ / world_;
  return epoch_permutation(epoch).narrow(0, pos * batch_size_ + rank_ * local, local).clone();
}

}  // namespace twist
