// folder:DIR, a directory of image files, as a file-backed data set: the
// scan lists paths and labels only; the images are decoded where they are
// used (the loader's workers, or in_memory for evaluation), so listing
// ImageNet's 1.28 million files costs seconds and no pixel memory. The
// class folders are walked on a few threads, and an entry's type comes
// from the directory read itself (no stat per file): bench/README.md,
// "Listing an image folder".
#include <algorithm>
#include <atomic>
#include <cctype>
#include <exception>
#include <filesystem>
#include <set>
#include <system_error>
#include <thread>

#include "twist/data.h"
#include "twist/error.h"
#include "twist/image.h"

namespace twist {
namespace {

namespace fs = std::filesystem;

const char* const kImageKinds = ".jpg, .jpeg, .png, .pgm, .ppm or .bmp";

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".pgm" || ext == ".ppm" || ext == ".bmp";
}

// Hidden entries ('.DS_Store', '.git', editors' '.x.swp') are never data.
bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

struct Listing {
  std::vector<std::string> images;   // image files directly inside, sorted
  std::vector<std::string> subdirs;  // sub-folder names, sorted
  bool empty = true;                 // nothing at all but hidden entries
};

Listing list_dir(const fs::path& dir) {
  Listing l;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  check(!ec, "cannot read folder '" + dir.string() + "': " + ec.message());
  for (; it != end; it.increment(ec)) {
    check(!ec, "cannot read folder '" + dir.string() + "': " + ec.message());
    const fs::path& p = it->path();
    if (hidden(p)) continue;
    l.empty = false;
    if (it->is_directory(ec))  // the type read with the entry; a symlink is followed
      l.subdirs.push_back(p.filename().string());
    else if (is_image_name(p))
      l.images.push_back(p.string());
  }
  std::sort(l.images.begin(), l.images.end());
  std::sort(l.subdirs.begin(), l.subdirs.end());
  return l;
}

// The images of a class folder and of its sub-folders (as ImageFolder's
// os.walk), sorted by path so the order is the same on every file system.
std::vector<std::string> images_under(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
  check(!ec, "cannot read folder '" + dir.string() + "': " + ec.message());
  for (; it != end; it.increment(ec)) {
    check(!ec, "cannot read folder '" + dir.string() + "': " + ec.message());
    const fs::path& p = it->path();
    if (hidden(p)) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (is_image_name(p) && !it->is_directory(ec)) out.push_back(p.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// images_under for each sub-folder of `dir`, on up to 8 threads (a network
// file system answers many requests at once). The first failure in class
// order is rethrown, so the message does not depend on the threads.
std::vector<std::vector<std::string>> images_per_class(const fs::path& dir, const std::vector<std::string>& subdirs) {
  std::vector<std::vector<std::string>> out(subdirs.size());
  std::vector<std::exception_ptr> errors(subdirs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k = next++; k < subdirs.size(); k = next++) {
      try {
        out[k] = images_under(dir / subdirs[k]);
      } catch (...) { errors[k] = std::current_exception(); }
    }
  };
  const size_t n = std::min<size_t>({8, std::max(1u, std::thread::hardware_concurrency()), subdirs.size()});
  std::vector<std::thread> threads;
  try {
    for (size_t t = 1; t < n; ++t) threads.emplace_back(work);
  } catch (const std::system_error&) {  // no more threads: those started, and this one, do the work
  }
  work();
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

// The side a folder's images are trained at unless --image-size says
// otherwise: the median shorter side of up to 16 evenly spaced images,
// at most kDefaultFileSide (224, ImageNet's crop) and at least 8. A folder
// of 32x32 photos trains at 32, not blown up to 224 (49x the pixels).
// Files that do not decode are passed over here; reading them for
// training stops the run with one error naming the file.
int64_t typical_side(const std::vector<std::string>& files) {
  std::vector<int64_t> sides;
  const size_t n = std::min<size_t>(16, files.size());
  for (size_t k = 0; k < n; ++k) {
    try {
      const torch::Tensor im = read_image(files[k * files.size() / n]);
      sides.push_back(std::min(im.size(1), im.size(2)));
    } catch (const Error&) {}
  }
  if (sides.empty()) return kDefaultFileSide;
  std::nth_element(sides.begin(), sides.begin() + sides.size() / 2, sides.end());
  return std::clamp<int64_t>(sides[sides.size() / 2], 8, kDefaultFileSide);
}

// One folder in either form. `classes`: the class names labels index (a
// split's are DIR/train's); empty: this folder's own class sub-folders.
Dataset scan(const fs::path& dir, std::vector<std::string> classes) {
  const Listing top = list_dir(dir);
  check(!top.empty, "folder '" + dir.string() + "' is empty: expected images (" + kImageKinds +
                        ") or one sub-folder of images per class");
  std::vector<std::vector<std::string>> per_class = images_per_class(dir, top.subdirs);
  for (size_t k = 0; k < top.subdirs.size() && !top.images.empty(); ++k)
    check(per_class[k].empty(),
          "folder '" + dir.string() + "' mixes images ('" + fs::path(top.images.front()).filename().string() +
              "') with class sub-folders of images ('" + top.subdirs[k] +
              "/'): a folder holds either one sub-folder of images per class (labelled) or images only "
              "(unlabelled)");
  Dataset d;
  if (!top.images.empty()) {  // flat: unlabelled; sub-folders without images are ignored
    d.files = top.images;
    d.file_side = typical_side(d.files);
    return d;
  }
  check(!top.subdirs.empty(),
        "folder '" + dir.string() + "' holds no images (" + kImageKinds + ") and no class sub-folders");
  // A class folder without images is an error, as in torchvision's
  // ImageFolder: skipping it would shift every later class's label.
  for (size_t k = 0; k < top.subdirs.size(); ++k)
    check(!per_class[k].empty(), "class folder '" + (dir / top.subdirs[k]).string() + "' holds no images (" +
                                     kImageKinds + "): add images or remove the folder");
  if (classes.empty()) classes = top.subdirs;
  std::vector<int64_t> labels;
  for (size_t k = 0; k < top.subdirs.size(); ++k) {
    const auto at = std::find(classes.begin(), classes.end(), top.subdirs[k]);
    check(at != classes.end(), "class folder '" + (dir / top.subdirs[k]).string() +
                                   "' is not a class of the train split (" + (dir.parent_path() / "train").string() +
                                   "): every split uses the train split's classes");
    const int64_t label = at - classes.begin();
    for (auto& f : per_class[k]) {
      d.files.push_back(std::move(f));
      labels.push_back(label);
    }
  }
  d.labels = torch::tensor(labels, torch::kInt64);
  d.num_classes = int64_t(classes.size());
  d.class_names = classes;
  d.file_side = typical_side(d.files);
  return d;
}

// DIR is split (ImageNet's layout) when it has a train sub-folder.
bool is_split(const fs::path& dir) { return is_dir(dir / "train"); }

}  // namespace

bool image_folder_has_split(const std::string& dir, const std::string& split) {
  return is_split(dir) && is_dir(fs::path(dir) / split);
}

Dataset load_image_folder(const std::string& dir_text, const std::string& split) {
  const fs::path dir(dir_text);
  check(is_dir(dir), "data directory '" + dir_text + "' does not exist");
  if (!is_split(dir)) {
    check(split.empty(), "folder '" + dir_text + "' has no splits (no train/ sub-folder), so @" + split +
                             " does not apply: drop the suffix, or lay it out as train/ with val/ or test/");
    Dataset d = scan(dir, {});
    d.name = "folder:" + dir_text;
    return d;
  }
  const std::string s = split.empty() ? "train" : split;
  check(is_dir(dir / s),
        "folder '" + dir_text + "' has no " + s + " split: '" + (dir / s).string() + "' does not exist");
  std::vector<std::string> classes;
  if (s != "train") {
    // The train split's class folders decide the labels of every split.
    const Listing train = list_dir(dir / "train");
    if (train.images.empty()) classes = train.subdirs;
  }
  Dataset d = scan(dir / s, classes);
  d.name = "folder:" + dir_text + "@" + s;
  return d;
}

}  // namespace twist
