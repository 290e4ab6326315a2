// What a run is built from, read off its config: the model's, crops',
// optimizer's and loss's options, the run length, the thread count and the
// summary's JSON. `twist bench` builds its step from the same functions.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_set>

#include "twist/metric_names.h"
#include "twist/mirror_check.h"
#include "twist/rotation_check.h"
#include "twist/train.h"

namespace twist {

TwistModelOptions model_options(const TrainConfig& c, int64_t in_channels) {
  TwistModelOptions o;
  o.backbone.arch = c.arch;
  o.backbone.width = c.width;
  o.backbone.stem = resolved_stem(c, c.image_size);  // twist train resolves "auto" from its images first
  o.backbone.feature_dim = c.feature_dim;
  o.backbone.in_channels = in_channels;
  o.backbone.channels_last = c.channels_last;
  o.backbone.image_size = c.image_size;
  o.backbone.patch_size = c.patch_size;
  o.backbone.drop_path = c.drop_path;
  // The paper's ViT heads use GELU, its ResNet heads ReLU (docs/design.md §3).
  o.head.activation = is_vit(c.arch) ? "gelu" : "relu";
  o.head.hidden = c.hidden;
  o.head.classes = c.classes;
  o.head.nbs = c.nbs;
  o.aux_classes = c.aux_classes;
  o.cluster_heads = resolved_cluster_heads(c);
  return o;
}

std::string resolved_stem(const TrainConfig& c, int64_t image_side) {
  if (c.stem != "auto") return c.stem;
  return image_side > kSmallStemMaxSide ? "imagenet" : "small";
}

int64_t local_side(const TrainConfig& c, int64_t image_size) {
  if (c.local_size > 0) return c.local_size;
  const int64_t scaled = std::llround(double(image_size) * 96.0 / 224.0);
  return std::max<int64_t>({scaled, 4, is_vit(c.arch) ? c.patch_size : 0});
}

MultiCropOptions crop_options(const TrainConfig& c, int64_t image_size, bool self_label) {
  MultiCropOptions m = MultiCropOptions::paper(image_size, static_cast<int>(c.local_crops), local_side(c, image_size));
  for (size_t v = 0; v < m.views.size(); ++v) {
    ViewOptions& o = m.views[v];
    const bool global = v < 2;
    o.scale_min = global ? c.global_scale_min : c.local_scale_min;
    o.scale_max = global ? c.global_scale_max : c.local_scale_max;
    if (self_label) {
      // Harder crops for self-labeling (docs/design.md §2.6): smaller global crops,
      // and local crops no larger than the smallest global one.
      if (global)
        o.scale_min = c.self_label_global_scale_min;
      else
        o.scale_max = c.self_label_local_scale_max;
    }
    o.flip_p = c.flip_p;
    o.jitter_p = c.jitter_p;
    o.brightness = c.brightness;
    o.contrast = c.contrast;
    o.saturation = c.saturation;
    o.hue = c.hue;
    o.grayscale_p = c.grayscale_p;
    o.rotation = c.rotation;
    o.shear = c.shear;
    if (!c.blur) o.blur_p = 0;
    if (!c.solarize) o.solarize_p = 0;
  }
  return m;
}

LarsOptions optimizer_options(const TrainConfig& c) {
  LarsOptions o;
  o.momentum = c.momentum;
  o.adapt = c.optimizer == "lars";
  o.bias_lr_ratio = c.bias_lr_ratio;
  return o;
}

std::vector<LarsRule> optimizer_rules(const TrainConfig& c, TwistModel& model) {
  const auto params = model->parameters();
  std::vector<LarsRule> rules = lars_rules(params, optimizer_options(c));
  if (c.head_lr <= 0) return rules;
  // The heads are every parameter that is not the backbone's, found by identity.
  std::unordered_set<const void*> backbone;
  for (const auto& p : model->backbone->parameters()) backbone.insert(p.unsafeGetTensorImpl());
  for (size_t i = 0; i < params.size(); ++i)
    if (!backbone.count(params[i].unsafeGetTensorImpl())) rules[i] = {false, c.head_lr / c.lr};
  return rules;
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, TwistModel& model) {
  if (c.optimizer == "adamw")
    return std::make_unique<AdamW>(model->parameters(), AdamWOptions{}, token_parameters(*model));
  return std::make_unique<Lars>(model->parameters(), optimizer_options(c), optimizer_rules(c, model));
}

TwistLossOptions loss_options(const TrainConfig& c) {
  TwistLossOptions o;
  o.alpha = c.alpha;
  o.beta = c.beta;
  o.temperature = c.temperature;
  o.temperature_on_consistency = c.temperature_mode == "all";
  return o;
}

std::string default_run_dir() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

int64_t resolved_cluster_heads(const TrainConfig& c) {
  if (c.cluster_heads > 0) return c.cluster_heads;
  const bool one = c.momentum_teacher || c.self_label_epochs > 0 || c.classes > kAutoHeadsMaxClasses;
  return one ? 1 : kAutoClusterHeads;
}

double resolved_epochs(const TrainConfig& c, int64_t images) {
  if (c.epochs > 0) return c.epochs;
  const double epochs = std::max(4.0, std::ceil(double(c.min_images) / double(std::max<int64_t>(1, images))));
  if (epochs > 4.0 && c.max_steps == 0)
    std::fprintf(stderr,
                 "twist: epochs auto: %.0f epochs of %lld images, to see %lld images (--min-images); "
                 "--epochs N sets the length\n",
                 epochs, (long long)images, (long long)c.min_images);
  return epochs;
}

void resolve_flip(TrainConfig& c, const torch::Tensor& sample, bool say) {
  if (c.flip_p >= 0) return;
  const MirrorCheck m = mirror_check(sample);
  c.flip_p = auto_flip_p(m);
  if (say)
    std::fprintf(stderr,
                 "twist: flip auto: %s (the mirror images of %.0f%% of %lld sampled training images lie farther "
                 "from the others than the images do; flips are off above %.0f%%); --flip-p P sets it\n",
                 c.flip_p > 0 ? "flips at p 0.5" : "no flips", 100 * m.farther, (long long)m.images,
                 100 * kMirrorThreshold);
}

void resolve_rotation_and_shear(TrainConfig& c, const torch::Tensor& sample, bool say) {
  if (c.rotation >= 0 && c.shear >= 0) return;
  const RotationCheck r = rotation_check(sample);
  const bool rotation_auto = c.rotation < 0, shear_auto = c.shear < 0;
  if (rotation_auto) c.rotation = auto_rotation(r);
  if (shear_auto) c.shear = auto_shear(r);
  if (!say) return;
  const std::string turns =
      c.rotation > 0 ? "views turned by up to " + std::to_string(int(c.rotation)) + " degrees" : "no turns";
  const std::string slants = c.shear > 0 ? "slanted by up to " + std::to_string(int(c.shear)) + " degrees" : "no slant";
  std::fprintf(
      stderr,
      "twist: %s auto: %s, %s (of %lld sampled training images, %lld have an axis, %.1f degrees off the "
      "frame's on the median; turns are off at %.0f degrees or less, else %.1f times the lean, at most "
      "%.0f; slants of %.0f where the lean is above that and at most %.0f); --rotation DEG and --shear DEG set them\n",
      rotation_auto && shear_auto ? "rotation and shear"
      : rotation_auto             ? "rotation"
                                  : "shear",
      turns.c_str(), slants.c_str(), (long long)r.images, (long long)r.elongated, r.lean, kLeanThreshold, kLeanScale,
      kAutoRotationDegrees, kAutoShearDegrees, kShearMaxLean);
}

bool auto_views_pending(const TrainConfig& c) { return c.flip_p < 0 || c.rotation < 0 || c.shear < 0; }

Normalization statistics_and_auto_views(TrainConfig& c, const Dataset& train, BadImages* bad, bool say) {
  const bool folder = train.file_backed();
  torch::Tensor sample;
  if (folder || auto_views_pending(c)) sample = image_sample(train, folder ? kStatisticsImages : 1024, bad);
  resolve_flip(c, sample, say);
  resolve_rotation_and_shear(c, sample, say);
  return folder ? channel_statistics(sample) : channel_statistics(train);
}

int64_t use_threads(int64_t requested, int processes_per_machine) {
  const int64_t threads =
      requested > 0 ? requested
                    : std::max<int64_t>(1, std::thread::hardware_concurrency() / std::max(1, processes_per_machine));
  at::set_num_threads(static_cast<int>(threads));
  return threads;
}

std::string TrainSummary::to_json() const {
  nlohmann::json j;
  j["run_dir"] = run_dir;
  j["steps"] = steps;
  j["epochs"] = epochs;
  j["images_per_s"] = images_per_s;
  j["final_loss"] = final_loss;
  j["skipped_steps"] = skipped_steps;
  j["skipped_images"] = skipped_images;
  j["train_seconds"] = train_seconds;
  j["complete"] = !stopped_early;
  j["collapse_step"] = collapse_step;
  if (collapse_step > 0) j["collapse_warning"] = collapse_warning;
  if (!restarts.empty()) j["collapse_restarts"] = restarts;
  if (evaluated) {
    j["eval_split"] = eval_split;
    j[names::kKnnTop1] = knn_top1;
    j[names::kKnnTop5] = knn_top5;
    if (knn_top1_whitened >= 0) j[names::kKnnTop1Whitened] = knn_top1_whitened;
    if (pixel_knn_top1 >= 0) {  // absent when skipped (a folder above the in-memory rule)
      j[names::kPixelKnnTop1] = pixel_knn_top1;
      j[names::kCenteredPixelKnnTop1] = centered_pixel_knn_top1;
    }
    if (kmeans_acc >= 0) {
      j["kmeans_acc"] = kmeans_acc;
      j["kmeans_nmi"] = kmeans_nmi;
    }
  }
  if (clustered) {
    j["nmi"] = nmi;
    j["ami"] = ami;
    j["ari"] = ari;
    j["acc"] = acc;
    j["clusters_used"] = clusters_used;
    j["head_acc"] = head_acc;
    j["head_nmi"] = head_nmi;
  }
  if (!stopped_early) {
    j["cluster_readout"] = cluster_readout;
    if (kmeans_agreement > -1) {  // measured (-1: the head kept without comparing)
      j["readout_agreement"] = {{"head", head_agreement}, {"kmeans", kmeans_agreement}};
      j["readout_balance"] = {{"head", head_balance}, {"kmeans", kmeans_balance}};
    }
  }
  if (!heads.empty()) {
    j["chosen_head"] = chosen_head;
    for (const Head& h : heads) {
      nlohmann::json one = {{"loss", h.loss}};
      if (h.acc >= 0) one.update({{"acc", h.acc}, {"nmi", h.nmi}});
      j["cluster_heads"].push_back(one);
    }
  }
  return j.dump(2);
}

}  // namespace twist
