// Linear probe and semi-supervised fine-tuning: a linear classifier trained
// with SGD (momentum, cosine learning rate per step) on top of the backbone.
#include <cmath>
#include <cstdio>
#include <functional>

#include "probe_inputs.h"
#include "twist/augment.h"
#include "twist/device.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/probe.h"

namespace twist {
namespace {

namespace F = torch::nn::functional;

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

// Moments of the features of `data`'s images with the backbone in train
// mode (batch statistics in its BatchNorms), as fine-tuning computes them,
// decoded batch by batch; the running statistics that this updates are put
// back, so measuring changes nothing.
FeatureMoments train_mode_moments(Backbone& backbone, const Dataset& data, int64_t side, const Normalization& norm,
                                  int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> saved;
  for (const auto& b : backbone->buffers()) saved.push_back(b.clone());
  const auto params = backbone->parameters();
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  backbone->train();
  FeatureMoments m;
  const int64_t n_all = data.size(), batch = std::max<int64_t>(2, batch_size);
  for (int64_t i = 0; i < n_all; i += batch) {
    // A last batch of one would break BatchNorm in train mode: it joins the one before.
    const int64_t n = n_all - (i + batch) == 1 ? batch + 1 : std::min(batch, n_all - i);
    if (n < 2) break;
    const auto x = to_device(eval_images(data, i, n, side), device).to(torch::kFloat32).div_(255.0);
    m.add(backbone->forward(normalize(x, norm)).cpu());
    if (n > batch) break;
  }
  auto buffers = backbone->buffers();
  for (size_t k = 0; k < buffers.size(); ++k) buffers[k].copy_(saved[k]);
  return m;
}

// Moments of the backbone's eval-mode features of `data`, batch by batch.
FeatureMoments eval_moments(Backbone& backbone, const Dataset& data, int64_t side, const Normalization& norm,
                            int64_t batch_size) {
  FeatureMoments m;
  for_each_eval_batch(data, side, batch_size,
                      [&](int64_t, const torch::Tensor& x) { m.add(backbone_batch_features(backbone, x, norm)); });
  return m;
}

// One epoch's batches of a permutation, in order. Fine-tuning keeps
// batches even: Debian's LibTorch 1.13 (oneDNN) aborts in channels-last
// convolution backward on odd batch sizes with more than one thread (the
// sample left out is drawn again next epoch, the permutation differs). A
// batch of one (it breaks BatchNorm in train mode) is an undefined tensor,
// kept so that the step count stays the same.
std::vector<torch::Tensor> epoch_batches(const torch::Tensor& perm, int64_t batch, bool even) {
  std::vector<torch::Tensor> out;
  const int64_t n_all = perm.size(0);
  for (int64_t i = 0; i < n_all; i += batch) {
    int64_t n = std::min(batch, n_all - i);
    if (even && n % 2 == 1) --n;
    out.push_back(n < 2 ? torch::Tensor() : perm.narrow(0, i, n));
  }
  return out;
}

// The loop both read-outs share. `train_features(idx, gen)` gives the
// (differentiable, when fine-tuning) features of the training samples `idx`;
// `prefetch(idx)`, when given, is told the next batch's samples first;
// `test_logits(linear)` scores the test set.
ClassifierResult fit(int64_t n_train, const torch::Tensor& train_y, const torch::Tensor& test_y, int64_t feature_dim,
                     int64_t num_classes, const ClassifierOptions& o, std::vector<torch::Tensor> backbone_params,
                     const std::function<torch::Tensor(const torch::Tensor&, at::Generator&)>& train_features,
                     const std::function<torch::Tensor(torch::nn::Linear&)>& test_logits,
                     const std::function<void(const torch::Tensor&)>& prefetch = nullptr) {
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
    const auto batches = epoch_batches(perm, batch, finetune);
    double loss_sum = 0;
    int64_t loss_n = 0;
    for (size_t k = 0; k < batches.size(); ++k, ++step) {
      const torch::Tensor& idx = batches[k];
      if (!idx.defined()) continue;
      if (prefetch && k + 1 < batches.size() && batches[k + 1].defined()) prefetch(batches[k + 1]);
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
  check(train_x.dim() == 2 && test_x.dim() == 2, "linear probe: train and test features must be N x d");
  return train_linear_on_features(FeatureBank::of(train_x), train_y, FeatureBank::of(test_x), test_y, num_classes, o);
}

namespace {

constexpr int64_t kProbeChunk = 4096;  // rows of a bank read at once

// The test set's logits under `linear`, from a bank of its features.
torch::Tensor bank_logits(const FeatureBank& bank, const Standardize& standardize, torch::nn::Linear& linear) {
  std::vector<torch::Tensor> out;
  bank.for_each_chunk(kProbeChunk,
                      [&](int64_t, const torch::Tensor& x) { out.push_back(linear->forward(standardize(x))); });
  return torch::cat(out);
}

// Moments of a bank's rows, chunk by chunk.
FeatureMoments bank_moments(const FeatureBank& bank) {
  FeatureMoments m;
  bank.for_each_chunk(kProbeChunk, [&](int64_t, const torch::Tensor& x) { m.add(x); });
  return m;
}

}  // namespace

ClassifierResult train_linear_on_features(const FeatureBank& train_x, const torch::Tensor& train_y,
                                          const FeatureBank& test_x, const torch::Tensor& test_y, int64_t num_classes,
                                          const ClassifierOptions& o) {
  check_common(o, train_x.rows(), test_x.rows(), num_classes);
  check(train_x.dim() == test_x.dim(), "linear probe: train and test features must have the same width");
  check(train_y.size(0) == train_x.rows() && test_y.size(0) == test_x.rows(), "linear probe: one label per row");
  const Standardize standardize = Standardize::per_dimension(bank_moments(train_x));
  return fit(
      train_x.rows(), train_y, test_y, train_x.dim(), num_classes, o, {},
      [&](const torch::Tensor& idx, at::Generator&) { return standardize(train_x.gather(idx)); },
      [&](torch::nn::Linear& linear) { return bank_logits(test_x, standardize, linear); });
}

ClassifierResult train_classifier(Backbone backbone, const Dataset& train, const Dataset& test, int64_t side,
                                  const Normalization& norm, int64_t num_classes, const ClassifierOptions& o) {
  check(train.has_labels() && test.has_labels(), "the classifier needs labelled training and test sets");
  check_common(o, train.size(), test.size(), num_classes);
  check(side >= 1, "the classifier's image side must be positive");
  const bool finetune = o.backbone_lr > 0;
  const int64_t eval_batch = std::max<int64_t>(2, o.batch_size);
  ViewOptions view;
  view.size = side;
  view.scale_min = o.scale_min;
  view.jitter_p = view.grayscale_p = view.blur_p = view.solarize_p = 0;
  ProbeImages images(train, side);
  auto train_view = [&](const torch::Tensor& idx, at::Generator& gen) {
    auto x = images.take(idx);
    return o.augment ? augment_view(x, view, norm, gen) : normalize(x.to(torch::kFloat32).div_(255.0), norm);
  };
  auto prefetch = [&](const torch::Tensor& idx) { images.prefetch(idx); };
  if (!finetune) {
    // Frozen: test features once, into a bank; training features per batch (augmented).
    const Standardize standardize = Standardize::per_dimension(eval_moments(backbone, train, side, norm, eval_batch));
    StreamOptions so;
    so.batch_size = eval_batch;
    const FeatureBank test_x = stream_features(
        test, side, [&](const torch::Tensor& x) { return backbone_batch_features(backbone, x, norm); }, so);
    backbone->eval();
    return fit(
        train.size(), train.labels, test.labels, test_x.dim(), num_classes, o, {},
        [&](const torch::Tensor& idx, at::Generator& gen) {
          torch::NoGradGuard no_grad;
          return standardize(backbone->forward(train_view(idx, gen)));
        },
        [&](torch::nn::Linear& linear) { return bank_logits(test_x, standardize, linear); }, prefetch);
  }
  // Fine-tuning: the classifier sees the features centred and scaled to unit
  // variance on average, by a fixed map measured once before training
  // on the labelled images as training computes them (train mode). Raw
  // features have whatever scale pretraining left them at; without it the
  // classifier's first steps at lr 0.2 overshot (loss 1.9 -> 8.8 in 3 epochs
  // on a small run) and where it landed after a few steps depended on the
  // CPU's kernels.
  const Standardize standardize = Standardize::overall(train_mode_moments(backbone, train, side, norm, o.batch_size));
  ClassifierResult r = fit(
      train.size(), train.labels, test.labels, backbone->feature_dim(), num_classes, o, backbone->parameters(),
      [&](const torch::Tensor& idx, at::Generator& gen) {
        backbone->train();
        return standardize(backbone->forward(train_view(idx, gen)));
      },
      [&](torch::nn::Linear& linear) {
        std::vector<torch::Tensor> logits;
        for_each_eval_batch(test, side, eval_batch, [&](int64_t, const torch::Tensor& x) {
          logits.push_back(linear->forward(standardize(backbone_batch_features(backbone, x, norm))));
        });
        return torch::cat(logits);
      },
      prefetch);
  backbone->eval();
  return r;
}

}  // namespace twist
