#pragma once
// Whether a data set's images stand upright on one frame: the run-time
// check behind `--rotation -1` (auto), the default. Handwriting slants,
// and objects photographed by hand or scattered at random lean every way,
// so a view turned a little is one the data could have held, and training
// the model to call it the same as the original teaches it to look past
// the lean; garments, documents or parts photographed upright on a fixed
// frame have no turned members, and turned views teach an invariance the
// data does not have (docs/recipe.md, twenty-fourth round).
//
// Of a sample of the training images (in grey), each image's content is
// its pixels' distance from the median of its border, and its axis the
// principal axis of that content's second moments. Of the images whose
// content is elongated (the larger moment at least kElongation times the
// smaller), `lean` is the median angle between the axis and the nearer of
// the frame's axes (0 to 45 degrees): near 0 where images stand upright,
// a sizeable angle where they lean.
#include <torch/torch.h>

namespace twist {

struct RotationCheck {
  int64_t images = 0;     // the sample's size
  int64_t elongated = 0;  // of which elongated enough to have an axis
  double lean = 0;        // median degrees between their axes and the frame's
  // Turns suit the data: its images lean by more than kLeanThreshold, or
  // too few (below kMinElongated) have an axis to keep upright.
  bool rotations_suit() const;
};

extern const double kElongation;           // larger over smaller second moment
extern const int64_t kMinElongated;        // fewer elongated images: no axis to keep
extern const double kLeanThreshold;        // degrees; at or below it images stand upright
extern const double kLeanScale;            // auto turns by this many times the lean
extern const double kAutoRotationDegrees;  // and by at most this many degrees
extern const double kAutoShearDegrees;     // auto shear where images lean a little
extern const double kShearMaxLean;         // degrees; above it no auto shear

// `images`: N x C x H x W (uint8 or float), N >= 1.
RotationCheck rotation_check(const torch::Tensor& images);

// The largest angle `--rotation -1` resolves to: 0 where the images stand
// upright; where they lean, kLeanScale times the lean in whole degrees, at
// most kAutoRotationDegrees (slightly slanted handwriting is turned less
// than digits that lean every way: docs/recipe.md, twenty-fifth round);
// kAutoRotationDegrees where too few images have an axis to measure it.
double auto_rotation(const RotationCheck& check);

// The largest shear `--shear -1` resolves to: kAutoShearDegrees where the
// images lean a little (a measured lean above kLeanThreshold and at most
// kShearMaxLean), else 0. A slant is how handwriting varies most between
// writers; on real handwriting (lean 6.6) slanted views kept the heads
// from splitting a digit by its slant, while on digits made to lean every
// way by random turns and shears (10.9, 13.4) they cost clusters, and on
// photos (most without an axis) they changed nothing (docs/recipe.md,
// twenty-seventh and twenty-eighth rounds).
double auto_shear(const RotationCheck& check);

}  // namespace twist
