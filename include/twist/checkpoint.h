#pragma once
// checkpoint.pt: the run's latest state, written atomically and verified on
// load. On disk: a 24-byte header, then a LibTorch archive (the payload):
//
//   bytes 0-7    magic "TWISTCKP"
//   bytes 8-11   format version (little-endian uint32), kCheckpointFormat
//   bytes 12-15  CRC-32 of the payload (zlib's crc32, little-endian)
//   bytes 16-23  payload length in bytes (little-endian uint64)
//
// A torn, truncated or bit-flipped file fails the length or CRC check and is
// reported as such; LibTorch's archive reader only ever sees verified bytes.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "twist/data.h"
#include "twist/models.h"
#include "twist/optim.h"

namespace twist {

constexpr uint32_t kCheckpointFormat = 2;  // 1: a bare archive without checksum

struct CheckpointState {
  int64_t step = 0;           // steps completed
  int64_t skipped_steps = 0;  // steps skipped for a non-finite loss or gradient
  std::string config_json;
  Normalization norm;
  std::vector<std::string> skipped_images;  // image files passed over (skip_bad_images), sorted
};

// Writes `path` atomically (write_file_atomic): a crash leaves either the old
// or the new checkpoint, never half of one; a failed write (disk full,
// permissions) throws twist::Error and leaves the old one in place.
// `teacher`: the momentum teacher, when the run has one.
void save_checkpoint(const std::string& path, TwistModel& model, Optimizer* optimizer, const CheckpointState& state,
                     TwistModel* teacher = nullptr);

// Reads the state; loads weights into `model` (and the optimizer's state into
// `optimizer`, the momentum teacher into `teacher`, when given). Loading for
// evaluation (no optimizer, no teacher) from a run with a momentum teacher
// loads the teacher's weights: they are the ones that are evaluated.
// Throws twist::Error naming the file on any problem.
CheckpointState read_checkpoint_state(const std::string& path);
void load_checkpoint(const std::string& path, TwistModel& model, Optimizer* optimizer, TwistModel* teacher = nullptr);

// A checkpoint read from disk and verified (framing, CRC-32, state) once:
// open it with read_checkpoint, look at its state, then load_weights from it
// without reading or checksumming the file again.
struct VerifiedCheckpoint {
  std::string path;
  std::string payload;  // the framed data, checksum verified
  CheckpointState state;
};
VerifiedCheckpoint read_checkpoint(const std::string& path);
void load_weights(const VerifiedCheckpoint& c, TwistModel& model, Optimizer* optimizer, TwistModel* teacher = nullptr);

// The same checks on a checkpoint's bytes in memory (`name` is used in
// messages): the framing (magic, version, length, CRC) and then the state.
std::string checkpoint_payload(const std::string& bytes, const std::string& name);
CheckpointState parse_checkpoint_state(const std::string& bytes, const std::string& name);

// Frames an archive's bytes as a checkpoint file (header + payload).
std::string frame_checkpoint(const std::string& payload);

}  // namespace twist
