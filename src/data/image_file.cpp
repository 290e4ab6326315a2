// Image decoding: JPEG through libjpeg-turbo's TurboJPEG API (Debian's
// libturbojpeg0-dev), PNG and BMP through stb_image (libstb-dev,
// header-only), binary PGM/PPM by twist itself. Debian's stb_image reads out
// of bounds on a crafted JPEG (stbi__build_huffman) and overflows an int on
// a PGM/PPM header (stbi__pnm_getinteger), both found by fuzz/fuzz_image and
// kept in tests/fuzz_regressions/: stb sees neither format here.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <memory>

#include "jpeg_rows.h"
#include "twist/error.h"
#include "twist/image.h"
#include "twist/io.h"

#ifdef TWIST_WITH_TURBOJPEG
#include <turbojpeg.h>
#endif

#ifdef TWIST_WITH_STB
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
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

bool jpeg_decoding_available() {
#ifdef TWIST_WITH_TURBOJPEG
  return true;
#else
  return false;
#endif
}

namespace {

constexpr int64_t kMaxSide = int64_t(1) << 28;
constexpr int64_t kMaxPixels = int64_t(1) << 28;

void check_image_size(const std::string& path, int64_t w, int64_t h) {
  check(w > 0 && h > 0 && w * h <= kMaxPixels,
        "image '" + path + "' has an unsupported size " + std::to_string(w) + "x" + std::to_string(h));
}

torch::Tensor to_chw(const torch::Tensor& hwc) { return hwc.permute({2, 0, 1}).contiguous(); }

// Binary PGM (P5) and PPM (P6), 8 or 16 bits per sample: the header is
// whitespace-separated width, height and maxval, with '#' comments to the
// end of a line, then one whitespace byte and the samples. Each number is
// bounded while it is read; values are scaled to 0..255 by maxval.
torch::Tensor read_pnm(const std::string& path, const std::string& bytes) {
  const size_t n = bytes.size();
  size_t pos = 2;
  auto number = [&]() -> int64_t {
    while (pos < n) {
      const unsigned char c = static_cast<unsigned char>(bytes[pos]);
      if (std::isspace(c)) {
        ++pos;
      } else if (c == '#') {
        while (pos < n && bytes[pos] != '\n' && bytes[pos] != '\r') ++pos;
      } else {
        break;
      }
    }
    if (pos >= n || !std::isdigit(static_cast<unsigned char>(bytes[pos]))) return -1;
    int64_t v = 0;
    while (pos < n && std::isdigit(static_cast<unsigned char>(bytes[pos]))) {
      v = v * 10 + (bytes[pos++] - '0');
      if (v >= kMaxSide) return -1;
    }
    return v;
  };
  const int64_t w = number(), h = number(), maxval = number();
  check(
      w > 0 && h > 0 && maxval > 0 && maxval < 65536 && pos < n && std::isspace(static_cast<unsigned char>(bytes[pos])),
      "'" + path + "' is not a valid PGM/PPM: bad header");
  ++pos;  // the single whitespace byte after maxval
  check_image_size(path, w, h);
  const int64_t channels = bytes[1] == '6' ? 3 : 1, sample = maxval > 255 ? 2 : 1;
  const int64_t pixel_bytes = w * h * channels * sample;
  check(int64_t(n - pos) >= pixel_bytes, "'" + path + "' is truncated: its header promises " + std::to_string(w) + "x" +
                                             std::to_string(h) + " pixels (" + std::to_string(pixel_bytes) + " bytes)");
  auto raw = torch::from_blob(const_cast<char*>(bytes.data() + pos), {pixel_bytes}, torch::kUInt8);
  torch::Tensor v = raw.to(torch::kInt32);
  if (sample == 2) v = v.view({-1, 2}).select(1, 0) * 256 + v.view({-1, 2}).select(1, 1);  // big-endian
  if (maxval != 255) v = (v.to(torch::kFloat64) * (255.0 / double(maxval))).round().clamp(0, 255);
  return to_chw(v.to(torch::kUInt8).view({h, w, channels}));
}

#ifdef TWIST_WITH_TURBOJPEG
using JpegDecoder = std::unique_ptr<void, int (*)(tjhandle)>;

JpegDecoder jpeg_decoder() {
  JpegDecoder d(tjInitDecompress(), tjDestroy);
  check(d != nullptr, "cannot start the JPEG decoder");
  return d;
}

struct JpegHeader {
  int width = 0, height = 0;
  bool grey = false;
};

JpegHeader read_jpeg_header(tjhandle decoder, const std::string& path, const std::string& bytes) {
  JpegHeader h;
  int subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(decoder, reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<unsigned long>(bytes.size()), &h.width, &h.height, &subsamp, &colorspace) != 0)
    throw Error("'" + path + "' is not a JPEG twist can read: " + tjGetErrorStr2(decoder));
  // A file cut inside its header can come back "successfully" with no size.
  check(h.width > 0 && h.height > 0,
        "'" + path + "' is not a JPEG twist can read: its header ends before the image size");
  check_image_size(path, h.width, h.height);
  h.grey = colorspace == TJCS_GRAY;
  return h;
}

