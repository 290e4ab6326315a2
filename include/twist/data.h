#pragma once
// Data sets held in memory as uint8 images, and the data-spec strings that
// name them on the command line (DESIGN.md §5): "fashion-mnist",
// "idx:DIR", each with an optional "@train" / "@test" suffix.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace twist {

struct Dataset {
  std::string name;                      // e.g. "fashion-mnist@train"
  torch::Tensor images;                  // N x C x H x W, uint8
  torch::Tensor labels;                  // N, int64; undefined when unlabeled
  int64_t num_classes = 0;               // 0 when unlabeled
  std::vector<std::string> class_names;  // may be empty

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  bool has_labels() const { return labels.defined(); }
  // The samples at `indices` (int64), sharing class names.
  Dataset subset(const torch::Tensor& indices, const std::string& suffix) const;
};

// Per-channel mean and standard deviation of the images scaled to [0, 1].
struct Normalization {
  std::vector<double> mean, std;
};
Normalization channel_statistics(const Dataset& data);

struct DataSpec {
  std::string kind;   // "idx"
  std::string path;   // directory
  std::string split;  // "train" or "test"; empty when the spec names none
  std::string text;   // the spec as given, for messages
};

// Parses "fashion-mnist[@split]" or "idx:DIR[@split]"; throws twist::Error.
DataSpec parse_data_spec(const std::string& spec);

// Loads the split the spec names, else `default_split`.
Dataset load_dataset(const std::string& spec, const std::string& default_split = "train");

// True when the data set the spec names has the given split on disk.
bool has_split(const std::string& spec, const std::string& split);

// The images a run trains on and the labelled images it is judged on.
// With val_split > 0: a fixed, seed-independent hold-out of that many
// training images ("val"), so settings are chosen without the test split.
// Otherwise the test split ("test") when the spec names no split and the
// data set has one, else no evaluation set ("").
struct TrainEvalSplits {
  Dataset train, eval;
  std::string eval_name;
};
TrainEvalSplits load_train_eval_splits(const std::string& spec, int64_t val_split, bool want_eval = true);

// --- label subsets for semi-supervised fine-tuning ----------------------
// A class-balanced, seeded subset: from each class round(fraction * n_c)
// samples (at least one). Returns sorted int64 indices into `labels`.
torch::Tensor balanced_label_subset(const torch::Tensor& labels, double fraction, uint64_t seed);
// One index per line; reading validates every line and the range [0, n).
void write_index_list(const std::string& path, const torch::Tensor& indices);
torch::Tensor read_index_list(const std::string& path, int64_t n);

// Where the "fashion-mnist" spec looks (Debian's dataset-fashion-mnist).
extern const char* const kFashionMnistDir;

// --- IDX (MNIST format) -------------------------------------------------
// Reads an IDX file of unsigned bytes, gzipped or raw. Validates the magic
// number, the dimension count and that the payload length matches the
// header exactly. Returns a uint8 tensor with the file's dimensions.
torch::Tensor read_idx(const std::string& path);
// The same checks on the (decompressed) bytes of an IDX file in memory;
// `name` is used in messages.
torch::Tensor parse_idx(const uint8_t* bytes, size_t size, const std::string& name);

// Writes a raw (not gzipped) IDX file of a uint8 tensor; for tests and tools.
void write_idx(const std::string& path, const torch::Tensor& data);

}  // namespace twist
