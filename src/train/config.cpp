#include "twist/config.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "twist/device.h"
#include "twist/error.h"
#include "twist/models.h"

namespace twist {
namespace {

using json = nlohmann::json;

struct Field {
  ConfigKey meta;
  std::function<json(const TrainConfig&)> get;
  std::function<void(TrainConfig&, const json&)> set;
};

const char* type_name(int64_t*) { return "int"; }
const char* type_name(double*) { return "float"; }
const char* type_name(bool*) { return "bool"; }
const char* type_name(std::string*) { return "string"; }

template <class T>
Field field(const char* key, T TrainConfig::*member, ConfigKind kind, const char* help) {
  Field f;
  f.meta = {key, type_name(static_cast<T*>(nullptr)), kind, help};
  f.meta.shapes_step = kind != ConfigKind::Runtime;
  f.get = [member](const TrainConfig& c) { return json(c.*member); };
  std::string k = key;
  f.set = [member, k](TrainConfig& c, const json& v) {
    if constexpr (std::is_same_v<T, int64_t>) {
      if (v.is_number_integer()) {
        c.*member = v.get<int64_t>();
        return;
      }
      // 64.0 is an int; 64.5 and 1e300 are not (casting 1e300 would be undefined).
      if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::abs(d) < 9.0e18 && d == std::trunc(d)) {
          c.*member = static_cast<int64_t>(d);
          return;
        }
      }
    } else if constexpr (std::is_same_v<T, double>) {
      if (v.is_number()) {
        const double d = v.get<double>();
        // "--lr inf" or "nan" would pass every range check below and
        // end the run at its first step.
        if (!std::isfinite(d)) throw Error("setting '" + k + "' must be a finite number, got " + std::to_string(d));
        c.*member = d;
        return;
      }
    } else if constexpr (std::is_same_v<T, bool>) {
      if (v.is_boolean()) {
        c.*member = v.get<bool>();
        return;
      }
    } else {
      if (v.is_string()) {
        c.*member = v.get<std::string>();
        return;
      }
    }
    throw Error("setting '" + k + "' expects " + type_name(static_cast<T*>(nullptr)) + ", got " + v.dump());
  };
  return f;
}

// A model or recipe setting that sets the run's length, a schedule or how
// ranks share statistics, not what one training step computes.
Field outside_step(Field f) {
  f.meta.shapes_step = false;
  return f;
}

// A runtime setting that changes how fast a step runs.
Field speed(Field f) {
  f.meta.shapes_step = true;
  return f;
}

// A string setting that takes one of `choices`.
Field choice_field(const char* key, std::string TrainConfig::*member, ConfigKind kind, std::vector<std::string> choices,
                   const char* help) {
  Field f = field(key, member, kind, help);
  f.meta.choices = std::move(choices);
  return f;
}

std::vector<std::string> arch_names() {
  std::vector<std::string> names = resnet_names();
  for (const auto& v : vit_names()) names.push_back(v);
  return names;
}

