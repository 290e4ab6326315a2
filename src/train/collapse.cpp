#include <algorithm>
#include <cmath>
#include <cstdio>

#include "twist/collapse.h"

namespace twist {

CollapseWatch::CollapseWatch(const CollapseSettings& s)
    : s_(s),
      threshold_(std::log(double(std::max<int64_t>(2, std::min(s.classes, s.batch))) / 2)),
      flat_threshold_(0.9 * std::log(double(std::max<int64_t>(2, s.classes)))) {}

std::string CollapseWatch::observe(int64_t step, double classes_in_use, double mean_entropy, double sample_entropy) {
  flat_run_ = std::isfinite(sample_entropy) && sample_entropy > flat_threshold_ ? flat_run_ + 1 : 0;
  run_ = std::isfinite(mean_entropy) && mean_entropy < threshold_ ? run_ + 1 : 0;
  if (fired_) return "";
  if (flat_run_ >= s_.patience) {
    fired_ = true;
    char head[400];
    std::snprintf(head, sizeof head,
                  "the predictions are going flat at step %lld: the mean entropy of each image's distribution is "
                  "%.3f nats, above %.3f (0.9 ln %lld) for %lld logged steps: every image gets nearly the uniform "
                  "distribution, which makes the two views agree without learning anything. ",
                  (long long)step, sample_entropy, flat_threshold_, (long long)s_.classes, (long long)s_.patience);
    return head + std::string(s_.alpha <= 0
                                  ? "Likely cause: alpha = 0, so nothing makes each prediction sharp (the "
                                    "paper's default is --alpha 1)."
                                  : "Possible causes: a temperature too high for C (--temperature), or alpha too "
                                    "small against the consistency term (--alpha).");
  }
  if (run_ < s_.patience) return "";
  fired_ = true;
  char head[400];
  std::snprintf(head, sizeof head,
                "the predictions are collapsing onto few classes at step %lld: %.0f of %lld classes in use, "
                "entropy of the mean distribution %.3f nats, as spread as %.1f equally used classes (uniform: "
                "ln %lld = %.3f; below %.3f, half the classes a batch can show, for %lld logged steps). ",
                (long long)step, classes_in_use, (long long)s_.classes, std::max(0.0, mean_entropy),
                std::exp(std::max(0.0, mean_entropy)), (long long)s_.classes, std::log(double(s_.classes)), threshold_,
                (long long)s_.patience);
  std::string cause;
  if (s_.beta <= 0) {
    cause =
        "Likely cause: beta = 0, so nothing keeps the batch's mean distribution spread over the classes; "
        "the sharpness and consistency terms alone are minimised by one class for every image "
        "(the paper's default is --beta 1).";
    if (!s_.nbs)
      cause +=
          " NBS is off as well: with NBS on, the head's batch normalization alone kept every class in use "
          "at beta = 0 in docs/ablations.md.";
  } else if (s_.beta < s_.alpha) {
    cause = "Likely cause: beta (diversity, " + std::to_string(s_.beta) + ") below alpha (sharpness, " +
            std::to_string(s_.alpha) + "): sharp predictions win over diverse ones; try --beta equal to --alpha.";
  } else if (!s_.nbs) {
    cause =
        "Likely cause: the head's batch normalization before the softmax (NBS) is off; the paper reports "
        "collapse-prone training without it: try --nbs true.";
  } else {
    cause =
        "Possible causes: a learning rate too high for this batch size (--lr), too few classes in a "
        "batch to estimate the mean distribution (--batch-size below C), or a temperature that makes "
        "outputs saturate (--temperature).";
  }
  return head + cause;
}

}  // namespace twist
