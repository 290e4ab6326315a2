#pragma once
// Watching a run for collapse: TWIST's failure mode is a head that puts
// every image in one class (or a few), which the diversity term (beta)
// exists to prevent. The trainer feeds each logged step's classes in use
// and entropy of the batch's mean distribution; the first time the entropy
// stays low for a few logged steps in a row, it warns with the likely cause.
#include <cstdint>
#include <string>

namespace twist {

struct CollapseSettings {
  int64_t classes = 10;  // C
  int64_t batch = 256;   // images per step the statistics are taken over
  double alpha = 1, beta = 1;
  bool nbs = true;
  int64_t patience = 3;  // logged steps in a row
};

class CollapseWatch {
 public:
  explicit CollapseWatch(const CollapseSettings& s);
  // One logged step: the classes in use, the entropy of the batch's mean
  // distribution and the mean entropy of each image's distribution (the
  // sharpness term). Returns the warning the first time a collapse has
  // lasted `patience` logged steps, "" otherwise (and after one fired):
  // onto few classes (the mean's entropy low), or to flat predictions (each
  // image's entropy near ln C: the other trivial solution, every image
  // given the uniform distribution).
  std::string observe(int64_t step, double classes_in_use, double mean_entropy, double sample_entropy = 0);
  bool fired() const { return fired_; }
  // Whether the last `patience` logged steps (at least) were all collapsed
  // or all flat: the state now, not only the first time.
  bool persisting() const { return run_ >= s_.patience || flat_run_ >= s_.patience; }
  // Whether the last `patience` logged steps were all flat (every image's
  // distribution near uniform), the collapse a tau-scaled KL drives.
  bool flat() const { return flat_run_ >= s_.patience; }
  // The entropy below which the mean distribution counts as collapsed:
  // ln(min(C, batch) / 2), i.e. fewer than half the classes a batch can show
  // (a batch of B images spreads over at most B classes) in effective use.
  double entropy_threshold() const { return threshold_; }
  // Each image's entropy above this (0.9 ln C) counts as flat.
  double flat_threshold() const { return flat_threshold_; }

 private:
  CollapseSettings s_;
  double threshold_, flat_threshold_;
  int64_t run_ = 0, flat_run_ = 0;
  bool fired_ = false;
};

}  // namespace twist