// Settings: the data, the model and the loss.
std::vector<Field> model_fields() {
  using K = ConfigKind;
  // One setting per entry, its help text beneath: kept as written.
  // clang-format off
  return {
    field("data", &TrainConfig::data, K::Recipe,
          "data set: fashion-mnist | idx:DIR | cifar10:DIR | cifar100:DIR | stl10:DIR (binary versions), "
          "optionally @train; stl10:DIR@train+unlabeled pretrains on STL-10's 105,000 images as the "
          "paper does (unlabelled: evaluate with twist eval --data stl10:DIR)"),
    field("val_split", &TrainConfig::val_split, K::Recipe,
          "hold out this many training images (seeded, fixed) and evaluate on them instead of "
          "the test split: use it to choose settings, so the test split only reports"),
    choice_field("arch", &TrainConfig::arch, K::Model, arch_names(),
          "backbone: resnet18 | resnet34 | resnet50 | resnet50w2 (SimCLR's 2x wide ResNet-50) | vit_tiny | "
          "vit_small | vit_base (the head then uses GELU instead of ReLU, as the paper's ViT heads; position "
          "embeddings are learned for image_size and resized for other crop sizes)"),
    field("width", &TrainConfig::width, K::Model,
          "channel multiplier of the ResNet (0.25 = 16 base channels)"),
    choice_field("stem", &TrainConfig::stem, K::Model, {"auto", "small", "imagenet"},
          "ResNets: auto = small where the images' side is at most 64 pixels, imagenet above (config.json "
          "records the choice) | small (3x3 stride 1, no max-pool) | imagenet (7x7/2 + max-pool)"),
    field("feature_dim", &TrainConfig::feature_dim, K::Model,
          "ResNets: 0 = the features are the last stage's channels (torchvision's ResNet); N > 0 = a 1x1 "
          "convolution + BatchNorm + ReLU maps the last stage to N channels before the pooling, so a narrow "
          "network gives N-dimensional features"),
    field("patch_size", &TrainConfig::patch_size, K::Model,
          "ViTs: side of the square patches (16 on ImageNet; 4 suits 28- or 32-pixel images); crops "
          "must be at least this large"),
    field("drop_path", &TrainConfig::drop_path, K::Model,
          "ViTs: stochastic depth, the last block's drop probability, rising linearly from 0 over the "
          "blocks (the paper uses 0.1 for ViT-B)"),
    field("hidden", &TrainConfig::hidden, K::Model, "hidden width of the projection head"),
    field("classes", &TrainConfig::classes, K::Model,
          "C, the number of classes the head predicts; set it to the number of true classes "
          "for unsupervised classification"),
    field("aux_classes", &TrainConfig::aux_classes, K::Model,
          "> 0: a second head of this many classes beside the C-class head, trained with the same loss "
          "(over-clustering: asks the backbone for finer distinctions; evaluation uses the C-class head)"),
    field("aux_weight", &TrainConfig::aux_weight, K::Recipe,
          "weight of the aux_classes head's TWIST loss in the total (the C-class heads' weighs 1; lower "
          "raised Fashion-MNIST's kNN but cost the digits' clusters, docs/recipe.md)"),
    field("aux_alpha", &TrainConfig::aux_alpha, K::Recipe,
          "the aux_classes head's sharpness weight; < 0: alpha, the C-class heads' (with aux_beta, the C-class "
          "heads' entropy terms can weigh more than the large head's)"),
    field("aux_beta", &TrainConfig::aux_beta, K::Recipe,
          "the aux_classes head's diversity weight; < 0: beta, the C-class heads'"),
    field("spread_weight", &TrainConfig::spread_weight, K::Recipe,
          "> 0: adds this weight times ln(d / participation ratio) of the backbone features' covariance to the "
          "objective, asking for variance spread over many directions (what cosine kNN needs); 0: off"),
    field("cluster_heads", &TrainConfig::cluster_heads, K::Model,
          "C-class heads trained side by side from different initial weights; evaluation and prediction use "
          "the one of lowest training loss (a moving average over about 100 steps); 0 = auto: 5 where C is at "
          "most 100 and neither momentum_teacher nor self_label_epochs is on, else 1 (docs/recipe.md)"),
    field("nbs", &TrainConfig::nbs, K::Model,
          "BatchNorm without affine parameters before the softmax (the paper's NBS: +12 NMI)"),
    field("alpha", &TrainConfig::alpha, K::Recipe,
          "weight of the sharpness term; lower it if predictions collapse to one class early"),
    field("beta", &TrainConfig::beta, K::Recipe,
          "weight of the diversity term; 0 lets every sample fall into one class (collapse)"),
    field("temperature", &TrainConfig::temperature, K::Recipe, "softmax temperature tau"),
    choice_field("temperature_mode", &TrainConfig::temperature_mode, K::Recipe, {"all", "entropies"},
          "where tau applies: all (every term on softmax(z/tau)) | entropies (the official code: the "
          "consistency KL on softmax(z), the two entropy terms on softmax(z/tau))"),
  };
  // clang-format on
}

