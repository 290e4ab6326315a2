#include "twist/loader.h"

#include "twist/device.h"
#include "twist/error.h"
#include "twist/image.h"

// Worker threads keep their tensor operations single-threaded so they do not
// compete with the training step's intra-op threads for the same cores.
// Declared weak: present with GNU and LLVM OpenMP, absent otherwise.
extern "C" void omp_set_num_threads(int) __attribute__((weak));

namespace twist {

namespace {

torch::Tensor as_rgb(const torch::Tensor& im) { return im.size(0) == 1 ? im.expand({3, im.size(1), im.size(2)}) : im; }

// Where a file-backed batch's images come from: `indices` (updated where a
// stand-in replaces a file that does not decode), the bad-image allowance
// (null: such a file is an error) and the stand-ins' draw numbers.
struct FileBatch {
  const Dataset& data;
  int64_t* indices;
  int64_t size;
  BadImages* bad;
  uint64_t seed, draws;
};

// Each file decoded whole, then cropped (LoaderOptions::scaled_jpeg off).
std::vector<torch::Tensor> full_decode_views(const FileBatch& f, const MultiCropOptions& crops,
                                             const Normalization& norm, at::Generator& gen) {
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < f.size; ++i) {
    int64_t& k = f.indices[i];
    images.push_back(as_rgb(f.bad ? read_or_stand_in(f.data, k, *f.bad, f.seed, f.draws + uint64_t(i), &k)
                                  : read_image(f.data.files.at(size_t(k)))));
  }
  return augment_views(images, crops, norm, gen);
}

// Each file opened (a JPEG's header read), the crops drawn on the full
// sizes, then each JPEG decoded at the smallest DCT scale its crops allow,
// only the rows and columns its crops cover.
// A JPEG whose data do not decode, within the allowance, is replaced by a
// stand-in decoded whole, onto which its boxes map in proportion.
std::vector<torch::Tensor> scaled_decode_views(const FileBatch& f, const MultiCropOptions& crops,
                                               const Normalization& norm, at::Generator& gen) {
  std::vector<EncodedImage> files;
  auto heights = torch::empty({f.size}, torch::kInt64), widths = torch::empty({f.size}, torch::kInt64);
  for (int64_t i = 0; i < f.size; ++i) {
    int64_t& k = f.indices[i];
    files.push_back(f.bad ? open_or_stand_in(f.data, k, *f.bad, f.seed, f.draws + uint64_t(i), &k)
                          : open_image(f.data.files.at(size_t(k))));
    heights[i] = files.back().height;
    widths[i] = files.back().width;
  }
  auto decode = [&](int64_t i, double min_scale, const ImageRegion& needed) {
    const EncodedImage& file = files[size_t(i)];
    ScaledImage im;
    try {
      im = decode_scaled(file, min_scale, needed);
    } catch (const ImageError& e) {
      if (!f.bad) throw;
      f.bad->reject(file.path, e);  // throws past the allowance
      int64_t& k = f.indices[i];
      const torch::Tensor s = read_or_stand_in(f.data, k, *f.bad, f.seed, f.draws + uint64_t(i), &k);
      im = {s, double(s.size(1)) / double(file.height), double(s.size(2)) / double(file.width)};
    }
    im.pixels = as_rgb(im.pixels);
    return im;
  };
  return augment_views(heights, widths, decode, crops, norm, gen);
}

}  // namespace

Batch BatchLoader::make_batch(const Dataset& data, const EpochSampler& sampler, const MultiCropOptions& crops,
                              const Normalization& norm, uint64_t seed, int64_t step, torch::Device device,
                              BadImages* bad, bool scaled_jpeg) {
  Batch b;
  b.step = step;
  b.indices = sampler.indices(step);
  // One augmentation stream per (step, rank); with one rank, per step.
  auto gen = make_generator(seed, uint64_t(step) * uint64_t(sampler.world()) + uint64_t(sampler.rank()));
  if (!data.file_backed()) {
    // On a GPU the batch's images go there first and are augmented there.
    b.views = augment_views(to_device(data.images.index_select(0, b.indices), device), crops, norm, gen);
    return b;
  }
  // A file-backed set: decode this batch's files here, on the worker; each
  // view crops before it resizes. A file that does not decode throws a
  // twist::Error naming it, which next() rethrows, or with `bad` is
  // replaced while its allowance lasts.
  const int64_t n = b.indices.size(0);
  const uint64_t draws = (uint64_t(step) * uint64_t(sampler.world()) + uint64_t(sampler.rank())) * uint64_t(n);
  const FileBatch files{data, b.indices.data_ptr<int64_t>(), n, bad, seed, draws};
  b.views = scaled_jpeg ? scaled_decode_views(files, crops, norm, gen) : full_decode_views(files, crops, norm, gen);
  for (auto& v : b.views) v = to_device(v, device);  // decoded and augmented on the host
  return b;
}

BatchLoader::BatchLoader(const Dataset& data, const EpochSampler& sampler, MultiCropOptions crops, Normalization norm,
                         uint64_t seed, int64_t first_step, int64_t end_step, LoaderOptions options)
    : data_(data),
      sampler_(sampler),
      crops_(std::move(crops)),
      norm_(std::move(norm)),
      seed_(seed),
      first_step_(first_step),
      next_step_(first_step),
      end_step_(end_step),
      options_(options) {
  const int workers = std::max(0, options_.workers);
  options_.prefetch = std::max(options_.prefetch, workers);
  for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { work(w); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void BatchLoader::work(int worker) {
  if (omp_set_num_threads) omp_set_num_threads(1);
  torch::NoGradGuard no_grad;
  const int n = std::max(1, options_.workers);
  for (int64_t step = first_step_ + worker; step < end_step_; step += n) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || step < next_step_ + options_.prefetch; });
      if (stop_) return;
    }
    try {
      Batch b = make_batch(data_, sampler_, crops_, norm_, seed_, step, options_.device, options_.bad_images,
                           options_.scaled_jpeg);
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(step, std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    cv_.notify_all();
  }
}

Batch BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t step = next_step_;
  if (step >= end_step_) throw std::out_of_range("BatchLoader::next past the last step");
  if (threads_.empty()) {
    // No workers: made here, with the caller's intra-op threads.
    ++next_step_;
    lock.unlock();
    torch::NoGradGuard no_grad;
    return make_batch(data_, sampler_, crops_, norm_, seed_, step, options_.device, options_.bad_images,
                      options_.scaled_jpeg);
  }
  cv_.wait(lock, [&] { return error_ || ready_.count(step) > 0; });
  if (error_) std::rethrow_exception(error_);
  Batch b = std::move(ready_[step]);
  ready_.erase(step);
  ++next_step_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace twist
