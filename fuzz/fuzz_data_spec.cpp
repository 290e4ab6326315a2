// Data specs ("fashion-mnist@test", "idx:DIR"): parse, never crash.
#include <string>

#include "twist/data.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    twist::parse_data_spec(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const twist::Error&) {}
  return 0;
}
