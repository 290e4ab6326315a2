// Communication volume per training step of a data-parallel TWIST run,
// computed from the model's parameter counts (docs/scaling.md).
//   build/comm_volume [world=16] [global_batch=2048] [local_crops=12] [classes=4096]
// Defaults: the paper's ImageNet ResNet-50 run (16 GPUs, batch 2048, 2x224 +
// 12x96 crops, C = 4096, head hidden 4096).
#include <cstdio>
#include <cstdlib>

#include "twist/twist.h"

using namespace twist;

int main(int argc, char** argv) {
  const int64_t world = argc > 1 ? std::atoll(argv[1]) : 16;
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 2048;
  const int64_t local_crops = argc > 3 ? std::atoll(argv[3]) : 12;
  const int64_t classes = argc > 4 ? std::atoll(argv[4]) : 4096;
  TwistModelOptions o;
  o.backbone.arch = "resnet50";
  o.backbone.stem = "imagenet";
  o.backbone.in_channels = 3;
  o.head.hidden = 4096;
  o.head.classes = classes;
  TwistModel model(o);
  int64_t backbone = 0, head = 0;
  for (auto& p : model->backbone->parameters()) backbone += p.numel();
  for (auto& p : model->head->parameters()) head += p.numel();
  const int64_t params = backbone + head;
  const double mib = 1024.0 * 1024.0;
  const double grad_bytes = 4.0 * double(params);
  // Ring all-reduce: each rank sends and receives 2(W-1)/W of the buffer.
  const double ring = 2.0 * double(world - 1) / double(world);
  std::printf("ResNet-50 backbone parameters: %lld\n", (long long)backbone);
  std::printf("projection head parameters (hidden 4096, C=%lld): %lld\n", (long long)classes, (long long)head);
  std::printf("total parameters: %lld (%.1f MiB of fp32 gradients)\n", (long long)params, grad_bytes / mib);
  std::printf("gradient all-reduce, %lld ranks, ring: %.1f MiB sent and %.1f MiB received per rank per step\n",
              (long long)world, ring * grad_bytes / mib, ring * grad_bytes / mib);
  std::printf("  in 25 MiB buckets: %lld all-reduces per step\n",
              (long long)((grad_bytes + 25 * mib - 1) / (25 * mib)));
  // Loss statistics: NBS (sum, then centred sum of squares, C+1 and C
  // floats) forward and the same sizes backward; the diversity mean (C+1
  // floats) per view and pair, forward and backward.
  const int64_t views = 2 + local_crops;
  const int64_t pairs = 1 + 2 * local_crops;
  const double nbs = 4.0 * double(2 * (2 * classes + 1));
  const double diversity = 4.0 * double(2 * 2 * pairs * (classes + 1));
  std::printf("NBS statistics over the global batch: %.1f KiB per step (4 all-reduces)\n", nbs / 1024);
  std::printf("diversity batch mean over the global batch: %.1f KiB per step (%lld all-reduces)\n", diversity / 1024,
              (long long)(4 * pairs));
  // Gathering the logits instead (all_gather of B x C per view) would move:
  const double gather = 4.0 * double(batch) * double(views) * double(classes) * double(world - 1) / double(world);
  std::printf("(all-gathering the %lld views' logits instead: %.1f MiB received per rank per step)\n", (long long)views,
              gather / mib);
  std::printf("per-rank batch: %lld images, %lld crops through the backbone\n", (long long)(batch / world),
              (long long)(batch / world * views));
  return 0;
}
