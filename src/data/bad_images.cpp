#include "twist/bad_images.h"

#include <algorithm>
#include <cstdio>

#include "twist/error.h"
#include "twist/image.h"
#include "twist/random.h"

namespace twist {

bool BadImages::known(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  return bad_.count(path) > 0;
}

int64_t BadImages::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int64_t(bad_.size());
}

void BadImages::restore(const std::vector<std::string>& files) {
  std::lock_guard<std::mutex> lock(mu_);
  bad_.insert(files.begin(), files.end());
}

std::vector<std::string> BadImages::files() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {bad_.begin(), bad_.end()};
}

void BadImages::reject(const std::string& path, const Error& e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!bad_.insert(path).second) return;  // another thread found it first
  const int64_t n = int64_t(bad_.size());
  if (n > allowance_) {
    const std::string said = allowance_ == 0 ? "; --skip-bad-images N skips up to N image files that do not decode"
                                             : "; it is one more than --skip-bad-images " + std::to_string(allowance_) +
                                                   " allows (the others were skipped)";
    throw Error(e.what() + said);
  }
  if (announce_)
    std::fprintf(stderr, "\ntwist: warning: skipped image %lld of at most %lld (--skip-bad-images): %s\n", (long long)n,
                 (long long)allowance_, e.what());
}

template <class T>
std::optional<T> BadImages::attempt(const std::string& path, T (*decode)(const std::string&)) {
  if (known(path)) return std::nullopt;
  try {
    return decode(path);
  } catch (const ImageError& e) {
    reject(path, e);
    return std::nullopt;
  }
}

std::optional<torch::Tensor> BadImages::read(const std::string& path) { return attempt(path, read_image); }

std::optional<EncodedImage> BadImages::open(const std::string& path) { return attempt(path, open_image); }

namespace {

// `read` (BadImages::read or ::open) of the file at `index`, or, where it
// does not decode, of the first that does from a seeded start.
template <class Read>
auto first_readable(const Dataset& data, int64_t index, const BadImages& bad, uint64_t seed, uint64_t draw,
                    int64_t* used, Read read) {
  *used = index;
  if (auto im = read(data.files.at(size_t(index)))) return std::move(*im);
  const int64_t n = data.size();
  auto gen = make_generator(seed ^ 0x5d1f0c3a9b7e4421ull, draw);
  const int64_t start = torch::randint(n, {1}, gen, torch::kInt64).item<int64_t>();
  for (int64_t k = 0; k < n; ++k) {
    *used = (start + k) % n;
    if (auto im = read(data.files[size_t(*used)])) return std::move(*im);
  }
  throw Error("no image of '" + data.name + "' decodes (" + std::to_string(bad.count()) + " files skipped)");
}

}  // namespace

torch::Tensor read_or_stand_in(const Dataset& data, int64_t index, BadImages& bad, uint64_t seed, uint64_t draw,
                               int64_t* used) {
  return first_readable(data, index, bad, seed, draw, used, [&](const std::string& p) { return bad.read(p); });
}

EncodedImage open_or_stand_in(const Dataset& data, int64_t index, BadImages& bad, uint64_t seed, uint64_t draw,
                              int64_t* used) {
  return first_readable(data, index, bad, seed, draw, used, [&](const std::string& p) { return bad.open(p); });
}

Dataset without_bad_images(const Dataset& data, const BadImages& bad) {
  const std::vector<std::string> skip = bad.files();
  if (skip.empty() || !data.file_backed()) return data;
  std::vector<int64_t> keep;
  for (size_t i = 0; i < data.files.size(); ++i)
    if (!std::binary_search(skip.begin(), skip.end(), data.files[i])) keep.push_back(int64_t(i));
  Dataset d = data.subset(torch::tensor(keep, torch::kInt64), "");
  d.name = data.name;
  return d;
}

Dataset readable_images(const Dataset& data, BadImages& bad) {
  std::vector<int64_t> keep;
  for (size_t i = 0; i < data.files.size(); ++i)
    if (bad.read(data.files[i])) keep.push_back(int64_t(i));
  if (keep.size() == data.files.size()) return data;
  Dataset d = data.subset(torch::tensor(keep, torch::kInt64), "");
  d.name = data.name;
  return d;
}

bool sift_bad_images(Dataset& set, BadImages& bad) {
  if (!set.file_backed()) return false;
  const int64_t n = set.size();
  set = readable_images(set, bad);
  return set.size() < n;
}

}  // namespace twist
