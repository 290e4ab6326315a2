// .npy reader (twist embed's output, numpy's files): tensor or twist::Error.
#include "input_file.h"
#include "twist/error.h"
#include "twist/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    twist::read_npy(fuzz_input_file(data, size, ".npy"));
  } catch (const twist::Error&) {}
  return 0;
}
