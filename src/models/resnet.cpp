#include <cmath>

#include "twist/error.h"
#include "twist/models.h"

namespace twist {
namespace nn = torch::nn;

namespace {

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return nn::Sequential(conv(in, out, 1, stride), nn::BatchNorm2d(out));
}

struct Depths {
  bool bottleneck;
  std::vector<int64_t> blocks;
  double width = 1.0;  // channel multiplier the architecture implies
};

Depths depths(const std::string& arch) {
  if (arch == "resnet18") return {false, {2, 2, 2, 2}};
  if (arch == "resnet34") return {false, {3, 4, 6, 3}};
  if (arch == "resnet50") return {true, {3, 4, 6, 3}};
  // SimCLR's ResNet-50 (2x), TWIST's wide model: every channel doubled,
  // bottleneck outputs included (unlike torchvision's wide_resnet50_2).
  if (arch == "resnet50w2") return {true, {3, 4, 6, 3}, 2.0};
  throw Error("unknown architecture '" + arch + "': expected resnet18, resnet34, resnet50 or resnet50w2");
}

}  // namespace

std::vector<std::string> resnet_names() { return {"resnet18", "resnet34", "resnet50", "resnet50w2"}; }

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(in, planes, 3, stride));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  downsample = make_downsample(in, planes * expansion, stride);
  if (downsample) register_module("downsample", downsample);
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(bn1(conv1(x)));
  y = bn2(conv2(y));
  return torch::relu(y + (downsample ? downsample->forward(x) : x));
}

BottleneckImpl::BottleneckImpl(int64_t in, int64_t planes, int64_t stride) {
  // torchvision's v1.5: the stride sits on the 3x3 convolution.
  conv1 = register_module("conv1", conv(in, planes, 1, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * expansion, 1, 1));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * expansion));
  downsample = make_downsample(in, planes * expansion, stride);
  if (downsample) register_module("downsample", downsample);
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(bn1(conv1(x)));
  y = torch::relu(bn2(conv2(y)));
  y = bn3(conv3(y));
  return torch::relu(y + (downsample ? downsample->forward(x) : x));
}

ResNetImpl::ResNetImpl(const ResNetOptions& o) : options_(o) {
  check(o.width > 0, "width must be positive, got " + std::to_string(o.width));
  check(o.stem == "small" || o.stem == "imagenet", "unknown stem '" + o.stem + "': expected small or imagenet");
  check(o.in_channels == 1 || o.in_channels == 3, "images must have 1 or 3 channels");
  check(o.feature_dim >= 0, "feature_dim must be 0 (the last stage's channels) or positive");
  const Depths d = depths(o.arch);
  auto ch = [&](int64_t base) {
    return std::max<int64_t>(1, static_cast<int64_t>(std::lround(base * o.width * d.width)));
  };
  const int64_t stem_out = ch(64);
  if (o.stem == "small") {
    conv1 = register_module("conv1", conv(o.in_channels, stem_out, 3, 1));
  } else {
    conv1 = register_module("conv1",
                            nn::Conv2d(nn::Conv2dOptions(o.in_channels, stem_out, 7).stride(2).padding(3).bias(false)));
  }
  bn1 = register_module("bn1", nn::BatchNorm2d(stem_out));
  int64_t in = stem_out;
  nn::Sequential* layers[4] = {&layer1, &layer2, &layer3, &layer4};
  const int64_t expansion = d.bottleneck ? 4 : 1;
  for (int i = 0; i < 4; ++i) {
    nn::Sequential seq;
    const int64_t planes = ch(64 << i);
    for (int64_t b = 0; b < d.blocks[i]; ++b) {
      const int64_t stride = (b == 0 && i > 0) ? 2 : 1;
      if (d.bottleneck) {
        seq->push_back(Bottleneck(in, planes, stride));
      } else {
        seq->push_back(BasicBlock(in, planes, stride));
      }
      in = planes * expansion;
    }
    *layers[i] = register_module("layer" + std::to_string(i + 1), seq);
  }
  feature_dim_ = in;
  if (o.feature_dim > 0) {
    expand_conv = register_module("expand_conv", conv(in, o.feature_dim, 1, 1));
    expand_bn = register_module("expand_bn", nn::BatchNorm2d(o.feature_dim));
    feature_dim_ = o.feature_dim;
  }
  // torchvision's initialisation.
  for (auto& m : modules(false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  apply_memory_format();
}

torch::MemoryFormat ResNetImpl::memory_format() const {
  return options_.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
}

void ResNetImpl::apply_memory_format() {
  const auto format = memory_format();
  torch::NoGradGuard no_grad;
  for (auto& p : parameters())
    if (p.dim() == 4 && !p.is_contiguous(format)) p.set_data(p.data().contiguous(format));
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& input) {
  const auto format = memory_format();
  if (!conv1->weight.is_contiguous(format)) apply_memory_format();
  auto x = input.contiguous(format);
  auto y = torch::relu(bn1(conv1(x)));
  if (options_.stem == "imagenet") y = torch::max_pool2d(y, 3, 2, 1);
  y = layer4->forward(layer3->forward(layer2->forward(layer1->forward(y))));
  if (expand_conv) y = torch::relu(expand_bn(expand_conv(y)));
  return y.mean({2, 3});
}

BackboneCost resnet_cost(const ResNetOptions& o, int64_t image_side) {
  const Depths d = depths(o.arch);
  auto ch = [&](double base) { return std::max(1.0, std::round(base * o.width * d.width)); };
  auto halve = [](double side) { return std::ceil(side / 2.0); };
  BackboneCost c;
  const double stem = ch(64);
  double side = o.stem == "small" ? double(image_side) : halve(double(image_side));
  // Convolutions have no bias; each is followed by a BatchNorm (2 per channel).
  c.parameters = (o.stem == "small" ? 9.0 : 49.0) * double(o.in_channels) * stem + 2 * stem;
  c.activations_per_image = stem * side * side;
  if (o.stem == "imagenet") side = halve(side);  // the max-pool
  const double expansion = d.bottleneck ? 4 : 1;
  double in = stem;
  for (int i = 0; i < 4; ++i) {
    const double planes = ch(double(int64_t(64) << i));
    for (int64_t b = 0; b < d.blocks[size_t(i)]; ++b) {
      const bool strided = b == 0 && i > 0;
      if (strided) side = halve(side);
      const double out = planes * expansion, area = side * side;
      if (d.bottleneck) {
        c.parameters += in * planes + 9 * planes * planes + planes * out + 2 * (2 * planes + out);
        c.activations_per_image += (2 * planes + out) * area;
      } else {
        c.parameters += 9 * in * planes + 9 * planes * planes + 2 * 2 * planes;
        c.activations_per_image += 2 * planes * area;
      }
      if (strided || in != out) c.parameters += in * out + 2 * out;
      in = out;
    }
  }
  if (o.feature_dim > 0) {  // the 1x1 expansion and its BatchNorm
    c.parameters += in * double(o.feature_dim) + 2.0 * double(o.feature_dim);
    c.activations_per_image += double(o.feature_dim) * side * side;
    in = double(o.feature_dim);
  }
  c.feature_dim = in;
  return c;
}

}  // namespace twist
