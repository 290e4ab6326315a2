#pragma once
// Taking the weights elsewhere: the backbone as a torchvision state dict.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "twist/models.h"

namespace twist {

// The backbone's parameters and buffers under torchvision's names
// (conv1.weight, bn1.running_mean, layer1.0.conv1.weight, ...), contiguous.
std::vector<std::pair<std::string, torch::Tensor>> backbone_state_dict(ResNet backbone);

// Writes the backbone as a pickled dict of tensors that Python reads with
// torch.load(path) and torchvision.models.resnetXX().load_state_dict(sd,
// strict=False) accepts with only fc.* missing (ImageNet stem, 3 channels;
// a small stem or one channel changes only conv1.weight's shape).
void export_torchvision(ResNet backbone, const std::string& path);

}  // namespace twist