// The JPEG decoded at `scale` (DCT-domain scaling: each 8 x 8 block becomes
// 8 * scale pixels a side), uint8 C x ceil(H * scale) x ceil(W * scale).
torch::Tensor decode_jpeg(const std::string& path, const std::string& bytes, tjscalingfactor scale) {
  JpegDecoder decoder = jpeg_decoder();
  const JpegHeader h = read_jpeg_header(decoder.get(), path, bytes);
  const int w = TJSCALED(h.width, scale), ht = TJSCALED(h.height, scale);
  auto hwc = torch::empty({ht, w, h.grey ? 1 : 3}, torch::kUInt8);
  // Warnings (a truncated file, corrupt entropy data) count as failures: the
  // decoder would otherwise fill what it could not read with grey.
  if (tjDecompress2(decoder.get(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    static_cast<unsigned long>(bytes.size()), hwc.data_ptr<uint8_t>(), w, 0, ht,
                    h.grey ? TJPF_GRAY : TJPF_RGB, TJFLAG_STOPONWARNING) != 0)
    throw Error("cannot decode JPEG '" + path + "': " + tjGetErrorStr2(decoder.get()));
  return to_chw(hwc);
}

// The smallest of the DCT scales 1/8, 1/4 and 1/2 that is at least
// `min_scale`, else 1. libjpeg-turbo also scales by 3/8, 5/8, 3/4 and 7/8,
// but without SIMD: on bench/make_imagenet_like.py's images they decoded
// slower than the full size (bench/README.md, "A fast JPEG path").
tjscalingfactor jpeg_scale(double min_scale) {
  for (int denom : {8, 4, 2})
    if (1.0 / denom >= min_scale) return {1, denom};
  return {1, 1};
}

// The rows and columns of the JPEG at `scale` that `needed` (in the full
// image's pixels) touches: whole pixels as crop_scaled_into cuts them, one
// more each way (the float rounding of a box's mapping; libjpeg's
// smoothing at a partial decode's edge columns), within the image. An
// empty region: the whole image.
JpegRows rows_needed(const EncodedImage& e, tjscalingfactor scale, const ImageRegion& needed) {
  JpegRows q;
  q.denom = scale.denom;
  q.height = TJSCALED(int(e.height), scale);
  q.width = TJSCALED(int(e.width), scale);
  q.channels = e.channels;
  q.row1 = q.height;
  q.col1 = q.width;
  if (needed.height <= 0 || needed.width <= 0) return q;
  const double k = double(scale.num) / double(scale.denom);
  auto first = [&](double at, int64_t side) {
    return std::clamp<int64_t>(int64_t(std::floor(at * k)) - 1, 0, side - 1);
  };
  auto end = [&](double at, int64_t from, int64_t side) {
    return std::clamp<int64_t>(int64_t(std::ceil(at * k)) + 1, from + 1, side);
  };
  q.row0 = first(needed.top, q.height);
  q.row1 = end(needed.top + needed.height, q.row0, q.height);
  q.col0 = first(needed.left, q.width);
  q.col1 = end(needed.left + needed.width, q.col0, q.width);
  return q;
}

// The JPEG's rows and columns in `want` decoded (decode_jpeg_rows), the
// other pixels zero; uint8 C x H' x W'.
torch::Tensor decode_jpeg_part(const EncodedImage& e, const JpegRows& want) {
  auto hwc = torch::zeros({want.height, want.width, want.channels}, torch::kUInt8);
  const std::string why = decode_jpeg_rows(e.bytes, want, hwc.data_ptr<uint8_t>());
  if (!why.empty()) throw Error("cannot decode JPEG '" + e.path + "': " + why);
  return to_chw(hwc);
}
#else
[[noreturn]] void no_jpeg(const std::string& path) {
  throw Error("cannot read JPEG '" + path +
              "': this twist was built without libjpeg-turbo (install libturbojpeg0-dev and rebuild)");
}
#endif

// The bytes an uncompressed BMP of w x h pixels needs: its pixel data's
// offset, then rows of whole 4-byte words (the last row's padding not
// required). 0 where the header is too short to say or the pixels are
// compressed (stb refuses RLE; bit fields are uncompressed). The 12-byte
// OS/2 header has 16-bit sides and no compression field.
int64_t bmp_bytes_needed(const std::string& b, int64_t w, int64_t h) {
  auto u16 = [&](size_t at) { return int64_t(uint8_t(b[at])) | int64_t(uint8_t(b[at + 1])) << 8; };
  auto u32 = [&](size_t at) { return u16(at) | u16(at + 2) << 16; };
  if (b.size() < 26) return 0;
  const int64_t offset = u32(10), header = u32(14);
  if (header != 12 && b.size() < 34) return 0;
  const int64_t bits = header == 12 ? u16(24) : u16(28), compression = header == 12 ? 0 : u32(30);
  if ((compression != 0 && compression != 3) || bits == 0 || w == 0 || h == 0) return 0;
  return offset + (h - 1) * ((w * bits + 31) / 32 * 4) + (w * bits + 7) / 8;
}

torch::Tensor read_png_or_bmp(const std::string& path, const std::string& bytes) {
#ifdef TWIST_WITH_STB
  // stb's reason for the last failure (nullptr when there was none).
  auto reason = [] {
    const char* r = stbi_failure_reason();
    return std::string(r ? r : "unknown error");
  };
  const auto* buf = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, c = 0;
  // Ask for the file's own channel count, then reduce to grey or RGB.
  if (stbi_info_from_memory(buf, len, &w, &h, &c) != 1)
    throw Error("'" + path + "' is not an image twist can read (PNG, JPEG, PGM/PPM or BMP): " + reason());
  check_image_size(path, w, h);
  // A BMP whose pixels end past the end of the file is refused before stb
  // pads the rest with zeros (a 32-byte file promised 170 million pixels;
  // fitting them took minutes).
  if (bytes.compare(0, 2, "BM") == 0 && bmp_bytes_needed(bytes, w, h) > int64_t(bytes.size()))
    throw Error("'" + path + "' is not a valid BMP: its header promises " + std::to_string(w) + "x" +
                std::to_string(h) + " pixels, more than its " + std::to_string(bytes.size()) + " bytes hold");
  const int want = (c == 1 || c == 2) ? 1 : 3;
  unsigned char* data = stbi_load_from_memory(buf, len, &w, &h, &c, want);
  if (data == nullptr) throw Error("cannot decode image '" + path + "': " + reason());
  auto hwc = torch::from_blob(data, {h, w, want}, torch::kUInt8).clone();
  stbi_image_free(data);
  return to_chw(hwc);
#else
  (void)bytes;
  throw Error("cannot read '" + path +
              "': this twist was built without PNG/BMP decoding (install libstb-dev and rebuild)");
#endif
}

}  // namespace

