#pragma once
// Image files for prediction: PNG, JPEG, PGM/PPM (binary), BMP, decoded into
// uint8 tensors.
#include <torch/torch.h>

#include <string>

namespace twist {

// Decodes an image file into uint8 C x H x W with C = 1 (grey) or 3 (RGB);
// an alpha channel is dropped. Throws twist::Error naming the file when it
// is missing, empty or not a decodable image.
torch::Tensor read_image(const std::string& path);
// An image file read but, for a JPEG, not decoded yet: the loader draws
// its crops on the size from the header first, then decodes at the scale
// the crops need (decode_scaled). Other formats are decoded whole here.
struct EncodedImage {
  std::string path;
  std::string bytes;              // a JPEG's file; empty for the other formats
  int64_t height = 0, width = 0;  // the full size
  int64_t channels = 0;           // a JPEG's: 1 (greyscale) or 3
  torch::Tensor decoded;          // the other formats: uint8 C x H x W
};
// Reads the file and a JPEG's header (size only); throws twist::Error as
// read_image does for a missing, empty or unreadable file.
EncodedImage open_image(const std::string& path);

// Pixels at a scale of the full image: pixel (y, x) covers the full image's
// [y / scale_y, (y + 1) / scale_y) x [x / scale_x, (x + 1) / scale_x).
struct ScaledImage {
  torch::Tensor pixels;  // uint8 C x H' x W'
  double scale_y = 1.0, scale_x = 1.0;
};
// A JPEG decoded at the smallest DCT-domain scale of 1/8, 1/4 and 1/2 that
// is at least `min_scale` (1 when none is: full size), uint8 C x
// ceil(H * scale) x ceil(W * scale); libjpeg-turbo averages each 8 x 8
// block's frequencies into fewer pixels, so the skipped work is the inverse
// DCT and colour conversion of the pixels not produced. Other formats come
// back as decoded, at scale 1. Throws twist::Error naming a file whose data
// do not decode.
ScaledImage decode_scaled(const EncodedImage& image, double min_scale);
// Part of a full image: rows [top, top + height), columns [left, left +
// width), in its pixels (fractional edges allowed, as crop boxes have).
struct ImageRegion {
  double top = 0, left = 0, height = 0, width = 0;
};
// The same, where only `needed` will be read: a JPEG's pixels outside the
// scaled rows and columns it touches (widened by one pixel each way) are
// not decoded and are zero; rows above are only entropy-decoded and rows
// below not read at all (libjpeg's jpeg_skip_scanlines and
// jpeg_crop_scanline; jpeg_rows_available()). Inside, the pixels equal
// decode_scaled's. When `needed` covers the whole image, or without
// libjpeg, decode_scaled's. A file cut short below the rows needed
// decodes; one cut within them throws.
ScaledImage decode_scaled(const EncodedImage& image, double min_scale, const ImageRegion& needed);

// How many times this process has opened an image file (read_image,
// open_image; tests check that a step decodes a bounded sample of a folder,
// not all of it).
int64_t image_reads();

// Converts a decoded image to a model's input: `channels` (1: luminance,
// ITU-R 601 weights as PIL's convert("L"); 3: grey replicated), then the
// shorter side resized to `shorter` (0: `size`; area averaging when
// shrinking, bilinear when enlarging) and the centre size x size cut out.
// uint8 C x size x size.
torch::Tensor fit_image(const torch::Tensor& image_u8, int64_t channels, int64_t size, int64_t shorter = 0);

// True when this build can decode PNG, PGM/PPM and BMP files (stb_image).
bool image_decoding_available();

// True when this build can decode JPEG files (libjpeg-turbo).
bool jpeg_decoding_available();

// True when this build can decode part of a JPEG (libjpeg's own API,
// Debian's libjpeg62-turbo-dev; decode_scaled with a region).
bool jpeg_rows_available();

}  // namespace twist
