#pragma once
// Detecting a step that went numerically wrong before it touches the weights.
#include <torch/torch.h>

#include <string>

namespace twist {

// "the loss is NaN" / "the loss is infinite", or "" for a finite loss.
std::string nonfinite_loss(double loss);

// Names the first parameter whose gradient holds a NaN or an infinity
// ("the gradient of head.fc3.weight is NaN"), or "" when every gradient is
// finite. Parameters without a gradient are skipped. One synchronisation.
std::string nonfinite_gradient(const torch::OrderedDict<std::string, torch::Tensor>& named_parameters);

}  // namespace twist