// Settings: the views and their augmentation.
std::vector<Field> augment_fields() {
  using K = ConfigKind;
  // One setting per entry, its help text beneath: kept as written.
  // clang-format off
  return {
    field("image_size", &TrainConfig::image_size, K::Recipe,
          "side of the global crops; 0 = the images' own size"),
    field("local_crops", &TrainConfig::local_crops, K::Recipe,
          "number of small local crops besides the 2 global ones (multi-crop)"),
    field("local_size", &TrainConfig::local_size, K::Recipe, "side of the local crops; 0: the paper's 96 for 224 scaled to the image size"),
    field("global_scale_min", &TrainConfig::global_scale_min, K::Recipe,
          "smallest area fraction of a global crop"),
    field("global_scale_max", &TrainConfig::global_scale_max, K::Recipe,
          "largest area fraction of a global crop"),
    field("local_scale_min", &TrainConfig::local_scale_min, K::Recipe,
          "smallest area fraction of a local crop"),
    field("local_scale_max", &TrainConfig::local_scale_max, K::Recipe,
          "largest area fraction of a local crop"),
    field("flip_p", &TrainConfig::flip_p, K::Recipe,
          "probability of a horizontal flip of each view; -1 (auto): 0.5, or 0 where the training images' "
          "mirror images are unlike them (digits, text, aligned objects, many medical images)"),
    field("jitter_p", &TrainConfig::jitter_p, K::Recipe, "probability of colour jitter"),
    field("brightness", &TrainConfig::brightness, K::Recipe, "colour jitter: brightness strength"),
    field("contrast", &TrainConfig::contrast, K::Recipe, "colour jitter: contrast strength"),
    field("saturation", &TrainConfig::saturation, K::Recipe,
          "colour jitter: saturation strength (RGB only)"),
    field("hue", &TrainConfig::hue, K::Recipe, "colour jitter: hue strength (RGB only)"),
    field("grayscale_p", &TrainConfig::grayscale_p, K::Recipe,
          "probability of grey conversion (RGB only)"),
    field("blur", &TrainConfig::blur, K::Recipe,
          "Gaussian blur with the paper's per-view probabilities (1.0 / 0.1 / 0.5)"),
    field("solarize", &TrainConfig::solarize, K::Recipe,
          "solarize the second global view with probability 0.2"),
    field("rotation", &TrainConfig::rotation, K::Recipe,
          "largest rotation of each view in degrees, uniform in [-r, r] after the crop (edges repeat the "
          "border); 0: none; -1 (auto): where the training images lean (handwriting, hand-held photos), 1.5 times "
          "their median lean, at most 20; 0 where they stand upright on one frame (garments, documents, parts)"),
    field("shear", &TrainConfig::shear, K::Recipe,
          "largest horizontal shear of each view in degrees, uniform in [-s, s], with the rotation (rows slide "
          "sideways in proportion to their height, as handwriting slants); 0: none; -1 (auto): 15 where the rotation "
          "check finds that the images lean a little (median lean above 4 and at most 10 degrees, as handwriting), else 0"),
  };
  // clang-format on
}

