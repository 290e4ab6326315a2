#include <ATen/Parallel.h>

#include <algorithm>
#include <optional>

#include "binary_records.h"
#include "twist/bad_images.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/image.h"

namespace twist {

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

namespace {

using detail::dir_exists;
using detail::file_exists;

const char* const kSpecForms =
    "fashion-mnist, idx:DIR, cifar10:DIR, cifar100:DIR, stl10:DIR or folder:DIR, optionally with @train or @test "
    "(stl10 also @unlabeled or @train+unlabeled; folder also @val)";

// MNIST-family file names: train-*, and t10k-* (or test-*) for the test split.
std::string find_idx_file(const std::string& dir, const std::string& split, const std::string& what) {
  std::vector<std::string> prefixes =
      split == "train" ? std::vector<std::string>{"train"} : std::vector<std::string>{"t10k", "test"};
  for (const auto& pre : prefixes)
    for (const char* ext : {"", ".gz"}) {
      std::string p = dir + "/" + pre + "-" + what + ext;
      if (file_exists(p)) return p;
    }
  return "";
}

std::vector<std::string> fashion_mnist_classes() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

// The files at `picks` decoded as in_memory(subset, 64) decodes them (the
// same pixels), less those `bad` passes over.
torch::Tensor decoded_sample(const Dataset& data, const torch::Tensor& picks, BadImages* bad) {
  const auto p = picks.accessor<int64_t, 1>();
  std::vector<torch::Tensor> images(size_t(p.size(0)));
  at::parallel_for(0, p.size(0), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const std::string& file = data.files.at(size_t(p[i]));
      const std::optional<torch::Tensor> im = bad ? bad->read(file) : read_image(file);
      if (im) images[size_t(i)] = eval_image(*im, 64);
    }
  });
  images.erase(std::remove_if(images.begin(), images.end(), [](const torch::Tensor& t) { return !t.defined(); }),
               images.end());
  check(!images.empty(), "none of the " + std::to_string(p.size(0)) + " images of '" + data.name +
                             "' sampled for the normalization statistics decodes");
  return torch::stack(images);
}

}  // namespace

Dataset Dataset::subset(const torch::Tensor& indices, const std::string& suffix) const {
  Dataset d;
  d.name = name + suffix;
  if (file_backed()) {
    auto idx = indices.to(torch::kInt64).contiguous();
    const int64_t* p = idx.data_ptr<int64_t>();
    for (int64_t i = 0; i < idx.numel(); ++i) d.files.push_back(files.at(size_t(p[i])));
    d.file_side = file_side;
  } else {
    d.images = images.index_select(0, indices);
  }
  if (has_labels()) d.labels = labels.index_select(0, indices);
  d.num_classes = num_classes;
  d.class_names = class_names;
  return d;
}

torch::Tensor image_sample(const Dataset& data, int64_t n, BadImages* bad) {
  n = std::min<int64_t>(n, data.size());
  auto picks = torch::linspace(0, double(data.size() - 1), n, torch::kFloat64).round().to(torch::kInt64);
  return data.file_backed() ? decoded_sample(data, picks, bad) : data.images.index_select(0, picks);
}

void Normalization::check_channels(int64_t channels) const {
  check(int64_t(mean.size()) == channels && int64_t(std.size()) == channels,
        "normalize: statistics for " + std::to_string(mean.size()) + " channels, images have " +
            std::to_string(channels));
}

Normalization channel_statistics(const torch::Tensor& images) {
  Normalization n;
  torch::Tensor x = images.to(torch::kFloat32).div_(255.0);
  for (int64_t c = 0; c < x.size(1); ++c) {
    torch::Tensor xc = x.select(1, c);
    n.mean.push_back(xc.mean().item<double>());
    n.std.push_back(std::max(xc.std().item<double>(), 1e-6));
  }
  return n;
}

Normalization channel_statistics(const Dataset& data, BadImages* bad) {
  return channel_statistics(data.file_backed() ? image_sample(data, kStatisticsImages, bad) : data.images);
}

