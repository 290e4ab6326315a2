#pragma once
// Data sets, and the data-spec strings that name them on the command line
// (docs/design.md §5.2): "fashion-mnist", "idx:DIR", "cifar10:DIR", "cifar100:DIR",
// "stl10:DIR", "folder:DIR", each with an optional "@train" / "@test" suffix
// (STL-10 also "@unlabeled" and "@train+unlabeled"; folder also "@val").
// The fixed-size benchmarks are held in memory as one uint8 tensor; an image
// folder is file-backed: a list of paths, decoded where the images are used
// (the loader's worker threads), so a folder larger than memory can be
// trained on.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace twist {

struct Dataset {
  std::string name;                      // e.g. "fashion-mnist@train"
  torch::Tensor images;                  // N x C x H x W, uint8; undefined when file-backed
  torch::Tensor labels;                  // N, int64; undefined when unlabeled
  int64_t num_classes = 0;               // 0 when unlabeled
  std::vector<std::string> class_names;  // may be empty
  // File-backed form (folder:DIR): one image file per sample, of any size,
  // decoded as RGB where it is used. `file_side` is the square side the
  // files are fitted to when the set is decoded whole (in_memory) and what
  // height() and width() report; images of a file-backed set are always RGB.
  std::vector<std::string> files;
  int64_t file_side = 0;

  bool file_backed() const { return !images.defined() && !files.empty(); }
  int64_t size() const { return images.defined() ? images.size(0) : int64_t(files.size()); }
  int64_t channels() const { return file_backed() ? 3 : images.size(1); }
  int64_t height() const { return file_backed() ? file_side : images.size(2); }
  int64_t width() const { return file_backed() ? file_side : images.size(3); }
  bool has_labels() const { return labels.defined(); }
  // The samples at `indices` (int64), sharing class names.
  Dataset subset(const torch::Tensor& indices, const std::string& suffix) const;
};

// Per-channel mean and standard deviation of the images scaled to [0, 1];
// of a file-backed set, of up to 256 evenly spaced images decoded at 64 x 64
// as in_memory would. With `bad`, files that do not decode are passed over
// while its allowance lasts (twist/bad_images.h).
struct Normalization {
  std::vector<double> mean, std;
  // Throws unless there are statistics for exactly `channels` channels.
  void check_channels(int64_t channels) const;
};
class BadImages;
Normalization channel_statistics(const Dataset& data, BadImages* bad = nullptr);
// Of N x C x H x W uint8 images.
Normalization channel_statistics(const torch::Tensor& images);

// How many images of a file-backed set the statistics above decode.
constexpr int64_t kStatisticsImages = 256;

// Up to `n` evenly spaced images of the set, N x C x H x W uint8; a
// file-backed set's decoded at 64 x 64 as in_memory would, less those `bad`
// passes over (at least one must decode).
torch::Tensor image_sample(const Dataset& data, int64_t n, BadImages* bad = nullptr);

struct DataSpec {
  std::string kind;   // "idx", "cifar10", "cifar100" or "stl10"
  std::string path;   // directory
  std::string split;  // "train", "test" (stl10: "unlabeled", "train+unlabeled"); empty when none
  std::string text;   // the spec as given, for messages
};

// Parses "fashion-mnist[@split]", "idx:DIR[@split]", "cifar10:DIR[@split]",
// "cifar100:DIR[@split]", "stl10:DIR[@split]" or "folder:DIR[@split]";
// throws twist::Error.
// Without a split every kind loads "train", the labelled training images,
// STL-10 included: its 105,000-image pretraining set of the paper is
// "stl10:DIR@train+unlabeled" (unlabelled), evaluated with "stl10:DIR".
DataSpec parse_data_spec(const std::string& spec);

// Loads the split the spec names, else `default_split`.
Dataset load_dataset(const std::string& spec, const std::string& default_split = "train");

// True when the data set the spec names has the given split on disk.
bool has_split(const std::string& spec, const std::string& split);

// The images a run trains on and the labelled images it is judged on.
// With val_split > 0: a fixed, seed-independent hold-out of that many
// training images ("val"), so settings are chosen without the test split.
// Otherwise the test split ("test") when the spec names no split and the
// data set has one (an image folder without DIR/test: its DIR/val, named
// "val", as ImageNet's layout has), else no evaluation set ("").
struct TrainEvalSplits {
  Dataset train, eval;
  std::string eval_name;
};
TrainEvalSplits load_train_eval_splits(const std::string& spec, int64_t val_split, bool want_eval = true);

