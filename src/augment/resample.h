#pragma once
// Separable bicubic resampling of one box of a uint8 image, the crop
// stage of a file-backed set's views (crop_then_resize).
#include <torch/torch.h>

namespace twist {

// The box (top, left, height, width in pixels, fractional edges allowed) of
// the uint8 C x H x W `image`, resampled into `out` (float C x size x size,
// contiguous) in [0, 1], mirrored when `flip`. Taps outside the whole pixels the box
// touches (rows r0..r1-1, columns c0..c1-1) read the nearest edge pixel.
// Along an axis where the box is at most `size` long: bicubic with
// a = -0.75, grid_sampler's and interpolate's (the same result up to float
// rounding). Where it is longer: the kernel widened by the ratio, so that
// each output pixel averages the pixels it covers, with a = -0.5 and taps
// past the edges dropped: PIL's resize, and interpolate's with antialias.
void resample_box(const torch::Tensor& image, double top, double left, double height, double width, int64_t r0,
                  int64_t r1, int64_t c0, int64_t c1, int64_t size, bool flip, float* out);

}  // namespace twist
