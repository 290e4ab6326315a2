#pragma once
// A finished (or checkpointed) run directory opened for evaluation and use:
// the settings and the model are read from its checkpoint, so they always
// match the weights.
#include <string>

#include "twist/config.h"
#include "twist/data.h"
#include "twist/models.h"
#include "twist/train.h"

namespace twist {

struct Run {
  std::string dir;
  TrainConfig config;
  CheckpointState state;
  TwistModel model{nullptr};
  // Relative to `dir`: where evaluation commands leave their results.
  std::string path(const std::string& file) const { return dir + "/" + file; }
};

// Throws twist::Error naming the directory when it is missing or is not a
// twist run (no checkpoint.pt, or a checkpoint of something else).
Run open_run(const std::string& dir);

// The data spec an evaluation uses: `spec` when given, else the run's.
std::string run_data_spec(const Run& run, const std::string& spec);

}  // namespace twist
