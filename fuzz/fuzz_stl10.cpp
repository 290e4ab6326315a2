// STL-10 binary reader: any bytes must give images, labels or twist::Error,
// nothing else. The first byte picks the file (even: *_X.bin images, odd:
// *_y.bin labels).
#include "twist/data.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  try {
    if (data[0] & 1)
      twist::parse_stl10_labels(data + 1, size - 1, "fuzz_y.bin");
    else
      twist::parse_stl10_images(data + 1, size - 1, "fuzz_X.bin");
  } catch (const twist::Error&) {}
  return 0;
}
