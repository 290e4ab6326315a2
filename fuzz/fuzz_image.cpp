// Image files for twist predict (stb_image: PNG, JPEG, PGM/PPM, BMP), then
// the conversion to a model input: tensor or twist::Error.
#include "input_file.h"
#include "twist/error.h"
#include "twist/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto image = twist::read_image(fuzz_input_file(data, size, ".img"));
    twist::fit_image(image, 1, 28);
  } catch (const twist::Error&) {}
  return 0;
}
