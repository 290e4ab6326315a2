// A file-backed set decoded whole, for the code that wants one uint8 tensor:
// evaluation (kNN, linear probe, clustering), embedding, reports. Training
// never needs this: the loader decodes a batch's files on its workers.
#include <ATen/Parallel.h>

#include <cmath>

#include "twist/data.h"
#include "twist/error.h"
#include "twist/image.h"

namespace twist {

int64_t in_memory_bytes(const Dataset& data, int64_t side) {
  return data.file_backed() ? data.size() * 3 * side * side : 0;
}

Dataset in_memory(const Dataset& data, int64_t side) {
  if (!data.file_backed()) return data;
  check(side >= 1, "in_memory: the image side must be positive");
  const int64_t bytes = in_memory_bytes(data, side);
  check(bytes <= kInMemoryLimitBytes,
        "data set '" + data.name + "': decoding its " + std::to_string(data.size()) + " images at " +
            std::to_string(side) + "x" + std::to_string(side) + " would take " +
            std::to_string((bytes + (int64_t(1) << 20) - 1) >> 20) +
            " MiB, above twist's 1024 MiB limit for holding an image folder in memory; evaluate on a "
            "smaller folder (e.g. a split with fewer images) or at a smaller --image-size");
  // ImageNet's evaluation transform: shorter side to side / 0.875 (256 for
  // 224), centre crop. Training crops see whole images at random scales;
  // the margin keeps evaluation's object scale close to theirs.
  const int64_t shorter = std::max<int64_t>(side, std::llround(double(side) / 0.875));
  Dataset d = data;
  d.files.clear();
  d.images = torch::empty({data.size(), 3, side, side}, torch::kUInt8);
  // Decoding dominates; each image is independent. at::parallel_for rethrows
  // a worker's twist::Error (which names the file) on this thread.
  at::parallel_for(0, data.size(), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      d.images[i].copy_(fit_image(read_image(data.files[size_t(i)]), 3, side, shorter));
  });
  return d;
}

}  // namespace twist