DataSpec parse_data_spec(const std::string& spec) {
  DataSpec s;
  s.text = spec;
  std::string body = spec;
  const auto at = spec.rfind('@');
  if (at != std::string::npos) {
    s.split = spec.substr(at + 1);
    body = spec.substr(0, at);
  }
  if (body == "fashion-mnist") {
    s.kind = "idx";
    s.path = kFashionMnistDir;
  } else {
    for (const char* kind : {"idx", "cifar10", "cifar100", "stl10", "folder"}) {
      const std::string prefix = std::string(kind) + ":";
      if (body.rfind(prefix, 0) != 0) continue;
      s.kind = kind;
      s.path = body.substr(prefix.size());
      const std::string example = s.kind == "idx" ? "mnist" : s.kind == "folder" ? "imagenet" : s.kind;
      check(!s.path.empty(),
            "data spec '" + spec + "': " + prefix + " needs a directory, e.g. " + prefix + "/data/" + example);
    }
    check(!s.kind.empty(), "unknown data spec '" + spec + "': expected " + kSpecForms);
  }
  if (s.kind == "stl10")
    check(s.split.empty() || s.split == "train" || s.split == "test" || s.split == "unlabeled" ||
              s.split == "train+unlabeled",
          "data spec '" + spec + "': unknown split '" + s.split +
              "' (use @train, @test, @unlabeled or @train+unlabeled)");
  else if (s.kind == "folder")
    check(s.split.empty() || s.split == "train" || s.split == "val" || s.split == "test",
          "data spec '" + spec + "': unknown split '" + s.split + "' (use @train, @val or @test)");
  else
    check(s.split.empty() || s.split == "train" || s.split == "test",
          "data spec '" + spec + "': unknown split '" + s.split + "' (use @train or @test)");
  return s;
}

bool has_split(const std::string& spec, const std::string& split) {
  DataSpec s = parse_data_spec(spec);
  if (s.kind == "cifar10" || s.kind == "cifar100") return detail::cifar_has_split(s.kind, s.path, split);
  if (s.kind == "stl10") return detail::stl10_has_split(s.path, split);
  if (s.kind == "folder") return image_folder_has_split(s.path, split);
  return !find_idx_file(s.path, split, "images-idx3-ubyte").empty();
}

Dataset load_dataset(const std::string& spec_text, const std::string& default_split) {
  DataSpec spec = parse_data_spec(spec_text);
  const std::string split = spec.split.empty() ? default_split : spec.split;
  // A folder without split sub-folders is one set: the default split names
  // it, an explicit suffix must exist on disk.
  if (spec.kind == "folder")
    return load_image_folder(spec.path, spec.split.empty() && !image_folder_has_split(spec.path, "train") ? "" : split);
  if (!dir_exists(spec.path)) {
    std::string hint =
        spec.path == kFashionMnistDir ? " (install Debian's dataset-fashion-mnist: scripts/install-deps.sh)" : "";
    throw Error("data directory '" + spec.path + "' does not exist" + hint);
  }
  if (spec.kind == "cifar10" || spec.kind == "cifar100") return detail::load_cifar(spec.kind, spec.path, split);
  if (spec.kind == "stl10") return detail::load_stl10(spec.path, split);
  const std::string img_path = find_idx_file(spec.path, split, "images-idx3-ubyte");
  check(!img_path.empty(), "no " + split + " images in '" + spec.path + "': expected " +
                               (split == "train" ? "train" : "t10k") + "-images-idx3-ubyte[.gz]");
  Dataset d;
  d.name = (spec.path == kFashionMnistDir ? std::string("fashion-mnist") : "idx:" + spec.path) + "@" + split;
  torch::Tensor images = read_idx(img_path);
  check(images.dim() == 3 || images.dim() == 4, "'" + img_path + "' has " + std::to_string(images.dim()) +
                                                    " dimensions; images need 3 (N x H x W) or 4 (N x H x W x C)");
  // IDX stores N x H x W (x C); the library works in N x C x H x W.
  d.images = images.dim() == 3 ? images.unsqueeze(1).contiguous() : images.permute({0, 3, 1, 2}).contiguous();
  check(d.channels() == 1 || d.channels() == 3,
        "'" + img_path + "' has " + std::to_string(d.channels()) + " channels; expected 1 or 3");
  const std::string lbl_path = find_idx_file(spec.path, split, "labels-idx1-ubyte");
  if (!lbl_path.empty()) {
    torch::Tensor labels = read_idx(lbl_path);
    check(labels.dim() == 1, "'" + lbl_path + "' must be one-dimensional (labels)");
    check(labels.size(0) == d.size(), "'" + lbl_path + "' has " + std::to_string(labels.size(0)) + " labels but '" +
                                          img_path + "' has " + std::to_string(d.size()) + " images");
    d.labels = labels.to(torch::kInt64);
    d.num_classes = d.labels.max().item<int64_t>() + 1;
  }
  if (spec.path == kFashionMnistDir) d.class_names = fashion_mnist_classes();
  return d;
}

}  // namespace twist
