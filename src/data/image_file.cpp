// Image decoding through stb_image (Debian's libstb-dev, header-only here).
#include <sys/stat.h>

#include <fstream>

#include "twist/error.h"
#include "twist/image.h"

#ifdef TWIST_WITH_STB
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNM
#define STBI_ONLY_BMP
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

namespace twist {

bool image_decoding_available() {
#ifdef TWIST_WITH_STB
  return true;
#else
  return false;
#endif
}

#ifdef TWIST_WITH_STB
namespace {

// stb_image decodes a binary PGM/PPM whose pixel data is cut short without
// complaint (the missing pixels come back as zeros): check the length here.
void check_pnm_length(const std::string& path, int64_t file_size) {
  std::ifstream f(path, std::ios::binary);
  // The magic is two bytes, as stb reads it: "P65 ..." is a P6 of width 5
  // (reading a whitespace-separated word here once let such a 14-byte file
  // through and stb allocated a 5 x 3565555 image: a fuzz finding).
  char m[2];
  if (!f.read(m, 2)) return;
  const std::string magic(m, 2);
  if (magic != "P5" && magic != "P6") return;
  auto next_number = [&]() -> int64_t {
    while (f >> std::ws && f.peek() == '#') {
      std::string comment;
      std::getline(f, comment);
    }
    int64_t v = -1;
    f >> v;
    return f ? v : -1;
  };
  const int64_t w = next_number(), h = next_number(), maxval = next_number();
  // Sides bounded before multiplying (a fuzz finding: 3333330 x 1111111111111112 overflowed).
  check(w > 0 && h > 0 && w < (int64_t(1) << 28) && h < (int64_t(1) << 28) && maxval > 0 && maxval < 65536,
        "'" + path + "' is not a valid PGM/PPM: bad header");
  f.get();  // the single whitespace byte after maxval
  const int64_t pixel_bytes = w * h * (magic == "P6" ? 3 : 1) * (maxval > 255 ? 2 : 1);
  check(file_size - int64_t(f.tellg()) >= pixel_bytes,
        "'" + path + "' is truncated: its header promises " + std::to_string(w) + "x" + std::to_string(h) +
            " pixels (" + std::to_string(pixel_bytes) + " bytes)");
}

}  // namespace
#endif

torch::Tensor read_image(const std::string& path) {
  struct stat st;
  check(::stat(path.c_str(), &st) == 0, "image '" + path + "' does not exist");
  check(S_ISREG(st.st_mode), "image '" + path + "' is not a file");
  check(st.st_size > 0, "image '" + path + "' is empty");
#ifdef TWIST_WITH_STB
  check_pnm_length(path, st.st_size);
  // stb's reason for the last failure (nullptr when there was none).
  auto reason = [] {
    const char* r = stbi_failure_reason();
    return std::string(r ? r : "unknown error");
  };
  int w = 0, h = 0, c = 0;
  // Ask for the file's own channel count, then reduce to grey or RGB.
  if (stbi_info(path.c_str(), &w, &h, &c) != 1)
    throw Error("'" + path + "' is not an image twist can read (PNG, JPEG, PGM/PPM or BMP): " + reason());
  check(w > 0 && h > 0 && int64_t(w) * h <= (int64_t(1) << 28),
        "image '" + path + "' has an unsupported size " + std::to_string(w) + "x" + std::to_string(h));
  const int want = (c == 1 || c == 2) ? 1 : 3;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &c, want);
  if (data == nullptr) throw Error("cannot decode image '" + path + "': " + reason());
  auto hwc = torch::from_blob(data, {h, w, want}, torch::kUInt8).clone();
  stbi_image_free(data);
  return hwc.permute({2, 0, 1}).contiguous();
#else
  throw Error("cannot read '" + path + "': this twist was built without image decoding (install libstb-dev and rebuild)");
#endif
}

torch::Tensor fit_image(const torch::Tensor& image_u8, int64_t channels, int64_t size) {
  check(image_u8.dim() == 3 && (image_u8.size(0) == 1 || image_u8.size(0) == 3), "fit_image: need a 1- or 3-channel C x H x W image");
  check(channels == 1 || channels == 3, "fit_image: the model takes 1 or 3 channels");
  check(size >= 1, "fit_image: size must be positive");
  auto x = image_u8.to(torch::kFloat32);
  if (channels == 1 && x.size(0) == 3) {
    auto w = torch::tensor({0.299f, 0.587f, 0.114f}).view({3, 1, 1});
    x = (x * w).sum(0, /*keepdim=*/true);
  } else if (channels == 3 && x.size(0) == 1) {
    x = x.expand({3, x.size(1), x.size(2)});
  }
  const int64_t h = x.size(1), w = x.size(2);
  const double scale = double(size) / double(std::min(h, w));
  const int64_t nh = std::max<int64_t>(size, std::llround(h * scale));
  const int64_t nw = std::max<int64_t>(size, std::llround(w * scale));
  auto b = x.unsqueeze(0);
  if (nh != h || nw != w) {
    namespace F = torch::nn::functional;
    auto opts = F::InterpolateFuncOptions().size(std::vector<int64_t>{nh, nw});
    b = scale < 1 ? F::interpolate(b, opts.mode(torch::kArea))
                  : F::interpolate(b, opts.mode(torch::kBilinear).align_corners(false));
  }
  const int64_t top = (nh - size) / 2, left = (nw - size) / 2;
  b = b.narrow(2, top, size).narrow(3, left, size);
  return b.squeeze(0).round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

}  // namespace twist
