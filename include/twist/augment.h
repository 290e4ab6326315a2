#pragma once
// Batched image augmentation for TWIST's multi-crop views (docs/design.md §2.4, §5.3).
// Every function works on a whole batch of float images in [0, 1]
// (B x C x H x W) with per-sample random parameters drawn from an explicit
// generator, so a batch's views are a pure function of (images, seed).
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "twist/data.h"
#include "twist/image.h"
#include "twist/random.h"

namespace twist {

struct ViewOptions {
  int64_t size = 28;                        // output side length
  double scale_min = 0.4, scale_max = 1.0;  // crop area as a fraction of the image
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  double flip_p = 0.5;
  double jitter_p = 0.8;  // colour jitter (brightness, contrast, saturation, hue)
  double brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1;
  double grayscale_p = 0.2;  // no effect on one-channel images
  double blur_p = 0.0;
  // Blur sigma for a 224-pixel image; scaled by size/224 for the output size,
  // as the reference implementation scales its PIL blur radius.
  double sigma_min = 0.1, sigma_max = 2.0;
  double solarize_p = 0.0;
  // Largest rotation of the crop in degrees (uniform in [-rotation,
  // rotation], counter-clockwise positive); 0: none, and nothing drawn.
  double rotation = 0.0;
  // Largest horizontal shear in degrees (uniform in [-shear, shear]: rows
  // slide sideways in proportion to their height, as handwriting slants),
  // applied with the rotation; 0: none, and nothing drawn.
  double shear = 0.0;
};

// The views of one batch: global crops first, then local crops.
struct MultiCropOptions {
  std::vector<ViewOptions> views;
  // The paper's recipe scaled to `image_size`: two global views (blur 1.0 /
  // 0.1, solarize 0 / 0.2, scale (0.4, 1)) and `n_local` local views of side
  // `local_size` (blur 0.5, scale (0.05, 0.4)).
  static MultiCropOptions paper(int64_t image_size, int n_local, int64_t local_size);
};

// --- building blocks (exposed for tests and for users' own pipelines) ------

// Random-resized-crop boxes, torchvision's algorithm (10 tries, then the
// largest centred box within the ratio range). Returns B x 4 float:
// top, left, height, width in pixels.
torch::Tensor random_crop_boxes(int64_t batch, int64_t height, int64_t width, double scale_min, double scale_max,
                                double ratio_min, double ratio_max, at::Generator& gen);
// The same with each sample's own height and width (int64, B each), for
// images of different sizes; draws the same random numbers in the same order.
torch::Tensor random_crop_boxes(const torch::Tensor& heights, const torch::Tensor& widths, double scale_min,
                                double scale_max, double ratio_min, double ratio_max, at::Generator& gen);
// Crops each image to its box and resizes to size x size (bicubic);
// mirrors horizontally where flip[i] is true.
torch::Tensor crop_resize(const torch::Tensor& images, const torch::Tensor& boxes, int64_t size,
                          const torch::Tensor& flip);
// Random-resized crop of one image of any size, crop first: only the box
// (top, left, height, width in whole pixels, as random_crop_boxes gives) of
// the uint8 C x H x W image is converted and resampled to size x size
// (bicubic), as torchvision's resized_crop, so a large image is never
// resized whole. Mirrored when `flip`. Returns float 1 x C x size x size in
// [0, 1].
torch::Tensor crop_then_resize(const torch::Tensor& image_u8, const torch::Tensor& box, int64_t size, bool flip);
// The same on an image decoded at a reduced scale (decode_scaled): `box`
// is in the full image's pixels and is mapped to the scaled image's
// (times scale_y, scale_x); the whole pixels it touches are cut and the
// box, with its fractional edges, resampled to size x size.
torch::Tensor crop_scaled_then_resize(const torch::Tensor& image_u8, const torch::Tensor& box, double scale_y,
                                      double scale_x, int64_t size, bool flip);
// The same written into `out` (float32 C x size x size, contiguous: one
// image of a batch being filled), with the box as four numbers (top, left,
// height, width), so that a batch is cut with no per-image tensors.
struct CropBox {
  double top, left, height, width;
};
void crop_scaled_into(const torch::Tensor& image_u8, CropBox box, double scale_y, double scale_x, bool flip,
                      torch::Tensor out);
torch::Tensor hflip(const torch::Tensor& images);
// Rotates each square image of a float batch (B x C x S x S) about its
// centre by its own angle in degrees (B, counter-clockwise), bilinear;
// pixels that come from outside the image repeat its border.
torch::Tensor rotate(const torch::Tensor& images, const torch::Tensor& degrees);
// The same, each image also slanted by its own shear angle in degrees (B):
// a point at height y above the centre moves tan(shear) y to the right.
// Either angle may be undefined (none); one resampling for both.
torch::Tensor rotate_and_shear(const torch::Tensor& images, const torch::Tensor& degrees, const torch::Tensor& shear);
// Factor per sample (B). Brightness scales; contrast blends with the mean
// grey level; saturation blends with the grey image.
torch::Tensor adjust_brightness(const torch::Tensor& x, const torch::Tensor& factor);
torch::Tensor adjust_contrast(const torch::Tensor& x, const torch::Tensor& factor);
torch::Tensor adjust_saturation(const torch::Tensor& x, const torch::Tensor& factor);
// Hue shift per sample, in turns (-0.5..0.5). RGB only.
torch::Tensor adjust_hue(const torch::Tensor& x, const torch::Tensor& shift);
torch::Tensor rgb_to_grayscale(const torch::Tensor& x);  // B x 1 x H x W
// Gaussian blur with a per-sample sigma in pixels (0 leaves a sample as is).
torch::Tensor gaussian_blur(const torch::Tensor& x, const torch::Tensor& sigma);
// Pixels at or above the threshold are inverted (PIL's solarize at 128/255).
torch::Tensor solarize(const torch::Tensor& x, double threshold = 128.0 / 255.0);
torch::Tensor normalize(const torch::Tensor& x, const Normalization& norm);

// The per-sample draws of everything after a view's crop, B each: the
// jitter factors (1 where a sample is not jittered), the hue shift, the
// grey and solarize coins (bool), the blur sigma in pixels (0 = none), and
// the order of the jitter's four adjustments (4 int64 for the whole batch:
// 0 brightness, 1 contrast, 2 saturation, 3 hue).
struct ColourDraws {
  torch::Tensor brightness, contrast, saturation, hue, grey, sigma, solarize, order;
};
// Colour jitter (in `order`), grey, blur, solarize and normalization of a
// cropped float batch in [0, 1]: what every view does after its crop. On a
// CPU float32 batch of grey or RGB images it runs image by image, each
// stage one pass over the image's pixels (finish_view_fused); elsewhere as
// batched tensor operations (finish_view_batched), which skip a stage the
// view's options turn off. The two agree to within float rounding. A
// batch passed as a temporary (or moved) that nothing else refers to is
// finished in place; the caller's own tensors are never changed.
torch::Tensor finish_view(torch::Tensor x, const ViewOptions& v, const ColourDraws& d, const Normalization& norm);
torch::Tensor finish_view_batched(torch::Tensor x, const ViewOptions& v, const ColourDraws& d,
                                  const Normalization& norm);
torch::Tensor finish_view_fused(const torch::Tensor& x, const ColourDraws& d, const Normalization& norm);
// The same in place, on a contiguous CPU float32 batch.
void finish_view_fused_(torch::Tensor& x, const ColourDraws& d, const Normalization& norm);

// One augmented, normalized view of a batch of uint8 images.
torch::Tensor augment_view(const torch::Tensor& images_u8, const ViewOptions& view, const Normalization& norm,
                           at::Generator& gen);
std::vector<torch::Tensor> augment_views(const torch::Tensor& images_u8, const MultiCropOptions& crops,
                                         const Normalization& norm, at::Generator& gen);
// The same for images of different sizes (uint8 C x H_i x W_i each, one
// channel count), as a file-backed set decodes them: each crop box is drawn
// on its image's own size and cut before resizing (crop_then_resize).
torch::Tensor augment_view(const std::vector<torch::Tensor>& images_u8, const ViewOptions& view,
                           const Normalization& norm, at::Generator& gen);
std::vector<torch::Tensor> augment_views(const std::vector<torch::Tensor>& images_u8, const MultiCropOptions& crops,
                                         const Normalization& norm, at::Generator& gen);
// The same for images not decoded yet (a file-backed set's JPEGs): every
// view's crop boxes are drawn on the full sizes (heights, widths: int64, B
// each, from the files' headers), with the same random numbers in the same
// order as above; then decode(i, min_scale) decodes image i at a scale of at
// least min_scale (decode_scaled), where min_scale is the scale at which
// the shorter side of one of its boxes shrinks to that view's output size
// (the largest such over the views: no box is resampled up), and each box
// is mapped to the scaled pixels and resampled (crop_scaled_then_resize).
// `needed` is the smallest region of the full image that holds all of
// image i's boxes: no pixel outside it is read (decode_scaled with a
// region). A decoder that always decodes at full size gives exactly the
// views above.
using ScaledDecoder = std::function<ScaledImage(int64_t index, double min_scale, const ImageRegion& needed)>;
std::vector<torch::Tensor> augment_views(const torch::Tensor& heights, const torch::Tensor& widths,
                                         const ScaledDecoder& decode, const MultiCropOptions& crops,
                                         const Normalization& norm, at::Generator& gen);

}  // namespace twist