namespace {
std::atomic<int64_t> g_image_reads{0};
}  // namespace

int64_t image_reads() { return g_image_reads.load(); }

namespace {

// fn(), with a twist::Error it throws turned into an ImageError: the file
// does not read as an image.
template <class Fn>
auto as_image_error(Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const ImageError&) { throw; } catch (const Error& e) {
    throw ImageError(e.what());
  }
}

EncodedImage open_file(const std::string& path) {
  struct stat st;
  check(::stat(path.c_str(), &st) == 0, "image '" + path + "' does not exist");
  check(S_ISREG(st.st_mode), "image '" + path + "' is not a file");
  check(st.st_size > 0, "image '" + path + "' is empty");
  check(st.st_size < (int64_t(1) << 31), "image '" + path + "' is larger than 2 GiB");
  EncodedImage e;
  e.path = path;
  std::string bytes = read_file_bytes(path, "image");
  auto starts = [&](const char* magic, size_t k) { return bytes.size() >= k && bytes.compare(0, k, magic, k) == 0; };
  if (starts("\xFF\xD8\xFF", 3)) {
#ifdef TWIST_WITH_TURBOJPEG
    const JpegHeader h = read_jpeg_header(jpeg_decoder().get(), path, bytes);
    e.height = h.height;
    e.width = h.width;
    e.channels = h.grey ? 1 : 3;
    e.bytes = std::move(bytes);
    return e;
#else
    no_jpeg(path);
#endif
  }
  e.decoded = starts("P5", 2) || starts("P6", 2) ? read_pnm(path, bytes) : read_png_or_bmp(path, bytes);
  e.channels = e.decoded.size(0);
  e.height = e.decoded.size(1);
  e.width = e.decoded.size(2);
  return e;
}

