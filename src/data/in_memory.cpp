// A file-backed set's images as evaluation sees them: a range or given rows
// decoded (eval_images, eval_images_at; what every evaluation streams), or
// the set decoded whole for the code that wants one uint8 tensor (reports,
// and the pixel baselines below their limit). Training never needs this:
// the loader decodes a batch's files on its workers.
#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <functional>

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

namespace {

// The files at data.files[file_of(i)], i < n, decoded as evaluation sees
// them. Decoding dominates; each image is independent. at::parallel_for
// rethrows a worker's twist::Error (which names the file) on this thread.
torch::Tensor decode_eval_files(const Dataset& data, int64_t n, int64_t side,
                                const std::function<int64_t(int64_t)>& file_of) {
  check(side >= 1, "eval_images: the image side must be positive");
  auto out = torch::empty({n, 3, side, side}, torch::kUInt8);
  at::parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i].copy_(eval_image(read_image(data.files[size_t(file_of(i))]), side));
  });
  return out;
}

}  // namespace

torch::Tensor eval_images(const Dataset& data, int64_t begin, int64_t n, int64_t side) {
  check(begin >= 0 && n >= 0 && begin + n <= data.size(), "eval_images: rows out of range");
  if (!data.file_backed()) return data.images.narrow(0, begin, n);
  return decode_eval_files(data, n, side, [begin](int64_t i) { return begin + i; });
}

torch::Tensor eval_images_at(const Dataset& data, const torch::Tensor& rows, int64_t side) {
  const auto idx = rows.to(torch::kInt64).contiguous();
  if (!data.file_backed()) return data.images.index_select(0, idx);
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i)
    check(p[i] >= 0 && p[i] < data.size(), "eval_images_at: row " + std::to_string(p[i]) + " out of range");
  return decode_eval_files(data, idx.numel(), side, [p](int64_t i) { return p[i]; });
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
