// CIFAR-10 and CIFAR-100, the binary versions (cifar-10-batches-bin,
// cifar-100-binary): files of fixed-size records, label bytes then the
// red, green and blue 32 x 32 planes, so the pixels are already C x H x W.
#include <cstring>

#include "binary_records.h"
#include "twist/data.h"
#include "twist/error.h"

namespace twist {
namespace {

constexpr int64_t kCifarPixels = 3 * 32 * 32;

struct CifarFormat {
  std::string title;  // for messages
  int label_bytes;
  int64_t classes;
  std::vector<std::string> train_files, test_files;
  std::string expected;    // the file names, for messages
  std::string names_file;  // class names, one per line, when present
  std::vector<std::string> default_names;
};

CifarFormat cifar_format(const std::string& kind) {
  if (kind == "cifar10")
    return {"CIFAR-10",
            1,
            10,
            {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
            {"test_batch.bin"},
            "data_batch_1.bin ... data_batch_5.bin and test_batch.bin",
            "batches.meta.txt",
            {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}};
  return {"CIFAR-100", 2, 100, {"train.bin"}, {"test.bin"}, "train.bin and test.bin", "fine_label_names.txt", {}};
}

std::string record_layout(int label_bytes) {
  return label_bytes == 1 ? "1 label byte + 3072 pixel bytes" : "coarse and fine label bytes + 3072 pixel bytes";
}

// Decodes `n` records whose first is record `first` of `name` (for messages).
void decode_records(const uint8_t* src, int64_t first, int64_t n, int label_bytes, int64_t classes, uint8_t* images,
                    int64_t* labels, const std::string& name) {
  const int64_t record = label_bytes + kCifarPixels;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = src + i * record;
    const int64_t label = r[label_bytes - 1];  // CIFAR-100: the fine label follows the coarse one
    check(label < classes, "'" + name + "': record " + std::to_string(first + i) + " has " +
                               (label_bytes == 2 ? "fine label " : "label ") + std::to_string(label) +
                               "; expected 0 to " + std::to_string(classes - 1));
    labels[i] = label;
    std::memcpy(images + i * kCifarPixels, r + label_bytes, kCifarPixels);
  }
}

}  // namespace

LabelledImages parse_cifar(const uint8_t* bytes, size_t size, int label_bytes, int64_t num_classes,
                           const std::string& name) {
  check(label_bytes == 1 || label_bytes == 2, "parse_cifar: label_bytes must be 1 or 2");
  const int64_t n = detail::record_count(size, label_bytes + kCifarPixels, name, record_layout(label_bytes));
  LabelledImages out{torch::empty({n, 3, 32, 32}, torch::kUInt8), torch::empty({n}, torch::kInt64)};
  decode_records(bytes, 0, n, label_bytes, num_classes, out.images.data_ptr<uint8_t>(), out.labels.data_ptr<int64_t>(),
                 name);
  return out;
}

namespace detail {

bool cifar_has_split(const std::string& kind, const std::string& dir, const std::string& split) {
  const CifarFormat f = cifar_format(kind);
  for (const auto& file : split == "train" ? f.train_files : f.test_files)
    if (!file_exists(dir + "/" + file)) return false;
  return true;
}

Dataset load_cifar(const std::string& kind, const std::string& dir, const std::string& split) {
  const CifarFormat f = cifar_format(kind);
  const uint64_t record = f.label_bytes + kCifarPixels;
  std::vector<std::string> paths;
  std::vector<int64_t> counts;
  int64_t total = 0;
  // Every file is found and its size checked before anything is allocated.
  for (const auto& file : split == "train" ? f.train_files : f.test_files) {
    const std::string p = dir + "/" + file;
    check(file_exists(p), "no " + split + " split in '" + dir + "': '" + file + "' is missing (the " + f.title +
                              " binary version has " + f.expected + ")");
    paths.push_back(p);
    counts.push_back(record_count(file_size(p), record, p, record_layout(f.label_bytes)));
    total += counts.back();
  }
  Dataset d;
  d.name = kind + ":" + dir + "@" + split;
  d.images = torch::empty({total, 3, 32, 32}, torch::kUInt8);
  d.labels = torch::empty({total}, torch::kInt64);
  uint8_t* images = d.images.data_ptr<uint8_t>();
  int64_t* labels = d.labels.data_ptr<int64_t>();
  int64_t offset = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    read_records(paths[i], counts[i], record, [&](const uint8_t* bytes, int64_t first, int64_t n) {
      decode_records(bytes, first, n, f.label_bytes, f.classes, images + (offset + first) * kCifarPixels,
                     labels + offset + first, paths[i]);
    });
    offset += counts[i];
  }
  d.num_classes = f.classes;
  const std::string names = dir + "/" + f.names_file;
  d.class_names = file_exists(names) ? read_class_names(names, f.classes) : f.default_names;
  return d;
}

}  // namespace detail
}  // namespace twist
