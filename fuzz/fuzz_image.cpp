// Image files (JPEG by libjpeg-turbo, PGM/PPM by twist, PNG/BMP by
// stb_image), then the conversion to a model input: tensor or twist::Error.
// Also the loader's path for a JPEG: its header, then only the middle
// third of its rows and columns at half scale (decode_scaled with a region).
#include "input_file.h"
#include "twist/error.h"
#include "twist/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file(data, size, ".img");
  try {
    const twist::EncodedImage e = twist::open_image(path);
    const double h = double(e.height), w = double(e.width);
    twist::decode_scaled(e, 0.5, twist::ImageRegion{h / 3, w / 3, h / 3, w / 3});
  } catch (const twist::Error&) {}
  try {
    auto image = twist::read_image(path);
    twist::fit_image(image, 1, 28);
  } catch (const twist::Error&) {}
  return 0;
}
