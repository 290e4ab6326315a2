// A run's BatchNorm statistics re-estimated on clean training images: every
// BatchNorm of the backbone and of the heads (NBS included) gets running
// statistics that are the plain average over BATCHES batches of 256
// un-augmented, normalized training images (in training mode, no gradient,
// no weight changed), where training left averages over augmented views.
// The run's checkpoint.pt is rewritten in place (without the optimizer's
// state, so the run cannot be resumed after): work on a copy, then evaluate
// it with `twist eval knn|cluster --run COPY` (docs/recipe.md,
// thirty-seventh round).
//   build/bn_refresh RUN_DIR VAL_SPLIT BATCHES
// VAL_SPLIT: the run's --val-split, so the held-out images stay unseen. The
// images are drawn with a fixed seed: the same ones in every invocation.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "twist/twist.h"

using namespace twist;

namespace {

struct Norms {
  std::vector<torch::nn::BatchNorm2dImpl*> conv;
  std::vector<SyncBatchNorm1dImpl*> head;
  // Momentum 1 / (k + 1) at batch k: the running statistics are the mean of
  // every batch's, each weighed alike.
  void set_momentum(double m) {
    for (auto* b : conv) b->options.momentum(m);
    for (auto* b : head) b->momentum = m;
  }
};

Norms reset_norms(TwistModel& model) {
  Norms n;
  for (auto& m : model->modules(false)) {
    if (auto* b = m->as<torch::nn::BatchNorm2dImpl>()) {
      b->reset_running_stats();
      n.conv.push_back(b);
    } else if (auto* h = m->as<SyncBatchNorm1dImpl>()) {
      h->running_mean.zero_();
      h->running_var.fill_(1);
      n.head.push_back(h);
    }
  }
  return n;
}

// A whole non-negative number, or a clear error.
int64_t count_arg(const char* text, const char* name) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  check(end != text && *end == '\0' && v >= 0, std::string(name) + " must be a whole number >= 0, got '" + text + "'");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s RUN_DIR VAL_SPLIT BATCHES\n", argv[0]);
    return 2;
  }
  try {
    at::set_num_threads(1);
    Run run = open_run(argv[1]);
    const int64_t val = count_arg(argv[2], "VAL_SPLIT"), batches = count_arg(argv[3], "BATCHES");
    const Dataset train = load_train_eval_splits(run.config.data, val, false).train;
    // The side twist eval embeds at: an image folder's at the run's --image-size.
    const int64_t side = train.file_backed() && run.config.image_size > 0 ? run.config.image_size : train.height();
    check(batches >= 1 && batches * 256 <= train.size(), "BATCHES must lie in [1, training images / 256]");
    torch::manual_seed(0);  // the same images in every invocation
    const auto rows = torch::randperm(train.size(), torch::TensorOptions().dtype(torch::kInt64));
    torch::NoGradGuard no_grad;
    run.model->train();
    Norms norms = reset_norms(run.model);
    for (int64_t k = 0; k < batches; ++k) {
      norms.set_momentum(1.0 / double(k + 1));
      const auto u8 = eval_images_at(train, rows.narrow(0, k * 256, 256), side);
      run.model->forward({normalize(u8.to(torch::kFloat32).div_(255.0), run.state.norm)});
    }
    save_checkpoint(run.path("checkpoint.pt"), run.model, nullptr, run.state);
    std::printf("%zu convolution and %zu head BatchNorms re-estimated on %lld images; %s rewritten\n",
                norms.conv.size(), norms.head.size(), (long long)(batches * 256), run.path("checkpoint.pt").c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bn_refresh: %s\n", e.what());
    return 1;
  }
  return 0;
}
