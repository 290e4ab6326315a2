#include "twist/memory_check.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "twist/error.h"
#include "twist/models.h"
#include "twist/train.h"

namespace twist {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string gib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g GiB", bytes / kGiB);
  return buf;
}

// The projection heads (and the over-clustering head beside them): three
// Linear layers each.
double head_parameters(const TrainConfig& c, double in_dim) {
  const double h = double(c.hidden);
  double p = double(resolved_cluster_heads(c)) * (in_dim * h + h * h + h * double(c.classes));
  if (c.aux_classes > 0) p += in_dim * h + h * h + h * double(c.aux_classes);
  return p;
}

}  // namespace

TrainingMemory training_memory(const TrainConfig& c, int64_t channels, int64_t image_side, int64_t local_batch) {
  TrainConfig resolved = c;
  resolved.stem = resolved_stem(c, image_side);
  const BackboneOptions o = model_options(resolved, channels).backbone;
  const BackboneCost global = backbone_cost(o, image_side);
  const double parameters = global.parameters + head_parameters(c, global.feature_dim);
  // Weights, their gradients and the optimizer's momentum (AdamW keeps two
  // moments), in float32; a momentum teacher holds one more copy.
  const double copies = (c.optimizer == "adamw" ? 4.0 : 3.0) + (c.momentum_teacher ? 1.0 : 0.0);
  TrainingMemory m;
  m.model_bytes = 4.0 * copies * parameters;
  double per_image = 2 * global.activations_per_image;
  if (c.local_crops > 0)
    per_image += double(c.local_crops) * backbone_cost(o, local_side(c, image_side)).activations_per_image;
  // bfloat16 keeps most activations in 2 bytes.
  const double bytes_per_element = c.precision == "bf16" ? 2.0 : 4.0;
  m.step_bytes = bytes_per_element * double(local_batch) * per_image;
  return m;
}

double physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
}

void check_training_memory(const TrainConfig& c, int64_t channels, int64_t image_side, int64_t local_batch,
                           double available_bytes) {
  const TrainingMemory m = training_memory(c, channels, image_side, local_batch);
  if (available_bytes <= 0 || m.model_bytes + m.step_bytes <= available_bytes) return;
  const std::string feature_dim = c.feature_dim > 0 ? ", --feature-dim " + std::to_string(c.feature_dim) : "";
  const std::string model = "the model's weights, gradients and optimizer state take at least " + gib(m.model_bytes) +
                            " (--arch " + c.arch + ", --width " + num(c.width) + feature_dim + ", --hidden " +
                            std::to_string(c.hidden) + ")";
  const std::string step = "one step's activations at least " + gib(m.step_bytes) + " (" + std::to_string(local_batch) +
                           " images per process of --batch-size " + std::to_string(c.batch_size) + ", --image-size " +
                           std::to_string(image_side) +
                           (c.local_crops > 0 ? ", " + std::to_string(c.local_crops) + " local crops" : "") + ")";
  const bool model_first = m.model_bytes >= m.step_bytes;
  throw Error("this run needs at least " + gib(m.model_bytes + m.step_bytes) + " of memory and this machine has " +
              gib(available_bytes) + ": " + (model_first ? model + "; " + step : step + "; " + model) + ". Lower " +
              (model_first ? (feature_dim.empty() ? "--width or --hidden" : "--width, --feature-dim or --hidden")
                           : "--batch-size or --image-size") +
              ".");
}

std::string disk_space_warning(const std::string& dir, double checkpoint_bytes) {
  std::error_code ec;
  const std::filesystem::space_info s = std::filesystem::space(dir, ec);
  if (ec || double(s.available) >= 2 * checkpoint_bytes) return "";
  return "the disk of '" + dir + "' has " + gib(double(s.available)) + " free, less than two checkpoints of " +
         "this model (" + gib(checkpoint_bytes) + " each): a checkpoint that cannot be written stops the run " +
         "(the previous one is kept)";
}

std::string out_of_memory_message(const TrainConfig& c) {
  return "out of memory (--batch-size " + std::to_string(c.batch_size) + ", --image-size " +
         (c.image_size > 0 ? std::to_string(c.image_size) : std::string("the data's")) + ", --width " + num(c.width) +
         ", --hidden " + std::to_string(c.hidden) + ", --local-crops " + std::to_string(c.local_crops) +
         "): lower the batch size or the image size first";
}

}  // namespace twist