// Settings: optimizer, schedules, teacher, self-labeling and run length.
std::vector<Field> optimization_fields() {
  using K = ConfigKind;
  // One setting per entry, its help text beneath: kept as written.
  // clang-format off
  return {
    choice_field("optimizer", &TrainConfig::optimizer, K::Recipe, {"lars", "sgd", "adamw"},
          "lars (layer-wise adaptive, the paper's choice for CNNs) | sgd | adamw (the ViT recipes')"),
    field("lr", &TrainConfig::lr, K::Recipe,
          "peak learning rate per 256 images (scaled by batch/256)"),
    field("bias_lr_ratio", &TrainConfig::bias_lr_ratio, K::Recipe,
          "lars and sgd: the learning rate of biases and normalization parameters (the 1-D parameters, "
          "which LARS neither adapts nor decays) as a ratio of lr; 1 = the paper's"),
    field("head_lr", &TrainConfig::head_lr, K::Recipe,
          "lars and sgd: > 0, every parameter outside the backbone (the cluster heads, the over-clustering head) "
          "steps by plain SGD with momentum, without LARS' layer-wise scaling, at this peak learning rate per 256 "
          "images on lr's warm-up and cosine (its steps: lr's schedule x head_lr / lr, in every phase); "
          "0: the heads step as the backbone does"),
    outside_step(field("min_lr_ratio", &TrainConfig::min_lr_ratio, K::Recipe,
          "the cosine schedule ends at lr * this")),
    field("weight_decay", &TrainConfig::weight_decay, K::Recipe,
          "weight decay of weights (not biases or norms)"),
    outside_step(field("weight_decay_end", &TrainConfig::weight_decay_end, K::Recipe,
          "final weight decay of a cosine schedule; < 0 keeps it constant")),
    field("momentum", &TrainConfig::momentum, K::Recipe, "SGD/LARS momentum"),
    field("clip_grad", &TrainConfig::clip_grad, K::Recipe,
          "> 0: clip the gradient's global norm to this before each update (ViT recipes: 3.0)"),
    field("momentum_teacher", &TrainConfig::momentum_teacher, K::Recipe,
          "an EMA teacher gives the targets (Eq. 5, the ViT recipe); evaluation uses the teacher"),
    outside_step(field("teacher_momentum", &TrainConfig::teacher_momentum, K::Recipe,
          "the teacher's EMA momentum at the start; a cosine schedule takes it to 1")),
    outside_step(field("self_label_epochs", &TrainConfig::self_label_epochs, K::Recipe,
          "> 0: a self-labeling phase of this many epochs after the main phase (the ResNet recipe)")),
    outside_step(field("self_label_lr", &TrainConfig::self_label_lr, K::Recipe,
          "self-labeling: peak learning rate per 256 images, re-warmed then cosine")),
    outside_step(field("self_label_warmup_epochs", &TrainConfig::self_label_warmup_epochs, K::Recipe,
          "self-labeling: re-warm-up length in epochs (at most a tenth of the phase)")),
    outside_step(field("self_label_quantile_start", &TrainConfig::self_label_quantile_start, K::Recipe,
          "self-labeling: share of each batch kept (the most confident) at the start")),
    outside_step(field("self_label_quantile_end", &TrainConfig::self_label_quantile_end, K::Recipe,
          "self-labeling: share kept at the end (cosine schedule)")),
    outside_step(field("self_label_global_scale_min", &TrainConfig::self_label_global_scale_min, K::Recipe,
          "self-labeling: harder global crops, smallest area fraction (reference code: 0.14)")),
    outside_step(field("self_label_local_scale_max", &TrainConfig::self_label_local_scale_max, K::Recipe,
          "self-labeling: harder local crops, largest area fraction (0.14)")),
    outside_step(field("warmup_epochs", &TrainConfig::warmup_epochs, K::Recipe,
          "linear learning-rate warm-up, in epochs")),
    field("batch_size", &TrainConfig::batch_size, K::Recipe,
          "images per step; NBS and the diversity term use batch statistics, so not too small"),
    outside_step(field("epochs", &TrainConfig::epochs, K::Recipe,
          "length of the run (fractions allowed); 0 = auto: 4 epochs, or enough epochs to see min_images "
          "images if that is longer (a data set of 8,000 images gets 45 epochs, Fashion-MNIST 6)")),
    outside_step(field("min_images", &TrainConfig::min_images, K::Recipe,
          "with epochs 0 (auto): the fewest images the main phase sees, summed over epochs")),
    outside_step(field("max_steps", &TrainConfig::max_steps, K::Recipe,
          "> 0: end the run (and its schedules) after this many steps")),
    outside_step(field("budget_minutes", &TrainConfig::budget_minutes, K::Recipe,
          "> 0: at most this many minutes of training (with budget_covers all: of the whole command): after its first 23 "
          "steps the run measures its speed and, where the planned steps would take longer, ends its main "
          "phase where the time runs out, its schedules sized to that length and its warm-up to its share of "
          "the planned run (config.json records them as max_steps and warmup_epochs); halfway through the "
          "rest it measures again and re-sizes the main phase once more, its schedules going on from there at "
          "the new pace, and again halfway through what is left, while that is at least 20 steps; 0: off")),
    outside_step(choice_field("budget_covers", &TrainConfig::budget_covers, K::Recipe, {"training", "all"},
          "what budget_minutes covers: training (its steps; the set-up, evaluation and report come on top) or "
          "all (the whole command from its start to its summary: its first measurement also times the "
          "evaluation's kinds of work on 512 held-out images, and every measurement counts what the cluster "
          "read-out, the final evaluation and the report will take at the pace then)")),
    outside_step(field("replan_step", &TrainConfig::replan_step, K::Recipe,
          "set by budget_minutes (config.json records it, so a resume keeps the schedules): the step at "
          "which the main phase was re-sized from replan_from steps to max_steps, where its cosine schedules "
          "take the new pace; 0: never")),
    outside_step(field("replan_from", &TrainConfig::replan_from, K::Recipe,
          "set by budget_minutes with replan_step: the main phase's length before the first re-sizing")),
    outside_step(field("replan_along", &TrainConfig::replan_along, K::Recipe,
          "set by budget_minutes with replan_step where an earlier re-sizing bent the schedules: the step of "
          "the replan_from-step run that they had reached at replan_step; 0: replan_step itself")),
    field("seed", &TrainConfig::seed, K::Recipe,
          "seeds initialisation, sampling and augmentation"),
    outside_step(field("skip_nonfinite", &TrainConfig::skip_nonfinite, K::Recipe,
          "a step whose loss or gradient is NaN or infinite stops the run; > 0: skip up to this "
          "many such steps instead (no update; counted as skipped_steps in metrics.jsonl and "
          "summary.json), for rare spikes in long runs")),
    outside_step(field("skip_bad_images", &TrainConfig::skip_bad_images, K::Recipe,
          "an image file of a folder that does not decode (corrupt, truncated) stops the run; > 0: skip "
          "up to this many such files instead, each named once on stderr and replaced by another image "
          "of the set (counted as skipped_images in summary.json)")),
  };
  // clang-format on
}

