#include "twist/loader.h"

#include "twist/device.h"
#include "twist/image.h"

// Worker threads keep their tensor operations single-threaded so they do not
// compete with the training step's intra-op threads for the same cores.
// Declared weak: present with GNU and LLVM OpenMP, absent otherwise.
extern "C" void omp_set_num_threads(int) __attribute__((weak));

namespace twist {

Batch BatchLoader::make_batch(const Dataset& data, const EpochSampler& sampler, const MultiCropOptions& crops,
                              const Normalization& norm, uint64_t seed, int64_t step, torch::Device device,
                              BadImages* bad) {
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
  // A file-backed set: decode this batch's files here, on the worker, at
  // their own sizes; each view crops before it resizes. A file that does
  // not decode throws a twist::Error naming it, which next() rethrows, or
  // with `bad` is replaced while its allowance lasts.
  std::vector<torch::Tensor> images;
  auto idx = b.indices.accessor<int64_t, 1>();
  const uint64_t draws =
      (uint64_t(step) * uint64_t(sampler.world()) + uint64_t(sampler.rank())) * uint64_t(idx.size(0));
  for (int64_t i = 0; i < idx.size(0); ++i) {
    torch::Tensor im = bad ? read_or_stand_in(data, idx[i], *bad, seed, draws + uint64_t(i), &idx[i])
                           : read_image(data.files.at(size_t(idx[i])));
    images.push_back(im.size(0) == 1 ? im.expand({3, im.size(1), im.size(2)}) : im);  // grey as RGB
  }
  b.views = augment_views(images, crops, norm, gen);
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
      Batch b = make_batch(data_, sampler_, crops_, norm_, seed_, step, options_.device, options_.bad_images);
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
    return make_batch(data_, sampler_, crops_, norm_, seed_, step, options_.device, options_.bad_images);
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
