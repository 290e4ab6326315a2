// The TWIST method in a few lines with the library's building blocks, outside
// any trainer: augment a batch twice, run the siamese network, take the loss,
// step LARS. Uses only the public headers of the installed package.
#include <twist/twist.h>

#include <cstdio>

int main() {
  torch::manual_seed(0);
  // Any uint8 images, N x C x H x W; here random 28x28 grey images.
  torch::Tensor images = torch::randint(0, 256, {64, 1, 28, 28}, torch::kInt64).to(torch::kUInt8);
  twist::Normalization norm{{0.5}, {0.25}};

  twist::TwistModelOptions options;
  options.backbone.arch = "resnet18";
  options.backbone.width = 0.125;  // 8 base channels: a toy
  options.backbone.in_channels = 1;
  options.head.hidden = 64;
  options.head.classes = 10;  // C
  twist::TwistModel model(options);
  twist::Lars optimizer(model->parameters());

  // Two global views as in the paper, no local crops.
  twist::MultiCropOptions crops = twist::MultiCropOptions::paper(28, 0, 14);
  at::Generator gen = twist::make_generator(/*seed=*/0, /*stream=*/0);

  for (int step = 0; step < 3; ++step) {
    std::vector<torch::Tensor> views = twist::augment_views(images, crops, norm, gen);
    twist::TwistLossTerms loss = twist::twist_loss(model->forward(views));
    optimizer.zero_grad();
    loss.total.backward();
    optimizer.step(/*lr=*/0.1, /*weight_decay=*/1e-6);
    std::printf("step %d: loss %.4f = consistency %.4f + sharpness %.4f - diversity %.4f\n", step,
                loss.total.item<double>(), loss.consistency.item<double>(), loss.sharpness.item<double>(),
                loss.diversity.item<double>());
  }
  return 0;
}
