// Where the loader's time goes: milliseconds per image of decoding (full
// size) and per view of each augmentation stage (the crop's bicubic
// resampling, the four colour adjustments, grey conversion, blur, solarize,
// normalization; then all of them at once, batched and fused), on one
// thread, for a batch of a folder's first images and output side SIZE. Each stage runs on the whole batch with every
// sample's operation applied (factor 1.2, hue shift 0.05, sigma 0.1-2), so
// a stage costs what it costs when drawn; twice, the second pass reported.
//   build/augment_stages folder:DIR [images 32] [size 224]
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "twist/twist.h"

namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds per image of f() over `n` images (the second of two runs).
double ms_per(int64_t n, const std::function<void()>& f) {
  f();
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count() * 1000 / double(n);
}

// The batch's random-resized crops (scale 0.08-1), one view, written into
// the view's batch as the loader writes them.
torch::Tensor crops_of(const std::vector<torch::Tensor>& images, int64_t size) {
  auto gen = twist::make_generator(1, 0);
  auto out = torch::empty({int64_t(images.size()), images[0].size(0), size, size});
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& im = images[i];
    const auto box = twist::random_crop_boxes(1, im.size(1), im.size(2), 0.08, 1.0, 3.0 / 4, 4.0 / 3, gen)[0];
    auto b = box.accessor<float, 1>();
    twist::crop_scaled_into(im, twist::CropBox{b[0], b[1], b[2], b[3]}, 1.0, 1.0, false, out[int64_t(i)]);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: augment_stages folder:DIR [images] [size]\n");
    return 2;
  }
  try {
    // Freed memory kept, as the twist binary keeps it (src/cli/main.cpp):
    // otherwise every large temporary is a fresh mapping, page-faulted anew.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    torch::set_num_threads(1);
    torch::NoGradGuard no_grad;
    const twist::Dataset d = twist::load_dataset(argv[1]);
    const int64_t n = std::min<int64_t>(argc > 2 ? std::atoll(argv[2]) : 32, d.size());
    const int64_t size = argc > 3 ? std::atoll(argv[3]) : 224;
    std::vector<torch::Tensor> images(static_cast<size_t>(n));
    const double decode = ms_per(n, [&] {
      for (int64_t i = 0; i < n; ++i) images[size_t(i)] = twist::read_image(d.files[size_t(i)]);
    });
    std::printf("%lld images of %s, views of %lld: ms per image (decode) or per view (the rest)\n", (long long)n,
                argv[1], (long long)size);
    std::printf("%-12s %6.2f\n", "decode", decode);
    torch::Tensor x;
    std::printf("%-12s %6.2f\n", "crop", ms_per(n, [&] { x = crops_of(images, size); }));
    const auto f = torch::full({n}, 1.2f), on = torch::ones({n, 1, 1, 1}, torch::kBool);
    const std::vector<std::pair<const char*, std::function<torch::Tensor()>>> stages = {
        {"brightness", [&] { return twist::adjust_brightness(x, f); }},
        {"contrast", [&] { return twist::adjust_contrast(x, f); }},
        {"saturation", [&] { return twist::adjust_saturation(x, f); }},
        {"hue", [&] { return twist::adjust_hue(x, torch::full({n}, 0.05f)); }},
        {"grey", [&] { return torch::where(on, twist::rgb_to_grayscale(x).expand_as(x), x); }},
        {"blur", [&] { return twist::gaussian_blur(x, torch::linspace(0.1, 2.0, n)); }},
        {"solarize", [&] { return torch::where(on, twist::solarize(x), x); }},
        {"normalize",
         [&] {
           return twist::normalize(x, {{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}});
         }},
    };
    for (const auto& [name, stage] : stages) std::printf("%-12s %6.2f\n", name, ms_per(n, [&] { stage(); }));
    // Every stage after the crop at once, as a drawn view runs them:
    // batched tensor operations against the fused pass per image.
    twist::ColourDraws draws{
        f, f, f, torch::full({n}, 0.05f), on.view({n}), torch::linspace(0.1, 2.0, n), on.view({n}), torch::arange(4)};
    twist::ViewOptions v;
    v.blur_p = v.solarize_p = 1;
    const twist::Normalization norm{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}};
    std::printf("%-12s %6.2f\n", "all batched", ms_per(n, [&] { twist::finish_view_batched(x, v, draws, norm); }));
    std::printf("%-12s %6.2f\n", "all fused", ms_per(n, [&] { twist::finish_view_fused(x, draws, norm); }));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "augment_stages: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
