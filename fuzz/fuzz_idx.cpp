// IDX reader: any bytes must give a tensor or twist::Error, nothing else.
// Gzip streams go through the file reader (zlib), the rest through the
// in-memory parser that the file reader ends in.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "twist/data.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
      static const std::string path = "/tmp/twist-fuzz-idx-" + std::to_string(::getpid()) + ".gz";
      std::FILE* f = std::fopen(path.c_str(), "wb");
      if (!f) return 0;
      std::fwrite(data, 1, size, f);
      std::fclose(f);
      twist::read_idx(path);
    } else {
      twist::parse_idx(data, size, "fuzz.idx");
    }
  } catch (const twist::Error&) {
  }
  return 0;
}