// Settings: where and how the run executes (device, precision, threads,
// distribution), logs, checkpoints and evaluates.
std::vector<Field> runtime_fields() {
  using K = ConfigKind;
  // One setting per entry, its help text beneath: kept as written.
  // clang-format off
  return {
    field("out", &TrainConfig::out, K::Runtime, "run directory (default runs/<date-time>)"),
    speed(field("threads", &TrainConfig::threads, K::Runtime, "intra-op threads; 0 = all cores")),
    speed(field("loader_workers", &TrainConfig::loader_workers, K::Runtime,
          "background threads preparing augmented batches while the model trains; 0: prepare each "
          "batch between steps with the intra-op threads (no thread competing with them for cores)")),
    speed(field("channels_last", &TrainConfig::channels_last, K::Runtime,
          "NHWC memory format for convolutions (faster with oneDNN; same results up to rounding)")),
    choice_field("precision", &TrainConfig::precision, K::Recipe, {"auto", "fp32", "bf16"},
          "auto | fp32 | bf16: bf16 runs convolutions and matrix products in bfloat16 (autocast; "
          "parameters, gradients and the loss stay float32), ~1.7x fp32 on CPUs with AVX512-BF16/AMX; "
          "auto: bf16 on a GPU or such a CPU, else fp32 (config.json records the one used)"),
    speed(field("device", &TrainConfig::device, K::Runtime,
          "cpu | cuda | cuda:N: where the model trains; on a GPU, in-memory data sets are augmented "
          "there too (batches copied from pinned memory without waiting)")),
    field("log_every", &TrainConfig::log_every, K::Runtime, "steps between metrics.jsonl lines"),
    field("checkpoint_every", &TrainConfig::checkpoint_every, K::Runtime,
          "steps between checkpoints; 0 = every epoch"),
    field("checkpoint_minutes", &TrainConfig::checkpoint_minutes, K::Runtime,
          "> 0: also checkpoint after this many minutes of wall time since the last checkpoint, "
          "whichever comes first (bounds what a kill costs when epochs are long, e.g. ImageNet's); "
          "0: only by steps or epochs"),
    field("stop_after_steps", &TrainConfig::stop_after_steps, K::Runtime,
          "> 0: stop this invocation after N steps with a checkpoint; continue with --resume (which "
          "goes on to the end unless given --stop-after-steps again) "
          "(for time-limited jobs)"),
    field("eval", &TrainConfig::eval, K::Runtime,
          "evaluate kNN and cluster metrics on the held-out split at the end"),
    field("eval_every", &TrainConfig::eval_every, K::Runtime,
          "> 0: also evaluate every N steps during training, kNN top-1 and the head's cluster accuracy and NMI "
          "on fixed seeded subsets (10,000 training images as the kNN bank, 2,000 held-out images), logged "
          "to metrics.jsonl as eval_* and drawn in the report: learning curves"),
    field("eval_every_minutes", &TrainConfig::eval_every_minutes, K::Runtime,
          "> 0: the same evaluation every M minutes of training (time spent evaluating not counted)"),
    field("knn_k", &TrainConfig::knn_k, K::Runtime, "neighbours of the kNN evaluation"),
    choice_field("cluster_readout", &TrainConfig::cluster_readout, K::Runtime, {"auto", "head", "kmeans"},
          "the run's clusters, chosen at the end of training on up to 10,000 unlabeled training images: "
          "auto (the head's argmax, or spherical k-means of the backbone's features into C clusters when "
          "it agrees clearly more with the features' 10 nearest neighbours, less a charge for unequal cluster "
          "sizes) | head | kmeans; saved as "
          "cluster_readout.json for twist eval cluster and twist predict"),
    field("bank_memory", &TrainConfig::bank_memory, K::Runtime,
          "MiB of features each bank of the evaluation keeps in memory when the data set is an image folder "
          "(the evaluation streams it); past that the bank goes to an unlinked temporary file in $TMPDIR, "
          "else /tmp (0: at once)"),
    field("report", &TrainConfig::report, K::Runtime,
          "write report.html (curves, figures, image grids; twist report) at the end of the run"),
    field("collapse_restarts", &TrainConfig::collapse_restarts, K::Runtime,
          "a collapse (every image in few classes, or every image's distribution flat) that still holds "
          "after the warm-up and has lasted a tenth of the main phase restarts the run from scratch at half "
          "the learning rate (a flat one under temperature_mode all also with tau on the entropies only), at "
          "most this often (one process only; 0: train on and mark every log line)"),
    outside_step(field("sync_bn", &TrainConfig::sync_bn, K::Recipe,
          "distributed runs: the head's hidden BatchNorms use the global batch's statistics "
          "(the backbone's stay per rank)")),
    outside_step(field("nbs_per_rank", &TrainConfig::nbs_per_rank, K::Recipe,
          "distributed runs: NBS statistics per rank instead of over the global batch, as the "
          "reference code; the diversity term's mean stays global")),
    field("dist_timeout", &TrainConfig::dist_timeout, K::Runtime,
          "distributed runs: seconds a collective waits for the other ranks before the run stops "
          "with an error naming the rank that stopped answering"),
  };
  // clang-format on
}