ScaledImage decode_file(const EncodedImage& image, double min_scale, const ImageRegion& needed) {
  if (image.decoded.defined()) return {image.decoded, 1.0, 1.0};
#ifdef TWIST_WITH_TURBOJPEG
  const tjscalingfactor s = jpeg_scale(min_scale);
  const double scale = double(s.num) / double(s.denom);
  const JpegRows rows = rows_needed(image, s, needed);
  const bool part = rows.row0 > 0 || rows.row1 < rows.height || rows.col0 > 0 || rows.col1 < rows.width;
  if (part && jpeg_rows_available()) return {decode_jpeg_part(image, rows), scale, scale};
  return {decode_jpeg(image.path, image.bytes, s), scale, scale};
#else
  (void)min_scale;
  (void)needed;
  no_jpeg(image.path);
#endif
}

}  // namespace

EncodedImage open_image(const std::string& path) {
  ++g_image_reads;
  return as_image_error([&] { return open_file(path); });
}

ScaledImage decode_scaled(const EncodedImage& image, double min_scale) {
  return decode_scaled(image, min_scale, ImageRegion{});
}

ScaledImage decode_scaled(const EncodedImage& image, double min_scale, const ImageRegion& needed) {
  return as_image_error([&] { return decode_file(image, min_scale, needed); });
}

torch::Tensor read_image(const std::string& path) { return decode_scaled(open_image(path), 1.0).pixels; }

torch::Tensor fit_image(const torch::Tensor& image_u8, int64_t channels, int64_t size, int64_t shorter) {
  check(image_u8.dim() == 3 && (image_u8.size(0) == 1 || image_u8.size(0) == 3),
        "fit_image: need a 1- or 3-channel C x H x W image");
  check(channels == 1 || channels == 3, "fit_image: the model takes 1 or 3 channels");
  check(size >= 1, "fit_image: size must be positive");
  if (shorter <= 0) shorter = size;
  check(shorter >= size, "fit_image: the shorter side cannot be resized below the crop size");
  auto x = image_u8.to(torch::kFloat32);
  if (channels == 1 && x.size(0) == 3) {
    auto w = torch::tensor({0.299f, 0.587f, 0.114f}).view({3, 1, 1});
    x = (x * w).sum(0, /*keepdim=*/true);
  } else if (channels == 3 && x.size(0) == 1) {
    x = x.expand({3, x.size(1), x.size(2)});
  }
  const int64_t h = x.size(1), w = x.size(2);
  const double scale = double(shorter) / double(std::min(h, w));
  const int64_t nh = std::max<int64_t>(shorter, std::llround(h * scale));
  const int64_t nw = std::max<int64_t>(shorter, std::llround(w * scale));
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
