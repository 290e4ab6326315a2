// The backbone factory: one architecture name picks the family.
#include "twist/error.h"
#include "twist/models.h"

namespace twist {

Backbone make_backbone(const BackboneOptions& o) {
  if (!is_vit(o.arch)) return ResNet(static_cast<const ResNetOptions&>(o));
  check(o.feature_dim == 0, "feature_dim applies to ResNets only, not to " + o.arch);
  ViTOptions v;
  v.arch = o.arch;
  v.image_size = o.image_size;
  v.patch_size = o.patch_size;
  v.in_channels = o.in_channels;
  v.drop_path = o.drop_path;
  return ViT(v);
}

BackboneCost backbone_cost(const BackboneOptions& o, int64_t image_side) {
  return is_vit(o.arch) ? vit_cost(o, image_side) : resnet_cost(o, image_side);
}

}  // namespace twist
