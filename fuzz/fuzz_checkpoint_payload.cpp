// The archive inside a checkpoint, framed with a valid header and CRC: what
// a file that is well-formed on the outside but crafted inside can do. The
// archive reader is LibTorch's (not instrumented here); the state reader
// after it is twist's.
#include <string>

#include "twist/checkpoint.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string payload(reinterpret_cast<const char*>(data), size);
  try {
    twist::parse_checkpoint_state(twist::frame_checkpoint(payload), "fuzz.pt");
  } catch (const twist::Error&) {}
  return 0;
}
