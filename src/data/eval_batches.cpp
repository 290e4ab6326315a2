// A data set's evaluation images batch by batch: the next batch is decoded
// on another thread (and its files on the intra-op pool) while the caller
// runs the model on the current one, so only two batches of pixels are ever
// held, whatever the size of the folder.
#include <future>

#include "twist/data.h"
#include "twist/error.h"

namespace twist {

void for_each_eval_batch(const Dataset& data, int64_t side, int64_t batch_size,
                         const std::function<void(int64_t begin, const torch::Tensor& images_u8)>& fn) {
  check(batch_size >= 1, "for_each_eval_batch: the batch size must be positive");
  const int64_t n = data.size();
  auto decode = [&data, side, batch_size, n](int64_t begin) {
    return eval_images(data, begin, std::min(batch_size, n - begin), side);
  };
  if (n == 0) return;
  std::future<torch::Tensor> next = std::async(std::launch::async, decode, int64_t(0));
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    torch::Tensor images = next.get();  // rethrows a decoding error
    if (begin + batch_size < n) next = std::async(std::launch::async, decode, begin + batch_size);
    fn(begin, images);
  }
}

}  // namespace twist