// Every setting, in the order of --help and config.json.
const std::vector<Field>& fields() {
  static const std::vector<Field> f = [] {
    std::vector<Field> all;
    for (auto group : {model_fields, augment_fields, optimization_fields, runtime_fields}) {
      auto g = group();
      all.insert(all.end(), g.begin(), g.end());
    }
    return all;
  }();
  return f;
}

const Field& find_field(const std::string& key) {
  for (const auto& f : fields())
    if (f.meta.key == key) return f;
  throw Error("unknown setting '" + key + "'");
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> k;
    for (const auto& f : fields()) k.push_back(f.meta);
    return k;
  }();
  return keys;
}

void set_config_value(TrainConfig& config, const std::string& key, const std::string& value) {
  const Field& f = find_field(key);
  json v;
  const std::string& type = f.meta.type;
  try {
    size_t used = 0;
    if (type == "int") {
      v = std::stoll(value, &used);
    } else if (type == "float") {
      v = std::stod(value, &used);
    } else if (type == "bool") {
      if (value == "true" || value == "1" || value == "on" || value == "yes")
        v = true;
      else if (value == "false" || value == "0" || value == "off" || value == "no")
        v = false;
      else
        throw std::invalid_argument(value);
      used = value.size();
    } else {
      v = value;
      used = value.size();
    }
    if (used != value.size()) throw std::invalid_argument(value);
  } catch (const std::logic_error&) { throw Error("--" + key + ": '" + value + "' is not a valid " + type); }
  f.set(config, v);
}

std::string get_config_value(const TrainConfig& config, const std::string& key) {
  return find_field(key).get(config).dump();
}

std::string config_to_json(const TrainConfig& config) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();  // in declaration order
  for (const auto& f : fields()) j[f.meta.key] = f.get(config);
  return j.dump(2);
}

TrainConfig config_from_json(const std::string& text, const std::string& source, TrainConfig base) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1E99999
    throw Error("'" + source + "' is not valid JSON: " + e.what());
  }
  check(j.is_object(), "'" + source + "' must hold one JSON object of settings");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key().rfind("_", 0) == 0 || it.key() == "comment") continue;  // notes in recipes
    try {
      find_field(it.key()).set(base, it.value());
    } catch (const Error& e) { throw Error("'" + source + "': " + e.what()); }
  }
  return base;
}

TrainConfig saved_run_base() {
  TrainConfig c;
  c.cluster_heads = 1;         // runs from before the key trained one head
  c.spread_weight = 0.0;       // and without the feature-spread term
  c.cluster_readout = "head";  // and read their clusters from the head
  c.rotation = 0.0;            // and turned no view
  c.shear = 0.0;               // nor slanted one
  return c;
}

