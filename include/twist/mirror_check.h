#pragma once
// Whether a data set's mirror images look like its own images: the run-time
// check behind `--flip-p -1` (auto), the default. Photos and most objects
// appear in both orientations, so a horizontal flip makes a view the data
// could have held; a mirrored digit, letter or chest X-ray is not such a
// view, and training the model to call it the same as the original teaches
// it an invariance the data does not have.
//
// Of a sample of the training images, each image's nearest other image is
// found for the image and for its mirror image (cosine similarity of the
// pixels less each image's mean); `farther` is the share of images whose
// mirror image lies farther from the rest of the sample than the image does
// (ties count half). Where mirror images are as likely as the images
// themselves it is about 0.5; where they are not, it approaches 1.
#include <torch/torch.h>

namespace twist {

struct MirrorCheck {
  int64_t images = 0;  // the sample's size
  double farther = 0;  // share of images whose mirror lies farther from the sample
  // Flips suit the data: `farther` below kMirrorThreshold.
  bool flips_suit() const;
};

// Above this share the data's mirror images are taken for strangers to it.
extern const double kMirrorThreshold;

// `images`: N x C x H x W (uint8 or float), N >= 2.
MirrorCheck mirror_check(const torch::Tensor& images);

// The flip probability `--flip-p -1` resolves to: 0.5 (the paper's) when the
// check says flips suit the data, else 0.
double auto_flip_p(const MirrorCheck& check);

}  // namespace twist
