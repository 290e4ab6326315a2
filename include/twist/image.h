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
// How many times this process has called read_image (tests check that a
// step decodes a bounded sample of a folder, not all of it).
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

}  // namespace twist
