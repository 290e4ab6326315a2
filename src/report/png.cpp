// PNG encoding (for images embedded in the report) with zlib, base64, and
// tiling images into one grid.
#include <zlib.h>

#include "twist/error.h"
#include "twist/report.h"

namespace twist {
namespace {

void put_u32(std::string& out, uint32_t v) {
  out += char(v >> 24);
  out += char((v >> 16) & 0xFF);
  out += char((v >> 8) & 0xFF);
  out += char(v & 0xFF);
}

// Length, type, data, then the CRC-32 of type and data.
void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, uint32_t(data.size()));
  std::string body = std::string(type, 4) + data;
  out += body;
  put_u32(out, uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
}

}  // namespace

std::string encode_png(const torch::Tensor& image_u8) {
  check(image_u8.dim() == 3 && image_u8.scalar_type() == torch::kUInt8 &&
            (image_u8.size(0) == 1 || image_u8.size(0) == 3),
        "encode_png: need a uint8 C x H x W image with 1 or 3 channels");
  const int64_t c = image_u8.size(0), h = image_u8.size(1), w = image_u8.size(2);
  check(h > 0 && w > 0 && h < (1 << 24) && w < (1 << 24), "encode_png: bad image size");
  auto hwc = image_u8.permute({1, 2, 0}).contiguous();
  const auto* px = hwc.data_ptr<uint8_t>();
  // Each scanline: filter type 0 (none), then its bytes.
  const int64_t row = w * c;
  std::string raw;
  raw.reserve(size_t(h * (row + 1)));
  for (int64_t y = 0; y < h; ++y) {
    raw += char(0);
    raw.append(reinterpret_cast<const char*>(px + y * row), size_t(row));
  }
  uLongf packed_size = compressBound(uLong(raw.size()));
  std::string packed(packed_size, '\0');
  check(compress2(reinterpret_cast<Bytef*>(&packed[0]), &packed_size, reinterpret_cast<const Bytef*>(raw.data()),
                  uLong(raw.size()), 6) == Z_OK,
        "encode_png: zlib failed");
  packed.resize(packed_size);
  std::string ihdr;
  put_u32(ihdr, uint32_t(w));
  put_u32(ihdr, uint32_t(h));
  ihdr += char(8);               // bit depth
  ihdr += char(c == 1 ? 0 : 2);  // colour type: grey or RGB
  ihdr += std::string(3, '\0');  // compression, filter, interlace
  std::string png("\x89PNG\r\n\x1a\n", 8);
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", packed);
  put_chunk(png, "IEND", "");
  return png;
}

std::string base64(const std::string& bytes) {
  static const char* const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
    out += abc[(v >> 6) & 63];
    out += abc[v & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | (two ? uint32_t(uint8_t(bytes[i + 1])) << 8 : 0);
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
    out += two ? abc[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

torch::Tensor tile_images(const torch::Tensor& images_u8, int64_t columns, int64_t gap, uint8_t background) {
  check(images_u8.dim() == 4 && images_u8.size(0) > 0 && images_u8.scalar_type() == torch::kUInt8,
        "tile_images: need uint8 N x C x H x W images, N > 0");
  check(columns >= 1 && gap >= 0, "tile_images: columns must be positive and the gap not negative");
  const int64_t n = images_u8.size(0), c = images_u8.size(1), h = images_u8.size(2), w = images_u8.size(3);
  const int64_t cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  auto out =
      torch::full({c, rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap}, int64_t(background), torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / cols, k = i % cols;
    out.narrow(1, r * (h + gap), h).narrow(2, k * (w + gap), w).copy_(images_u8[i]);
  }
  return out;
}

}  // namespace twist
