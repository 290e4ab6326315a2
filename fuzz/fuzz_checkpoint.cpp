// checkpoint.pt as found on disk: header, length and CRC checks, then the
// archive. Random bytes rarely pass the CRC; fuzz_checkpoint_payload covers
// what lies behind it.
#include <string>

#include "twist/checkpoint.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    twist::parse_checkpoint_state(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pt");
  } catch (const twist::Error&) {}
  return 0;
}
