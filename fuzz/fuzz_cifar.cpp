// CIFAR-10/100 binary reader: any bytes must give images and labels or
// twist::Error, nothing else. The first byte picks the layout (even:
// CIFAR-10, one label byte; odd: CIFAR-100, coarse and fine label bytes).
#include "twist/data.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool cifar100 = data[0] & 1;
  try {
    twist::parse_cifar(data + 1, size - 1, cifar100 ? 2 : 1, cifar100 ? 100 : 10, "fuzz.bin");
  } catch (const twist::Error&) {}
  return 0;
}
