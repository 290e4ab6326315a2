#pragma once
// Supervised read-outs of a pretrained backbone, as the paper evaluates it:
// the linear probe (frozen backbone) and semi-supervised fine-tuning
// (backbone and a new classifier trained on a fraction of the labels).
#include <torch/torch.h>

#include <vector>

#include "twist/data.h"
#include "twist/feature_bank.h"
#include "twist/models.h"

namespace twist {

struct ClassifierOptions {
  int64_t epochs = 100;
  int64_t batch_size = 256;
  double lr = 0.1;           // classifier learning rate (cosine-decayed to 0)
  double backbone_lr = 0.0;  // 0: frozen backbone in eval mode (linear probe)
  double momentum = 0.9;
  double weight_decay = 0.0;
  // Training views: random-resized-crop (scale_min, 1) + horizontal flip.
  // false: the un-augmented images (the --precomputed mode).
  bool augment = true;
  double scale_min = 0.08;
  uint64_t seed = 0;
  bool progress = true;  // a progress line per epoch on stderr
};

struct EpochScore {
  int64_t epoch = 0;
  double loss = 0, top1 = 0, top5 = 0;
};

struct ClassifierResult {
  double top1 = 0, top5 = 0;            // after the last epoch
  double best_top1 = 0, best_top5 = 0;  // the best epoch's (by top-1)
  int64_t best_epoch = 0;
  std::vector<EpochScore> history;
};

// Linear classifier on fixed features (e.g. cached centre views). Features
// are standardized with the training set's per-dimension statistics (an
// affine map the linear layer could absorb; it makes one learning rate fit
// every backbone).
ClassifierResult train_linear_on_features(const torch::Tensor& train_x, const torch::Tensor& train_y,
                                          const torch::Tensor& test_x, const torch::Tensor& test_y, int64_t num_classes,
                                          const ClassifierOptions& options);
// The same over banks of features (e.g. a folder's, streamed and spilled to
// disk): the training rows are read batch by batch, the test rows chunk by
// chunk after every epoch.
ClassifierResult train_linear_on_features(const FeatureBank& train_x, const torch::Tensor& train_y,
                                          const FeatureBank& test_x, const torch::Tensor& test_y, int64_t num_classes,
                                          const ClassifierOptions& options);

// Linear probe (backbone_lr == 0: backbone frozen in eval mode, training
// views augmented per epoch) or fine-tuning (backbone_lr > 0: backbone in
// train mode with its own learning rate). Scored on the un-augmented test
// images after every epoch. `backbone` is modified when fine-tuning.
// Images are read as eval_images gives them at `side` (an in-memory set's
// as they are), batch by batch: an image folder of any size is decoded as
// training goes (the next batch on another thread), never whole; the test
// set's features go to a FeatureBank (frozen) or are recomputed batch by
// batch after every epoch (fine-tuning).
ClassifierResult train_classifier(Backbone backbone, const Dataset& train, const Dataset& test, int64_t side,
                                  const Normalization& norm, int64_t num_classes, const ClassifierOptions& options);

}  // namespace twist
