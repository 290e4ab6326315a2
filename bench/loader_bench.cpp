// Images per second that twist's loader (BatchLoader, what `twist train
// --data folder:DIR` runs) decodes and augments into the paper's two global
// views, for bench/loader_side_by_side.sh against torchvision
// (bench/loader_peer.py). The views are MultiCropOptions::paper's two
// (bicubic random-resized crop, flip, colour jitter 0.8, grayscale 0.2, blur
// 1.0 / 0.1, solarize 0 / 0.2) at --size with crop scale (--scale-min, 1),
// normalized with ImageNet's statistics. The clock starts when the first
// batch arrives and stops after --batches more; one JSON object on stdout.
//   build/loader_bench folder:DIR [--workers 2] [--batch 64] [--batches 10] [--size 224]
//                      [--scale-min 0.08] [--seed 0] [--full-decode]
// --full-decode: every JPEG decoded at full size, then cropped
// (LoaderOptions::scaled_jpeg off), the loader before DCT-scaled decoding.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "twist/twist.h"

namespace {

struct Args {
  std::string data;
  int workers = 2;
  int64_t batch = 64, batches = 10, size = 224, seed = 0;
  double scale_min = 0.08;
  bool full_decode = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> const char* {
      twist::check(i + 1 < argc, k + " needs a value");
      return argv[++i];
    };
    if (k == "--workers")
      a.workers = std::atoi(value());
    else if (k == "--batch")
      a.batch = std::atoll(value());
    else if (k == "--batches")
      a.batches = std::atoll(value());
    else if (k == "--size")
      a.size = std::atoll(value());
    else if (k == "--seed")
      a.seed = std::atoll(value());
    else if (k == "--scale-min")
      a.scale_min = std::atof(value());
    else if (k == "--full-decode")
      a.full_decode = true;
    else if (a.data.empty() && k.rfind("--", 0) != 0)
      a.data = k;
    else
      throw twist::Error("unknown argument '" + k + "'");
  }
  twist::check(!a.data.empty(),
               "usage: loader_bench folder:DIR [--workers N] [--batch N] [--batches N] [--size N] "
               "[--scale-min X] [--seed N] [--full-decode]");
  twist::check(a.workers >= 1 && a.batch >= 1 && a.batches >= 1 && a.size >= 1,
               "--workers, --batch, --batches and --size must be positive");
  return a;
}

twist::MultiCropOptions two_views(const Args& a) {
  twist::MultiCropOptions crops = twist::MultiCropOptions::paper(a.size, 0, 0);
  for (auto& v : crops.views) v.scale_min = a.scale_min;
  return crops;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    torch::set_num_threads(1);  // the caller only waits; the workers do the work
    const twist::Dataset data = twist::load_dataset(a.data);
    const twist::EpochSampler sampler(data.size(), a.batch, uint64_t(a.seed));
    twist::check(sampler.steps_per_epoch() > a.batches, "loader_bench: " + a.data + " holds " +
                                                            std::to_string(data.size()) + " images, fewer than " +
                                                            std::to_string(a.batches + 1) + " batches");
    const twist::Normalization norm{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}};
    twist::LoaderOptions options;
    options.workers = a.workers;
    options.scaled_jpeg = !a.full_decode;
    twist::BatchLoader loader(data, sampler, two_views(a), norm, uint64_t(a.seed), 0, a.batches + 1, options);
    loader.next();
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < a.batches; ++i) loader.next();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double images = double(a.batches * a.batch);
    std::printf(
        "{\"images_per_s\": %.3f, \"seconds\": %.3f, \"images\": %.0f, \"workers\": %d, \"batch\": %lld, "
        "\"size\": %lld, \"scale_min\": %g, \"jpeg\": \"%s\"}\n",
        images / s, s, images, a.workers, (long long)a.batch, (long long)a.size, a.scale_min,
        a.full_decode ? "full" : "scaled");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loader_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
