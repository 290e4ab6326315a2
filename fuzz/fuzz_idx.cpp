// IDX reader: any bytes must give a tensor or twist::Error, nothing else.
// Gzip streams go through the file reader (zlib), the rest through the
// in-memory parser that the file reader ends in.
#include "input_file.h"
#include "twist/data.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
      twist::read_idx(fuzz_input_file(data, size, ".gz"));
    } else {
      twist::parse_idx(data, size, "fuzz.idx");
    }
  } catch (const twist::Error&) {}
  return 0;
}