// --- image folders (folder:DIR), file-backed ----------------------------
// DIR holds either class sub-folders of images (labelled; the classes are
// the sorted sub-folder names, as torchvision's ImageFolder) or images only
// (unlabelled); images are *.jpg, *.jpeg, *.png, *.pgm, *.ppm and *.bmp
// (any case), other files and names starting with '.' are ignored. With a
// sub-folder DIR/train, DIR is split: @train (the default), @val and @test
// pick DIR/train, DIR/val and DIR/test, each one of the two forms above;
// the classes are those of DIR/train in every split. Throws twist::Error for
// a folder that is empty or holds no images, mixes images with class
// sub-folders, or has a class sub-folder without images.
Dataset load_image_folder(const std::string& dir, const std::string& split);
bool image_folder_has_split(const std::string& dir, const std::string& split);

// The side a file-backed set reports before a run chooses its image size.
constexpr int64_t kDefaultFileSide = 224;
// The most bytes in_memory decodes a file-backed set into (by default).
constexpr int64_t kInMemoryLimitBytes = int64_t(1) << 30;
// The limit in force: kInMemoryLimitBytes unless a test lowered it with
// set_in_memory_limit_bytes (<= 0 restores the default).
int64_t in_memory_limit_bytes();
void set_in_memory_limit_bytes(int64_t bytes);
// The bytes in_memory(data, side) would hold; 0 for an in-memory set.
int64_t in_memory_bytes(const Dataset& data, int64_t side);
// One decoded image (C x H x W, uint8) as evaluation sees it: RGB, its
// shorter side resized to round(side / 0.875), the centre side x side cut out.
torch::Tensor eval_image(const torch::Tensor& decoded, int64_t side);
// Images [begin, begin + n) as evaluation sees them, uint8 n x 3 x side x
// side: for a file-backed set each image as RGB, its shorter side resized
// to round(side / 0.875) and the centre side x side cut out (the 256 -> 224
// of ImageNet evaluation), decoded on the intra-op threads; an in-memory
// set's images as they are (a view). Throws twist::Error naming a file that
// does not decode.
torch::Tensor eval_images(const Dataset& data, int64_t begin, int64_t n, int64_t side);
// The images at `rows` (int64 indices) as eval_images gives them: an
// in-memory set's rows copied out, a file-backed set's files decoded.
torch::Tensor eval_images_at(const Dataset& data, const torch::Tensor& rows, int64_t side);
// Calls fn(begin, images) for consecutive batches of eval_images, decoding
// the next batch on a worker thread while fn runs: memory for two batches of
// pixels, whatever the size of the set. Rethrows decoding errors.
void for_each_eval_batch(const Dataset& data, int64_t side, int64_t batch_size,
                         const std::function<void(int64_t begin, const torch::Tensor& images_u8)>& fn);
// An in-memory copy of a file-backed set (eval_images of every image), for
// reports and the pixel baselines of small sets. An in-memory set is
// returned as it is. Throws twist::Error naming the rule when the copy would
// exceed in_memory_limit_bytes(), and naming the file when one does not
// decode.
Dataset in_memory(const Dataset& data, int64_t side);

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

// --- CIFAR-10/100 and STL-10, binary versions ----------------------------
// load_dataset reads these from files of fixed-size records; the parsers
// below do the same checks on bytes in memory (`name` is used in messages).
struct LabelledImages {
  torch::Tensor images;  // N x C x H x W, uint8
  torch::Tensor labels;  // N, int64
};
// CIFAR records: `label_bytes` label bytes (CIFAR-10: the label; CIFAR-100:
// coarse, then fine label), then 3072 pixel bytes: the 32 x 32 red plane,
// green plane and blue plane, each row by row. The last label byte is kept
// and must be below `num_classes`; the size must be a positive multiple of
// the record size. Returns N x 3 x 32 x 32 images.
LabelledImages parse_cifar(const uint8_t* bytes, size_t size, int label_bytes, int64_t num_classes,
                           const std::string& name);
// STL-10 *_X.bin: 3 x 96 x 96 bytes per image, channel by channel, each
// channel column by column. Returns row-major N x 3 x 96 x 96 images.
torch::Tensor parse_stl10_images(const uint8_t* bytes, size_t size, const std::string& name);
// STL-10 *_y.bin: one byte per image, 1 to 10. Returns int64 labels 0 to 9.
torch::Tensor parse_stl10_labels(const uint8_t* bytes, size_t size, const std::string& name);

}  // namespace twist
