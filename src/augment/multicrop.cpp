#include "twist/augment.h"
#include "twist/error.h"

namespace twist {
namespace {

torch::Tensor uniform(int64_t n, double lo, double hi, at::Generator& gen) {
  return torch::rand({n}, gen, torch::kFloat32) * (hi - lo) + lo;
}

torch::Tensor coin(int64_t n, double p, at::Generator& gen) { return torch::rand({n}, gen, torch::kFloat32) < p; }

// Jitter factor: uniform in [1-s, 1+s] where the sample is jittered, else 1.
torch::Tensor factor(int64_t n, double strength, const torch::Tensor& on, at::Generator& gen) {
  auto f = uniform(n, std::max(0.0, 1.0 - strength), 1.0 + strength, gen);
  return torch::where(on, f, torch::ones_like(f));
}

}  // namespace

MultiCropOptions MultiCropOptions::paper(int64_t image_size, int n_local, int64_t local_size) {
  MultiCropOptions m;
  ViewOptions g1;
  g1.size = image_size;
  g1.blur_p = 1.0;
  ViewOptions g2 = g1;
  g2.blur_p = 0.1;
  g2.solarize_p = 0.2;
  ViewOptions local = g1;
  local.size = local_size;
  local.scale_min = 0.05;
  local.scale_max = 0.4;
  local.blur_p = 0.5;
  m.views = {g1, g2};
  for (int i = 0; i < n_local; ++i) m.views.push_back(local);
  return m;
}

namespace {

// Every random number of one view, drawn up front in a fixed order so the
// stream a view consumes does not depend on which operations are active.
struct ViewDraws {
  torch::Tensor boxes, flip, jitter;
  torch::Tensor degrees;  // undefined where the view does not rotate
  torch::Tensor shear;    // or shear
  ColourDraws colour;
};

// Image i's crop of the view drawn in `d`, into `out` (C x size x size).
void crop_into(const torch::Tensor& image_u8, const ViewDraws& d, int64_t i, double scale_y, double scale_x,
               torch::Tensor out) {
  auto box = d.boxes.accessor<float, 2>();
  crop_scaled_into(image_u8, CropBox{box[i][0], box[i][1], box[i][2], box[i][3]}, scale_y, scale_x,
                   d.flip.accessor<bool, 1>()[i], std::move(out));
}

ViewDraws draw_view(const torch::Tensor& heights, const torch::Tensor& widths, const ViewOptions& v,
                    at::Generator& gen) {
  const int64_t B = heights.size(0);
  ViewDraws d;
  d.boxes = random_crop_boxes(heights, widths, v.scale_min, v.scale_max, v.ratio_min, v.ratio_max, gen);
  d.flip = coin(B, v.flip_p, gen);
  d.jitter = coin(B, v.jitter_p, gen);
  ColourDraws& c = d.colour;
  c.brightness = factor(B, v.brightness, d.jitter, gen);
  c.contrast = factor(B, v.contrast, d.jitter, gen);
  c.saturation = factor(B, v.saturation, d.jitter, gen);
  c.hue = torch::where(d.jitter, uniform(B, -v.hue, v.hue, gen), torch::zeros({B}));
  c.order = torch::randperm(4, gen, torch::kInt64);
  c.grey = coin(B, v.grayscale_p, gen);
  const double sigma_scale = double(v.size) / 224.0;
  auto sigma = uniform(B, v.sigma_min * sigma_scale, v.sigma_max * sigma_scale, gen);
  c.sigma = torch::where(coin(B, v.blur_p, gen), sigma, torch::zeros_like(sigma));
  c.solarize = coin(B, v.solarize_p, gen);
  // Last, so a view without rotation or shear draws the numbers it always drew.
  if (v.rotation > 0) d.degrees = uniform(B, -v.rotation, v.rotation, gen);
  if (v.shear > 0) d.shear = uniform(B, -v.shear, v.shear, gen);
  return d;
}

// The view's crops rotated and sheared where it does, then finished.
torch::Tensor finish_drawn(torch::Tensor x, const ViewOptions& v, const ViewDraws& d, const Normalization& norm) {
  const auto on = [&](const torch::Tensor& t) { return t.defined() ? t.to(x.device()) : t; };
  if (d.degrees.defined() || d.shear.defined()) x = rotate_and_shear(x, on(d.degrees), on(d.shear));
  return finish_view(std::move(x), v, d.colour, norm);
}

}  // namespace

torch::Tensor augment_view(const torch::Tensor& images_u8, const ViewOptions& v, const Normalization& norm,
                           at::Generator& gen) {
  check(images_u8.dim() == 4, "augment_view expects B x C x H x W images");
  const int64_t B = images_u8.size(0), H = images_u8.size(2), W = images_u8.size(3);
  auto x = images_u8.to(torch::kFloat32).div_(255.0);
  ViewDraws d = draw_view(torch::full({B}, H, torch::kInt64), torch::full({B}, W, torch::kInt64), v, gen);
  if (!x.device().is_cpu()) {
    // Drawn on the host generator (so a view is the same wherever it is
    // made), applied where the images are.
    const auto dev = x.device();
    ColourDraws& c = d.colour;
    for (auto* t :
         {&d.boxes, &d.flip, &c.brightness, &c.contrast, &c.saturation, &c.hue, &c.grey, &c.sigma, &c.solarize})
      *t = t->to(dev, /*non_blocking=*/true);
  }
  return finish_drawn(crop_resize(x, d.boxes, v.size, d.flip), v, d, norm);
}

torch::Tensor augment_view(const std::vector<torch::Tensor>& images_u8, const ViewOptions& v, const Normalization& norm,
                           at::Generator& gen) {
  const int64_t B = int64_t(images_u8.size());
  check(B > 0, "augment_view needs at least one image");
  auto heights = torch::empty({B}, torch::kInt64), widths = torch::empty({B}, torch::kInt64);
  for (int64_t i = 0; i < B; ++i) {
    const auto& im = images_u8[size_t(i)];
    check(im.dim() == 3 && im.size(0) == images_u8[0].size(0),
          "augment_view expects C x H x W images of one channel count");
    heights[i] = im.size(1);
    widths[i] = im.size(2);
  }
  const ViewDraws d = draw_view(heights, widths, v, gen);
  auto x = torch::empty({B, images_u8[0].size(0), v.size, v.size}, torch::kFloat32);
  for (int64_t i = 0; i < B; ++i) crop_into(images_u8[size_t(i)], d, i, 1.0, 1.0, x[i]);
  return finish_drawn(std::move(x), v, d, norm);
}

namespace {

// The smallest scale at which image i's boxes in every view stay at least
// their view's output size a side: the decode may shrink the image so far
// and no further, so each view is still resampled down (or 1:1), never up.
double min_scale_for(const std::vector<ViewDraws>& draws, const MultiCropOptions& crops, int64_t i) {
  double need = 0;
  for (size_t v = 0; v < draws.size(); ++v) {
    auto box = draws[v].boxes.accessor<float, 2>();
    need = std::max(need, double(crops.views[v].size) / std::min<double>(box[i][2], box[i][3]));
  }
  return need;
}

// The smallest region of image i that holds its boxes in every view.
ImageRegion region_for(const std::vector<ViewDraws>& draws, int64_t i) {
  double top = 1e300, left = 1e300, bottom = 0, right = 0;
  for (const auto& d : draws) {
    auto box = d.boxes.accessor<float, 2>();
    top = std::min<double>(top, box[i][0]);
    left = std::min<double>(left, box[i][1]);
    bottom = std::max<double>(bottom, double(box[i][0]) + double(box[i][2]));
    right = std::max<double>(right, double(box[i][1]) + double(box[i][3]));
  }
  return {top, left, bottom - top, right - left};
}

}  // namespace

std::vector<torch::Tensor> augment_views(const torch::Tensor& heights, const torch::Tensor& widths,
                                         const ScaledDecoder& decode, const MultiCropOptions& crops,
                                         const Normalization& norm, at::Generator& gen) {
  const int64_t B = heights.size(0);
  check(B > 0 && widths.size(0) == B, "augment_views needs one height and one width per image");
  // Every view's random numbers first, in the order augment_view draws them.
  std::vector<ViewDraws> draws;
  for (const auto& v : crops.views) draws.push_back(draw_view(heights, widths, v, gen));
  // Each view's batch, filled image by image as the images are decoded.
  std::vector<torch::Tensor> cut(crops.views.size());
  int64_t channels = 0;
  for (int64_t i = 0; i < B; ++i) {
    const ScaledImage im = decode(i, min_scale_for(draws, crops, i), region_for(draws, i));
    check(im.pixels.dim() == 3 && (i == 0 || im.pixels.size(0) == channels),
          "augment_views expects C x H x W images of one channel count");
    channels = im.pixels.size(0);
    for (size_t v = 0; v < crops.views.size(); ++v) {
      const int64_t size = crops.views[v].size;
      if (i == 0) cut[v] = torch::empty({B, channels, size, size}, torch::kFloat32);
      crop_into(im.pixels, draws[v], i, im.scale_y, im.scale_x, cut[v][i]);
    }
  }
  std::vector<torch::Tensor> out;
  for (size_t v = 0; v < crops.views.size(); ++v)
    out.push_back(finish_drawn(std::move(cut[v]), crops.views[v], draws[v], norm));
  return out;
}

namespace {
// The views of one batch in order, each drawing from the same generator.
template <class Images>
std::vector<torch::Tensor> views_of(const Images& images_u8, const MultiCropOptions& crops, const Normalization& norm,
                                    at::Generator& gen) {
  std::vector<torch::Tensor> out;
  out.reserve(crops.views.size());
  for (const auto& v : crops.views) out.push_back(augment_view(images_u8, v, norm, gen));
  return out;
}
}  // namespace

std::vector<torch::Tensor> augment_views(const torch::Tensor& images_u8, const MultiCropOptions& crops,
                                         const Normalization& norm, at::Generator& gen) {
  return views_of(images_u8, crops, norm, gen);
}

std::vector<torch::Tensor> augment_views(const std::vector<torch::Tensor>& images_u8, const MultiCropOptions& crops,
                                         const Normalization& norm, at::Generator& gen) {
  return views_of(images_u8, crops, norm, gen);
}

}  // namespace twist
