#pragma once
// Memory a training run needs, estimated before anything is allocated, so
// that a setting far too large for the machine ("--width 1000000") is
// refused with its name instead of ending in the allocator's error.
#include <cstdint>
#include <string>

#include "twist/config.h"

namespace twist {

struct TrainingMemory {
  double model_bytes = 0;  // weights, gradients and optimizer state (lower bound)
  double step_bytes = 0;   // the activations one step keeps for its backward (lower bound)
};

// `channels` and `image_side`: the data's; `local_batch`: images per process.
TrainingMemory training_memory(const TrainConfig& c, int64_t channels, int64_t image_side, int64_t local_batch);

// This machine's physical memory in bytes (0 when unknown).
double physical_memory_bytes();

// Throws twist::Error naming the settings that drive the estimate when it
// exceeds `available_bytes` (> 0).
void check_training_memory(const TrainConfig& c, int64_t channels, int64_t image_side, int64_t local_batch,
                           double available_bytes);

// A warning when the disk holding `dir` has less free space than two
// checkpoints of `checkpoint_bytes` (a write needs room for the new file
// beside the old one); empty when there is room or the space is unknown.
std::string disk_space_warning(const std::string& dir, double checkpoint_bytes);

// The message for an allocation that failed anyway: "out of memory" with the
// settings that drive a run's memory.
std::string out_of_memory_message(const TrainConfig& c);

}  // namespace twist
