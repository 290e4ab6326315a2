// Linear probe and semi-supervised fine-tuning: a linear classifier trained
// with SGD (momentum, cosine learning rate per step) on top of the backbone.
#include <cmath>
#include <cstdio>
#include <functional>

#include "twist/augment.h"
#include "twist/device.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/probe.h"

namespace twist {
namespace {

namespace F = torch::nn::functional;

// Fixed per-dimension standardization; identity when mean/std are undefined.
struct Standardize {
  torch::Tensor mean, inv_std;
  torch::Tensor operator()(const torch::Tensor& x) const { return mean.defined() ? (x - mean) * inv_std : x; }
  static Standardize of(const torch::Tensor& features) {
    Standardize s;
    s.mean = features.mean(0);
    s.inv_std = 1.0 / (features - s.mean).pow(2).mean(0).sqrt().clamp_min(1e-6);
    return s;
  }
  // Centred per dimension, one scale for all: unit variance on average. A
  // dimension nearly constant on the measured images keeps its small scale
  // instead of being blown up to unit variance (which, when the backbone
  // then moves, multiplies its changes by up to 1e6).
  static Standardize overall(const torch::Tensor& features) {
    Standardize s;
    s.mean = features.mean(0);
    s.inv_std = 1.0 / (features - s.mean).pow(2).mean().sqrt().clamp_min(1e-6);
    return s;
  }
};

std::pair<double, double> topk_scores(const torch::Tensor& logits, const torch::Tensor& labels) {
  auto y = labels.to(torch::kInt64).view({-1, 1});
  auto ranked = std::get<1>(logits.topk(std::min<int64_t>(5, logits.size(1)), 1));
  const double n = double(labels.size(0));
  return {ranked.narrow(1, 0, 1).eq(y).sum().item<double>() / n, ranked.eq(y).any(1).sum().item<double>() / n};
}

void check_common(const ClassifierOptions& o, int64_t n_train, int64_t n_test, int64_t num_classes) {
  check(o.epochs >= 1, "the classifier needs at least one epoch");
  check(o.batch_size >= 2, "the classifier's batch size must be at least 2");
  check(o.lr > 0 && std::isfinite(o.lr), "the classifier's learning rate must be positive");
  check(o.backbone_lr >= 0 && std::isfinite(o.backbone_lr), "the backbone learning rate must be >= 0");
  check(n_train >= 2, "the classifier needs at least 2 labelled training images");
  check(n_test >= 1, "the classifier needs a labelled test set");
  check(num_classes >= 2, "the classifier needs at least 2 classes");
}

// Features of `images` with the backbone in train mode (batch statistics in
// its BatchNorms), as fine-tuning computes them; the running statistics that
// this updates are put back, so measuring changes nothing.
torch::Tensor train_mode_features(Backbone& backbone, const torch::Tensor& images, const Normalization& norm,
                                  int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> saved;
  for (const auto& b : backbone->buffers()) saved.push_back(b.clone());
  const auto params = backbone->parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  backbone->train();
  std::vector<torch::Tensor> feats;
  const int64_t n_all = images.size(0), batch = std::max<int64_t>(2, batch_size);
  for (int64_t i = 0; i < n_all; i += batch) {
    // A last batch of one would break BatchNorm in train mode: it joins the one before.
    const int64_t n = n_all - (i + batch) == 1 ? batch + 1 : std::min(batch, n_all - i);
    if (n < 2) break;
    const auto x = to_device(images.narrow(0, i, n), device).to(torch::kFloat32).div_(255.0);
    feats.push_back(backbone->forward(normalize(x, norm)).cpu());
    if (n > batch) break;
  }
  auto buffers = backbone->buffers();
  for (size_t k = 0; k < buffers.size(); ++k) buffers[k].copy_(saved[k]);
  return torch::cat(feats);
}

// The loop both read-outs share. `train_features(idx, gen)` gives the
// (differentiable, when fine-tuning) features of the training samples `idx`;
// `test_logits(linear)` scores the test set.
ClassifierResult fit(int64_t n_train, const torch::Tensor& train_y, const torch::Tensor& test_y, int64_t feature_dim,
                     int64_t num_classes, const ClassifierOptions& o, std::vector<torch::Tensor> backbone_params,
                     const std::function<torch::Tensor(const torch::Tensor&, at::Generator&)>& train_features,
                     const std::function<torch::Tensor(torch::nn::Linear&)>& test_logits) {
  torch::nn::Linear linear(feature_dim, num_classes);
  // N(0, 0.01) weights and zero bias, as the reference linear evaluations,
  // drawn from the evaluation's own seeded generator.
  {
    torch::NoGradGuard g;
    at::Generator gen = make_generator(o.seed, 0x11ea);
    linear->weight.normal_(0, 0.01, gen);
    linear->bias.zero_();
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(linear->parameters(), std::make_unique<torch::optim::SGDOptions>(o.lr));
  const bool finetune = !backbone_params.empty();
  if (finetune) groups.emplace_back(backbone_params, std::make_unique<torch::optim::SGDOptions>(o.backbone_lr));
  torch::optim::SGD sgd(groups, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  for (auto& g : sgd.param_groups()) {
    auto& so = static_cast<torch::optim::SGDOptions&>(g.options());
    so.momentum(o.momentum).weight_decay(o.weight_decay);
  }
  const double base_lr[2] = {o.lr, o.backbone_lr};

  const int64_t batch = std::min(o.batch_size, n_train);
  const int64_t steps_per_epoch = (n_train + batch - 1) / batch;
  const int64_t total = steps_per_epoch * o.epochs;
  auto y_all = train_y.to(torch::kInt64);
  ClassifierResult r;
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    auto gen = make_generator(o.seed, 0xc1a5 + uint64_t(epoch));
    auto perm = torch::randperm(n_train, gen, torch::kInt64);
    double loss_sum = 0;
    int64_t loss_n = 0;
    for (int64_t i = 0; i < n_train; i += batch, ++step) {
      int64_t n = std::min(batch, n_train - i);
      // Debian's LibTorch 1.13 (oneDNN) aborts in channels-last convolution
      // backward on odd batch sizes with more than one thread: keep batches
      // even when the backbone trains (the sample left out is drawn again
      // next epoch, the permutation differs).
      if (finetune && n % 2 == 1) --n;
      if (n < 2) continue;  // a batch of one breaks BatchNorm in train mode
      auto idx = perm.narrow(0, i, n);
      const double cosine = 0.5 * (1 + std::cos(M_PI * double(step) / double(total)));
      for (size_t g = 0; g < sgd.param_groups().size(); ++g)
        static_cast<torch::optim::SGDOptions&>(sgd.param_groups()[g].options()).lr(base_lr[g] * cosine);
      auto loss = F::cross_entropy(linear->forward(train_features(idx, gen)), y_all.index_select(0, idx));
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      loss_sum += loss.item<double>();
      ++loss_n;
    }
    EpochScore s;
    s.epoch = epoch;
    s.loss = loss_n ? loss_sum / double(loss_n) : std::nan("");
    {
      torch::NoGradGuard no_grad;
      std::tie(s.top1, s.top5) = topk_scores(test_logits(linear), test_y);
    }
    check(std::isfinite(s.loss), "the classifier's loss became non-finite in epoch " + std::to_string(epoch) +
                                     "; lower --lr" + (finetune ? std::string(" or --backbone-lr") : ""));
    r.history.push_back(s);
    if (s.top1 > r.best_top1 || epoch == 1) {
      r.best_top1 = s.top1;
      r.best_top5 = s.top5;
      r.best_epoch = epoch;
    }
    r.top1 = s.top1;
    r.top5 = s.top5;
    if (o.progress)
      std::fprintf(stderr, "  epoch %lld/%lld  loss %.4f  top-1 %.4f  top-5 %.4f\n", (long long)epoch,
                   (long long)o.epochs, s.loss, s.top1, s.top5);
  }
  return r;
}

}  // namespace

ClassifierResult train_linear_on_features(const torch::Tensor& train_x, const torch::Tensor& train_y,
                                          const torch::Tensor& test_x, const torch::Tensor& test_y, int64_t num_classes,
                                          const ClassifierOptions& o) {
  check_common(o, train_x.size(0), test_x.size(0), num_classes);
  check(train_x.dim() == 2 && test_x.dim() == 2 && train_x.size(1) == test_x.size(1),
        "linear probe: train and test features must be N x d with the same d");
  check(train_y.size(0) == train_x.size(0) && test_y.size(0) == test_x.size(0), "linear probe: one label per row");
  const Standardize standardize = Standardize::of(train_x.to(torch::kFloat32));
  const auto xs = standardize(train_x.to(torch::kFloat32));
  const auto xt = standardize(test_x.to(torch::kFloat32));
  return fit(
      train_x.size(0), train_y, test_y, train_x.size(1), num_classes, o, {},
      [&](const torch::Tensor& idx, at::Generator&) { return xs.index_select(0, idx); },
      [&](torch::nn::Linear& linear) { return linear->forward(xt); });
}

ClassifierResult train_classifier(Backbone backbone, const Dataset& train, const Dataset& test,
                                  const Normalization& norm, int64_t num_classes, const ClassifierOptions& o) {
  check(train.has_labels() && test.has_labels(), "the classifier needs labelled training and test sets");
  check_common(o, train.size(), test.size(), num_classes);
  const bool finetune = o.backbone_lr > 0;
  ViewOptions view;
  view.size = train.height();
  view.scale_min = o.scale_min;
  view.jitter_p = view.grayscale_p = view.blur_p = view.solarize_p = 0;
  auto train_view = [&](const torch::Tensor& idx, at::Generator& gen) {
    auto images = train.images.index_select(0, idx);
    return o.augment ? augment_view(images, view, norm, gen) : normalize(images.to(torch::kFloat32).div_(255.0), norm);
  };
  if (!finetune) {
    // Frozen: test features once; training features per batch (augmented).
    const Standardize standardize = Standardize::of(backbone_features(backbone, train.images, norm));
    const auto test_x = standardize(backbone_features(backbone, test.images, norm));
    backbone->eval();
    return fit(
        train.size(), train.labels, test.labels, test_x.size(1), num_classes, o, {},
        [&](const torch::Tensor& idx, at::Generator& gen) {
          torch::NoGradGuard no_grad;
          return standardize(backbone->forward(train_view(idx, gen)));
        },
        [&](torch::nn::Linear& linear) { return linear->forward(test_x); });
  }
  // Fine-tuning: the classifier sees the features centred and scaled to unit
  // variance on average, by a fixed map measured once before training
  // on the labelled images as training computes them (train mode). Raw
  // features have whatever scale pretraining left them at; without it the
  // classifier's first steps at lr 0.2 overshot (loss 1.9 -> 8.8 in 3 epochs
  // on a small run) and where it landed after a few steps depended on the
  // CPU's kernels.
  const Standardize standardize = Standardize::overall(train_mode_features(backbone, train.images, norm, o.batch_size));
  const int64_t dim = backbone->feature_dim();
  ClassifierResult r = fit(
      train.size(), train.labels, test.labels, dim, num_classes, o, backbone->parameters(),
      [&](const torch::Tensor& idx, at::Generator& gen) {
        backbone->train();
        return standardize(backbone->forward(train_view(idx, gen)));
      },
      [&](torch::nn::Linear& linear) {
        return linear->forward(standardize(backbone_features(backbone, test.images, norm)));
      });
  backbone->eval();
  return r;
}

}  // namespace twist
