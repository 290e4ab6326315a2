// STL-10, the binary version (stl10_binary): *_X.bin holds 3 x 96 x 96
// bytes per image, channel by channel, each channel column by column (as
// MATLAB writes arrays); *_y.bin one label byte 1..10 per image.
#include "binary_records.h"
#include "twist/data.h"
#include "twist/error.h"

namespace twist {
namespace {

constexpr int64_t kSide = 96;
constexpr int64_t kStlPixels = 3 * kSide * kSide;
constexpr int64_t kClasses = 10;
const char* const kImageLayout = "3 x 96 x 96 pixel bytes, each channel column by column";
const char* const kLabelLayout = "one label byte per image";
const char* const kExpected = "train_X.bin, train_y.bin, test_X.bin, test_y.bin and unlabeled_X.bin";

// Writes `n` column-major images into `out` (n x 3 x 96 x 96, row-major).
void decode_images(const uint8_t* src, int64_t n, torch::Tensor out) {
  // from_blob does not copy; transposing the last two axes reads each
  // channel's columns as rows, and copy_ writes them out row-major.
  auto in = torch::from_blob(const_cast<uint8_t*>(src), {n, 3, kSide, kSide}, torch::kUInt8);
  out.copy_(in.transpose(2, 3));
}

void decode_labels(const uint8_t* src, int64_t first, int64_t n, int64_t* out, const std::string& name) {
  for (int64_t i = 0; i < n; ++i) {
    check(src[i] >= 1 && src[i] <= kClasses, "'" + name + "': record " + std::to_string(first + i) + " has label " +
                                                 std::to_string(src[i]) + "; expected 1 to " +
                                                 std::to_string(kClasses));
    out[i] = src[i] - 1;
  }
}

struct SplitFiles {
  std::vector<std::string> images;  // read in order, concatenated
  std::string labels;               // empty: the split is unlabelled
};

SplitFiles split_files(const std::string& split) {
  if (split == "train") return {{"train_X.bin"}, "train_y.bin"};
  if (split == "test") return {{"test_X.bin"}, "test_y.bin"};
  if (split == "unlabeled") return {{"unlabeled_X.bin"}, ""};
  return {{"train_X.bin", "unlabeled_X.bin"}, ""};  // train+unlabeled: the paper's pretraining set
}

}  // namespace

torch::Tensor parse_stl10_images(const uint8_t* bytes, size_t size, const std::string& name) {
  const int64_t n = detail::record_count(size, kStlPixels, name, kImageLayout);
  torch::Tensor out = torch::empty({n, 3, kSide, kSide}, torch::kUInt8);
  decode_images(bytes, n, out);
  return out;
}

torch::Tensor parse_stl10_labels(const uint8_t* bytes, size_t size, const std::string& name) {
  const int64_t n = detail::record_count(size, 1, name, kLabelLayout);
  torch::Tensor out = torch::empty({n}, torch::kInt64);
  decode_labels(bytes, 0, n, out.data_ptr<int64_t>(), name);
  return out;
}

namespace detail {

bool stl10_has_split(const std::string& dir, const std::string& split) {
  const SplitFiles f = split_files(split);
  for (const auto& file : f.images)
    if (!file_exists(dir + "/" + file)) return false;
  return f.labels.empty() || file_exists(dir + "/" + f.labels);
}

Dataset load_stl10(const std::string& dir, const std::string& split) {
  const SplitFiles f = split_files(split);
  auto path_of = [&](const std::string& file) {
    check(file_exists(dir + "/" + file), "no " + split + " split in '" + dir + "': '" + file +
                                             "' is missing (the STL-10 binary version has " + kExpected + ")");
    return dir + "/" + file;
  };
  // Every file is found and its size checked before anything is allocated.
  std::vector<std::string> paths;
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (const auto& file : f.images) {
    paths.push_back(path_of(file));
    counts.push_back(record_count(file_size(paths.back()), kStlPixels, paths.back(), kImageLayout));
    total += counts.back();
  }
  std::string label_path;
  if (!f.labels.empty()) {
    label_path = path_of(f.labels);
    const int64_t n = record_count(file_size(label_path), 1, label_path, kLabelLayout);
    check(n == total, "'" + label_path + "' has " + std::to_string(n) + " labels but '" + paths[0] + "' has " +
                          std::to_string(total) + " images");
  }
  Dataset d;
  d.name = "stl10:" + dir + "@" + split;
  d.images = torch::empty({total, 3, kSide, kSide}, torch::kUInt8);
  int64_t offset = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    read_records(paths[i], counts[i], kStlPixels, [&](const uint8_t* bytes, int64_t first, int64_t n) {
      decode_images(bytes, n, d.images.narrow(0, offset + first, n));
    });
    offset += counts[i];
  }
  if (!label_path.empty()) {
    d.labels = torch::empty({total}, torch::kInt64);
    int64_t* labels = d.labels.data_ptr<int64_t>();
    read_records(label_path, total, 1, [&](const uint8_t* bytes, int64_t first, int64_t n) {
      decode_labels(bytes, first, n, labels + first, label_path);
    });
    d.num_classes = kClasses;
    const std::string names = dir + "/class_names.txt";
    d.class_names = file_exists(names) ? read_class_names(names, kClasses)
                                       : std::vector<std::string>{"airplane", "bird",  "car",    "cat",  "deer",
                                                                  "dog",      "horse", "monkey", "ship", "truck"};
  }
  return d;
}

}  // namespace detail
}  // namespace twist
