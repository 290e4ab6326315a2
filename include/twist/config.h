#pragma once
// Every setting of a training run. The same keys serve config files
// (JSON), command-line flags (--key-name) and the run directory's
// config.json, so a run can be replayed from what it wrote.
#include <cstdint>
#include <string>
#include <vector>

namespace twist {

struct TrainConfig {
  // data
  std::string data = "fashion-mnist";
  int64_t val_split = 0;  // > 0: hold out this many training images and evaluate on them
  // model
  std::string arch = "resnet18";
  double width = 0.25;
  std::string stem = "auto";  // auto: resolved_stem (small up to kSmallStemMaxSide pixels, imagenet above)
  int64_t feature_dim = 0;  // ResNets: > 0 maps the last stage to this many channels (1x1 conv) before pooling
  int64_t patch_size = 16;  // ViTs: side of the square patches
  double drop_path = 0.0;   // ViTs: stochastic depth of the last block
  int64_t hidden = 512;
  int64_t classes = 10;
  int64_t aux_classes = 1000;  // > 0: an over-clustering head beside the C-class one (docs/recipe.md, ninth round)
  int64_t cluster_heads = 0;   // C-class heads side by side, lowest loss used; 0: auto (resolved_cluster_heads)
  bool nbs = true;
  // loss
  double alpha = 2.0;         // with beta: the consistency term's weight halved against both entropies (a large head
  double beta = 2.0;          // trains sharp and diverse, not flat; docs/recipe.md, sixth and ninth rounds)
  double temperature = 0.25;  // the paper's tau = 1 cannot get sharp with NBS and C = 10 (docs/recipe.md)
  std::string temperature_mode = "all";  // all | entropies (twist/loss.h)
  double spread_weight = 1.0;            // twist/feature_spread.h; 0: off (docs/recipe.md, 21st round)
  double aux_weight = 1.0;               // the aux head's loss against the C-class heads' (docs/recipe.md, 20th round)
  double aux_alpha = -1, aux_beta = -1;  // the aux head's entropy weights; < 0: alpha and beta
  // crops and augmentation
  int64_t image_size = 0;  // 0: the data set's own size
  int64_t local_crops = 0;
  int64_t local_size = 0;  // 0: 96/224 of the image side (local_side)
  double global_scale_min = 0.4, global_scale_max = 1.0;
  double local_scale_min = 0.05, local_scale_max = 0.4;
  double flip_p = -1;  // horizontal flips; -1: auto (0.5, or 0 where mirror images are unlike the data)
  double jitter_p = 0.8;
  double brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1;
  double grayscale_p = 0.2;
  bool blur = true;
  bool solarize = true;
  double rotation = -1;  // largest rotation of a view in degrees; 0: none; -1: auto (twist/rotation_check.h)
  double shear = -1;     // largest horizontal shear of a view in degrees; 0: none; -1: auto (with the rotation)
  // optimisation
  std::string optimizer = "lars";
  double lr = 3.0;             // per 256 images
  double bias_lr_ratio = 1.0;  // lars and sgd: biases' and norms' learning rate over lr
  double head_lr = 0;          // lars and sgd: > 0, the heads by plain SGD at this peak lr per 256; 0: as the backbone
  double min_lr_ratio = 0.001;
  double weight_decay = 1.5e-6;
  double weight_decay_end = -1;  // < 0: constant weight decay
  double momentum = 0.9;
  double warmup_epochs = 1.0;
  double clip_grad = 0;  // > 0: clip the gradient's global norm to this (ViT recipes: 3.0)
  // momentum teacher (Eq. 5; the paper's choice for ViTs)
  bool momentum_teacher = false;
  double teacher_momentum = 0.996;  // cosine schedule from this to 1
  // self-labeling, after the main phase (the paper's choice for ResNets)
  double self_label_epochs = 0;
  double self_label_lr = 0.05;  // per 256 images
  double self_label_warmup_epochs = 5;
  double self_label_quantile_start = 0.5, self_label_quantile_end = 0.6;
  double self_label_global_scale_min = 0.14;
  double self_label_local_scale_max = 0.14;
  int64_t batch_size = 256;
  // 0 (auto): the run length follows the data: 4 epochs, or as many as it
  // takes to see min_images images, whichever is longer, so that a small
  // data set gets as many steps as a large one (README, "Run length that follows the data").
  double epochs = 0;
  int64_t min_images = 360000;
  int64_t max_steps = 0;  // > 0: the run (and its schedules) end here
  // > 0: at most this many minutes of training; the run measures its speed over
  // its first steps and ends its main phase where the time runs out
  // (train.h, budgeted_main_steps; README, "A time budget")
  double budget_minutes = 0;
  // What budget_minutes covers: "training" (its steps only), or "all": the
  // whole `twist train` command, from its start through the final
  // evaluation and the report, whose time the run estimates from measured
  // speeds (README, "A time budget").
  std::string budget_covers = "training";
  // Set by budget_minutes where its last re-plan re-sized the main phase
  // from replan_from steps to max_steps at step replan_step (0: never); the
  // cosine schedules bend there (optim.h, bent_cosine_schedule). After an
  // earlier re-plan, replan_from stays the length before the first one and
  // replan_along is the step of it that the schedules had reached (0: none).
  int64_t replan_step = 0, replan_from = 0;
  double replan_along = 0;
  int64_t seed = 0;
  int64_t skip_bad_images = 0;  // image files that do not decode that may be skipped; 0: stop at the first
  int64_t skip_nonfinite = 0;   // steps with a non-finite loss/gradient that may be skipped; 0: stop at the first
  // running
  std::string out;      // run directory; empty: runs/<time>
  int64_t threads = 0;  // 0: every available core
  int64_t loader_workers = 1;
  bool channels_last = true;       // NHWC convolutions (faster on CPU)
  std::string precision = "auto";  // auto | fp32 | bf16 (autocast: convolutions and products in bfloat16)
  std::string device = "cpu";      // cpu | cuda | cuda:N
  int64_t log_every = 20;          // steps between metrics.jsonl lines
  int64_t checkpoint_every = 0;    // steps; 0: at the end of each epoch
  double checkpoint_minutes = 30;  // > 0: also every this many minutes of wall time
  int64_t stop_after_steps = 0;    // > 0: stop this invocation after N steps, resumable
  bool report = true;              // write report.html at the end (twist report)
  int64_t collapse_restarts = 2;   // a lasting collapse past warm-up restarts the run at half the lr, this often
  bool eval = true;                // evaluate on the held-out split at the end
  int64_t eval_every = 0;          // > 0: also evaluate every N steps (learning curves in metrics.jsonl)
  double eval_every_minutes = 0;   // > 0: also evaluate every M minutes of training
  // The run's clusters at the end: auto | head | kmeans (twist/cluster_readout.h)
  std::string cluster_readout = "auto";
  int64_t bank_memory = 32;  // MiB per feature bank in memory when evaluating a folder (kFeatureBankBudgetBytes)
  // distributed (RANK/WORLD_SIZE set): batch_size is the global batch
  bool sync_bn = false;       // head's hidden BatchNorms over the global batch
  bool nbs_per_rank = false;  // NBS statistics per rank, as the reference code's groups
  double dist_timeout = 120;  // seconds a collective may wait for the other ranks
  int64_t knn_k = 20;
};

enum class ConfigKind {
  Model,   // defines the network: must match a checkpoint on --resume
  Recipe,  // changes the training trajectory
  Runtime  // how this invocation runs; free to change on --resume
};

struct ConfigKey {
  std::string key;   // JSON key; the flag is --key with '_' as '-'
  std::string type;  // "int", "float", "bool", "string"
  ConfigKind kind;
  std::string help;
  // The values a string setting may take (validate() checks them); empty:
  // any value.
  std::vector<std::string> choices = {};
  // Whether it changes what one training step computes, how its data is
  // made or how fast it runs (twist bench takes exactly these).
  bool shapes_step = true;
};

const std::vector<ConfigKey>& config_keys();

// Sets one key from its textual value; throws twist::Error naming the key.
void set_config_value(TrainConfig& config, const std::string& key, const std::string& value);
// The value of one key as JSON text.
std::string get_config_value(const TrainConfig& config, const std::string& key);

std::string config_to_json(const TrainConfig& config);
// What a saved run's settings (its config.json, its checkpoint's) are read
// onto: a key the run predates keeps the value that behaved as the run did
// (cluster_heads 1), not today's default.
TrainConfig saved_run_base();
// Applies the keys present in a JSON object over `base`; unknown keys and
// wrongly typed values are errors naming `source`.
TrainConfig config_from_json(const std::string& json_text, const std::string& source, TrainConfig base = {});
TrainConfig load_config_file(const std::string& path, TrainConfig base = {});

// Throws twist::Error for impossible settings (batch < 2, C < 2, ...).
void validate(const TrainConfig& config);

}  // namespace twist
