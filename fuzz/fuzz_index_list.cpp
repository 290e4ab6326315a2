// Label index lists (twist finetune --label-list): indices or twist::Error.
#include "input_file.h"
#include "twist/data.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    twist::read_index_list(fuzz_input_file(data, size, ".txt"), 1000);
  } catch (const twist::Error&) {}
  return 0;
}