TrainConfig load_config_file(const std::string& path, TrainConfig base) {
  std::ifstream f(path);
  check(bool(f), "cannot read config file '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return config_from_json(ss.str(), path, base);
}

namespace {

// Every string setting with choices in the table holds one of them.
void validate_choices(const TrainConfig& c) {
  for (const auto& f : fields()) {
    if (f.meta.choices.empty()) continue;
    const std::string v = f.get(c).get<std::string>();
    std::string list;
    bool ok = false;
    for (const auto& choice : f.meta.choices) {
      list += (list.empty() ? "" : ", ") + choice;
      ok |= v == choice;
    }
    check(ok, "invalid setting " + f.meta.key + ": '" + v + "' is not one of " + list);
  }
}

}  // namespace

void validate(const TrainConfig& c) {
  auto need = [](bool ok, const std::string& key, const std::string& what) {
    check(ok, "invalid setting " + key + ": " + what);
  };
  validate_choices(c);
  need(c.width > 0, "width", "must be positive");
  need(c.feature_dim >= 0, "feature_dim", "must be 0 (the last stage's channels) or positive");
  need(c.feature_dim == 0 || !is_vit(c.arch), "feature_dim", "applies to ResNets only (must be 0 with " + c.arch + ")");
  need(c.patch_size >= 1, "patch_size", "must be at least 1");
  need(c.drop_path >= 0 && c.drop_path < 1, "drop_path", "must lie in [0, 1)");
  if (is_vit(c.arch)) {
    need(c.image_size == 0 || c.image_size >= c.patch_size, "image_size",
         "must be at least patch_size (" + std::to_string(c.patch_size) + ") for a ViT");
    need(c.local_crops == 0 || c.local_size == 0 || c.local_size >= c.patch_size, "local_size",
         "must be at least patch_size (" + std::to_string(c.patch_size) + ") for a ViT");
  }
  need(c.hidden >= 1, "hidden", "must be at least 1");
  need(c.aux_classes == 0 || c.aux_classes >= 2, "aux_classes", "must be 0 (no second head) or at least 2");
  need(c.aux_weight > 0 && std::isfinite(c.aux_weight), "aux_weight", "must be a positive number");
  need(c.spread_weight >= 0 && std::isfinite(c.spread_weight), "spread_weight", "must be 0 (off) or positive");
  need(c.cluster_heads >= 0 && c.cluster_heads <= 64, "cluster_heads", "must be 0 (auto) or lie in [1, 64]");
  need(c.cluster_heads <= 1 || (!c.momentum_teacher && c.self_label_epochs == 0), "cluster_heads",
       "several cluster heads train with the TWIST loss only: not with momentum_teacher or self_label_epochs");
  need(c.classes >= 2, "classes", "C must be at least 2, got " + std::to_string(c.classes));
  need(c.batch_size >= 2, "batch_size",
       "must be at least 2 (NBS and the diversity term need batch statistics), got " + std::to_string(c.batch_size));
  need(c.epochs >= 0, "epochs", "must be >= 0 (0: auto, from min_images)");
  need(c.min_images >= 0, "min_images", "must be >= 0");
  need(c.max_steps >= 0, "max_steps", "must be >= 0");
  need(c.budget_minutes >= 0 && std::isfinite(c.budget_minutes), "budget_minutes", "must be 0 (off) or positive");
  need(c.replan_step >= 0 && (c.replan_step == 0 || c.replan_from >= c.replan_step || c.replan_along > 0),
       "replan_step", "must be 0 (never) or a step no later than replan_from");
  need(c.replan_along == 0 || (c.replan_step > 0 && c.replan_along > 0 && c.replan_along <= double(c.replan_from)),
       "replan_along", "must be 0 (none) or, with replan_step, a step of the replan_from-step run");
  need(c.lr > 0, "lr", "must be positive");
  need(c.min_lr_ratio >= 0 && c.min_lr_ratio <= 1, "min_lr_ratio", "must lie in [0, 1]");
  need(c.bias_lr_ratio >= 0, "bias_lr_ratio", "must be >= 0 (0 freezes biases and normalization parameters)");
  need(c.optimizer != "adamw" || c.bias_lr_ratio == 1, "bias_lr_ratio",
       "applies to lars and sgd only (adamw scales every step by its own moments): leave it at 1");
  need(c.head_lr >= 0 && std::isfinite(c.head_lr), "head_lr", "must be 0 (the heads step as the backbone) or positive");
  need(c.optimizer != "adamw" || c.head_lr == 0, "head_lr",
       "applies to lars and sgd only (adamw scales every step by its own moments): leave it at 0");
  need(c.weight_decay >= 0, "weight_decay", "must be >= 0");
  need(c.momentum >= 0 && c.momentum < 1, "momentum", "must lie in [0, 1)");
  need(c.warmup_epochs >= 0, "warmup_epochs", "must be >= 0");
  need(c.temperature > 0, "temperature", "must be positive");
  need(c.alpha >= 0 && c.beta >= 0, "alpha/beta", "must be >= 0");
  need(std::isfinite(c.aux_alpha) && std::isfinite(c.aux_beta), "aux_alpha/aux_beta",
       "must be numbers: >= 0, or < 0 for alpha and beta");
  need(c.clip_grad >= 0, "clip_grad", "must be >= 0 (0: no clipping)");
  need(c.teacher_momentum >= 0 && c.teacher_momentum <= 1, "teacher_momentum", "must lie in [0, 1]");
  need(c.self_label_epochs >= 0, "self_label_epochs", "must be >= 0");
  need(!(c.momentum_teacher && c.self_label_epochs > 0), "self_label_epochs",
       "self-labeling and the momentum teacher are not combined (the paper uses the teacher for ViTs and "
       "self-labeling for ResNets)");
  need(c.self_label_lr > 0, "self_label_lr", "must be positive");
  need(c.self_label_warmup_epochs >= 0, "self_label_warmup_epochs", "must be >= 0");
  for (double q : {c.self_label_quantile_start, c.self_label_quantile_end})
    need(q > 0 && q <= 1, "self_label_quantile_start/end", "must lie in (0, 1]");
  need(c.self_label_global_scale_min > 0 && c.self_label_global_scale_min <= c.global_scale_max,
       "self_label_global_scale_min", "must lie in (0, global_scale_max]");
  need(c.self_label_local_scale_max >= c.local_scale_min && c.self_label_local_scale_max <= 1,
       "self_label_local_scale_max", "must lie in [local_scale_min, 1]");
  need(c.local_crops >= 0, "local_crops", "must be >= 0");
  need(c.local_size == 0 || c.local_size >= 4, "local_size",
       "must be 0 (scaled from the image size) or at least 4 pixels");
  need(c.image_size == 0 || c.image_size >= 8, "image_size", "must be 0 or at least 8 pixels");
  auto scale_ok = [](double lo, double hi) { return lo > 0 && lo <= hi && hi <= 1; };
  need(scale_ok(c.global_scale_min, c.global_scale_max), "global_scale_min/max", "need 0 < min <= max <= 1");
  need(scale_ok(c.local_scale_min, c.local_scale_max), "local_scale_min/max", "need 0 < min <= max <= 1");
  for (double p : {c.jitter_p, c.grayscale_p})
    need(p >= 0 && p <= 1, "jitter_p/grayscale_p", "probabilities must lie in [0, 1]");
  need(c.flip_p == -1 || (c.flip_p >= 0 && c.flip_p <= 1), "flip_p", "must be -1 (auto) or lie in [0, 1]");
  need(c.rotation == -1 || (c.rotation >= 0 && c.rotation <= 180), "rotation",
       "must be -1 (auto) or lie in [0, 180] degrees");
  need(c.shear == -1 || (c.shear >= 0 && c.shear <= 60), "shear", "must be -1 (auto) or lie in [0, 60] degrees");
  need(c.val_split >= 0, "val_split", "must be >= 0");
  need(c.threads >= 0, "threads", "must be >= 0");
  need(c.loader_workers >= 0, "loader_workers", "must be >= 0");
  need(c.log_every >= 1, "log_every", "must be at least 1");
  need(c.checkpoint_every >= 0, "checkpoint_every", "must be >= 0");
  need(c.checkpoint_minutes >= 0, "checkpoint_minutes", "must be >= 0");
  need(c.eval_every >= 0, "eval_every", "must be >= 0 (0: only at the end)");
  need(c.eval_every_minutes >= 0, "eval_every_minutes", "must be >= 0 (0: off)");
  need(c.skip_nonfinite >= 0, "skip_nonfinite", "must be >= 0");
  need(c.skip_bad_images >= 0, "skip_bad_images", "must be >= 0");
  need(c.stop_after_steps >= 0, "stop_after_steps", "must be >= 0");
  need(c.collapse_restarts >= 0, "collapse_restarts", "must be >= 0");
  need(is_device_name(c.device), "device", device_name_problem(c.device));
  need(c.knn_k >= 1, "knn_k", "must be at least 1");
  need(c.bank_memory >= 0 && c.bank_memory <= (int64_t(1) << 30), "bank_memory", "must be between 0 and 2^30 MiB");
  need(c.dist_timeout > 0, "dist_timeout", "must be positive (seconds)");
}

}  // namespace twist
