// A file-backed set decoded whole, for the code that wants one uint8 tensor:
// the linear probe, fine-tuning, diagnostics, reports. Training never needs
// this: the loader decodes a batch's files on its workers; kNN, clustering
// and embedding stream their batches (eval_images, for_each_eval_batch).
#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>

#include "twist/data.h"
#include "twist/error.h"
#include "twist/image.h"

namespace twist {
namespace {

std::atomic<int64_t> in_memory_limit{kInMemoryLimitBytes};

}  // namespace

int64_t in_memory_limit_bytes() { return in_memory_limit.load(); }

void set_in_memory_limit_bytes(int64_t bytes) { in_memory_limit.store(bytes > 0 ? bytes : kInMemoryLimitBytes); }

int64_t in_memory_bytes(const Dataset& data, int64_t side) {
  return data.file_backed() ? data.size() * 3 * side * side : 0;
}

torch::Tensor eval_image(const torch::Tensor& decoded, int64_t side) {
  // ImageNet's evaluation transform: shorter side to side / 0.875 (256 for
  // 224), centre crop. Training crops see whole images at random scales;
  // the margin keeps evaluation's object scale close to theirs.
  const int64_t shorter = std::max<int64_t>(side, std::llround(double(side) / 0.875));
  return fit_image(decoded, 3, side, shorter);
}

torch::Tensor eval_images(const Dataset& data, int64_t begin, int64_t n, int64_t side) {
  check(begin >= 0 && n >= 0 && begin + n <= data.size(), "eval_images: rows out of range");
  if (!data.file_backed()) return data.images.narrow(0, begin, n);
  check(side >= 1, "eval_images: the image side must be positive");
  auto out = torch::empty({n, 3, side, side}, torch::kUInt8);
  // Decoding dominates; each image is independent. at::parallel_for rethrows
  // a worker's twist::Error (which names the file) on this thread.
  at::parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i].copy_(eval_image(read_image(data.files[size_t(begin + i)]), side));
  });
  return out;
}

torch::Tensor eval_images_at(const Dataset& data, const torch::Tensor& rows, int64_t side) {
  if (!data.file_backed()) return data.images.index_select(0, rows);
  const Dataset picked = data.subset(rows, "");
  return eval_images(picked, 0, picked.size(), side);
}

Dataset in_memory(const Dataset& data, int64_t side) {
  if (!data.file_backed()) return data;
  check(side >= 1, "in_memory: the image side must be positive");
  const int64_t bytes = in_memory_bytes(data, side), limit = in_memory_limit_bytes();
  check(bytes <= limit, "data set '" + data.name + "': decoding its " + std::to_string(data.size()) + " images at " +
                            std::to_string(side) + "x" + std::to_string(side) + " would take " +
                            std::to_string((bytes + (int64_t(1) << 20) - 1) >> 20) + " MiB, above twist's " +
                            std::to_string(limit >> 20) +
                            " MiB limit for holding an image folder in memory; evaluate on a "
                            "smaller folder (e.g. a split with fewer images) or at a smaller --image-size");
  Dataset d = data;
  d.files.clear();
  d.images = eval_images(data, 0, data.size(), side);
  return d;
}

}  // namespace twist
