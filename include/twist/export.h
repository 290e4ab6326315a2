#pragma once
// Taking the weights elsewhere: the backbone as a torchvision state dict.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "twist/models.h"

namespace twist {

// The backbone's parameters and buffers under torchvision's names for a
// ResNet (conv1.weight, bn1.running_mean, layer1.0.conv1.weight, ...) and
// timm's for a ViT (cls_token, pos_embed, blocks.0.attn.qkv.weight, ...),
// contiguous.
std::vector<std::pair<std::string, torch::Tensor>> backbone_state_dict(Backbone backbone);

// Writes the backbone as a pickled dict of tensors that Python reads with
// torch.load(path) and torchvision.models.resnetXX().load_state_dict(sd,
// strict=False) accepts with only fc.* missing (ImageNet stem, 3 channels;
// a small stem or one channel changes only conv1.weight's shape). A ViT's
// dict loads into timm's VisionTransformer with num_classes=0 and the same
// patch size, image size and channels.
void export_torchvision(Backbone backbone, const std::string& path);

}  // namespace twist
