#pragma once
// --skip-bad-images N: the image files of a file-backed set that do not
// decode. While the allowance lasts each one is named once on stderr,
// counted and passed over (the loader reads a stand-in); the (N+1)-th stops
// the run with the decoder's error naming the file and the flag. With N = 0
// the first one stops the run, as without an allowance.
#include <torch/torch.h>

#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "twist/data.h"
#include "twist/error.h"
#include "twist/image.h"

namespace twist {

class BadImages {
 public:
  // `announce`: name each file passed over on stderr (training does; a
  // later look at the same data, such as the report, need not).
  explicit BadImages(int64_t allowance, bool announce = true) : allowance_(allowance), announce_(announce) {}
  // The image at `path` (read_image); nullopt for a file that does not
  // decode while the allowance lasts, or that did so before. Thread-safe.
  std::optional<torch::Tensor> read(const std::string& path);
  // The same with open_image: a file whose header does not read.
  std::optional<EncodedImage> open(const std::string& path);
  // Counts a file that opened but whose data did not decode as read() counts
  // a file that does not decode: throws twist::Error (e's message and the
  // flag) past the allowance, else names it once on stderr.
  void reject(const std::string& path, const Error& e);
  // Files an earlier part of the run passed over (a resumed run's
  // checkpoint): counted against the allowance, not read or named again.
  void restore(const std::vector<std::string>& files);
  int64_t count() const;                   // distinct files passed over
  std::vector<std::string> files() const;  // those files, sorted

 private:
  bool known(const std::string& path) const;
  // decode(path), or nullopt for a known or newly rejected file.
  template <class T>
  std::optional<T> attempt(const std::string& path, T (*decode)(const std::string&));

  const int64_t allowance_;
  const bool announce_;
  mutable std::mutex mu_;
  std::set<std::string> bad_;
};

// The image of sample `index`, or where that file is bad (and the allowance
// lasts) the first good one from a point drawn with (seed, draw): the same
// stand-in on every run with that seed. `*used` gets the index read.
torch::Tensor read_or_stand_in(const Dataset& data, int64_t index, BadImages& bad, uint64_t seed, uint64_t draw,
                               int64_t* used);
// The same with the file opened, not decoded (open_image), for the loader's
// scaled JPEG decoding.
EncodedImage open_or_stand_in(const Dataset& data, int64_t index, BadImages& bad, uint64_t seed, uint64_t draw,
                              int64_t* used);

// `data` without the files `bad` passed over (evaluation of a run that
// skipped some).
Dataset without_bad_images(const Dataset& data, const BadImages& bad);
// `data` without the files that do not decode, each read through `bad`.
Dataset readable_images(const Dataset& data, BadImages& bad);

// `set` without its files that do not decode (readable_images, in place);
// whether it lost any. An in-memory set is left as it is.
bool sift_bad_images(Dataset& set, BadImages& bad);

// fn(), which reads the image files of `sets`. Where a file does not read
// (ImageError) and `bad` is given (--skip-bad-images), the sets are sifted
// in turn until one loses a file, and fn() runs again on them: a clean
// folder costs nothing, one with a bad file an extra read of the sets up to
// the one that holds it. An error that no sifting explains stands; other
// errors pass through untouched.
template <class Fn>
void skipping_bad_images(BadImages* bad, const std::vector<Dataset*>& sets, Fn fn) {
  size_t next = 0;  // the next set to sift
  for (;;) {
    try {
      fn();
      return;
    } catch (const ImageError&) {
      if (!bad) throw;
      bool lost = false;
      while (!lost && next < sets.size()) lost = sift_bad_images(*sets[next++], *bad);
      if (!lost) throw;
    }
  }
}

}  // namespace twist
