// Compute-only throughput of one TWIST training step (two views, synthetic
// images), comparing memory formats alternately in one run; then augmentation and
// eval-mode forward throughput.
//   build/step_bench [batch] [rounds]
#include <chrono>
#include <cstdio>

#include "twist/twist.h"

using namespace twist;

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::atoll(argv[1]) : 256;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  at::set_num_threads(2);
  TrainConfig contiguous, channels_last;
  contiguous.channels_last = false;
  channels_last.channels_last = true;
  torch::manual_seed(0);
  // The model converts its inputs to its own memory format in forward.
  TwistModel a(model_options(contiguous, 1)), b(model_options(channels_last, 1));
  Lars oa(a->parameters()), ob(b->parameters());
  auto v1 = torch::randn({batch, 1, 28, 28}), v2 = torch::randn({batch, 1, 28, 28});
  auto step = [&](TwistModel& m, Lars& o) {
    auto loss = twist_loss(m->forward({v1, v2})).total;
    o.zero_grad();
    loss.backward();
    o.step(0.1, 1e-6);
  };
  auto time = [&](TwistModel& m, Lars& o, int n) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) step(m, o);
    return n * batch / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  time(a, oa, 2);
  time(b, ob, 2);
  for (int r = 0; r < rounds; ++r) {
    double x = time(a, oa, 5), y = time(b, ob, 5);
    std::printf("round %d: contiguous %.0f img/s, channels_last %.0f img/s (x%.2f)\n", r, x, y, y / x);
  }
  {
    // augmentation of one batch (two 28x28 views), single-threaded as in the loader
    at::set_num_threads(1);
    Dataset d;
    d.images = torch::randint(0, 256, {4096, 1, 28, 28}, torch::kInt64).to(torch::kUInt8);
    EpochSampler s(d.size(), batch, 0);
    auto crops = MultiCropOptions::paper(28, 0, 14);
    Normalization n{{0.5}, {0.25}};
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) BatchLoader::make_batch(d, s, crops, n, 0, i);
    std::printf("augmentation (1 thread): %.0f img/s\n",
                10 * batch / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    at::set_num_threads(2);
  }
  // eval-mode forward
  torch::NoGradGuard ng;
  b->eval();
  auto big = torch::randn({500, 1, 28, 28});
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) b->features(big);
  std::printf("eval forward: %.0f img/s\n",
              2000 / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
