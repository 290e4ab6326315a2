// twist export: the backbone's weights for other programs.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "run_args.h"
#include "twist/error.h"
#include "twist/export.h"

namespace twist::cli {
namespace {

struct ExportNote {
  std::string library;  // whose model the names follow: torchvision or timm
  bool loads_as_is = false;
  std::string text;
};

// Which Python model the exported dict loads into, and what to change first.
ExportNote export_note(const Backbone& backbone) {
  if (const auto* v = backbone->as<ViTImpl>()) {
    const ViTOptions& o = v->options();
    const std::string timm = o.arch + "_patch16_224";
    ExportNote n{"timm", o.patch_size == 16 && o.image_size == 224 && o.in_channels == 3 && o.depth == 0, ""};
    n.text = n.loads_as_is ? "loads into timm.create_model('" + timm + "', num_classes=0)"
                           : "timm's names; shapes differ from " + timm + " (patch " + std::to_string(o.patch_size) +
                                 ", image " + std::to_string(o.image_size) + ", " + std::to_string(o.in_channels) +
                                 " channel(s)): create the timm model with patch_size, img_size and in_chans to "
                                 "match before load_state_dict";
    return n;
  }
  const auto* r = backbone->as<ResNetImpl>();
  check(r != nullptr, "cannot export a " + backbone->arch() + " backbone");
  const ResNetOptions& o = r->options();
  if (o.arch == "resnet50w2")
    return {"torchvision", false,
            "torchvision's names; torchvision has no resnet50w2: build torchvision.models.resnet50() with every "
            "channel doubled (SimCLR's ResNet-50 (2x)) before load_state_dict"};
  ExportNote n{"torchvision", o.stem == "imagenet" && o.in_channels == 3 && o.width == 1.0 && o.feature_dim == 0, ""};
  const std::string expand = o.feature_dim > 0 ? "; expand_conv.weight and expand_bn.* are a 1x1 convolution + "
                                                 "BatchNorm + ReLU after layer4 (feature_dim " +
                                                     std::to_string(o.feature_dim) + ") that torchvision lacks"
                                               : "";
  n.text = n.loads_as_is ? "loads into torchvision.models." + o.arch + "() with only fc.* missing"
                         : "torchvision's names; shapes differ from torchvision." + o.arch + "() (" +
                               (o.width != 1.0 ? "width x" + fixed(o.width, 2) + ", " : "") + o.stem + " stem, " +
                               std::to_string(o.in_channels) +
                               " channel(s)): build the model to match before "
                               "load_state_dict" +
                               expand;
  return n;
}

}  // namespace

std::function<int()> add_export_command(CLI::App& app) {
  CLI::App* cmd =
      app.add_subcommand("export",
                         "Export the backbone. torchvision: a state dict for torch.load +\n"
                         "torchvision.models.resnetXX().load_state_dict(sd, strict=False) (only fc.* missing);\n"
                         "a ViT's dict has timm's names: timm.create_model('vit_small_patch16_224', num_classes=0).");
  struct State {
    RunArgs args;
    std::string format = "torchvision", out;
  };
  auto st = std::make_shared<State>();
  add_run_args(cmd, st->args, /*with_data=*/false);
  cmd->add_option("--format", st->format, "torchvision or torchscript [torchvision]");
  cmd->add_option("--out", st->out, "output file, e.g. backbone.pth")->required();
  return [st]() {
    check(st->format == "torchvision" || st->format == "torchscript",
          "unknown --format '" + st->format + "': use torchvision");
    check(st->format != "torchscript",
          "--format torchscript is not available: LibTorch's C++ frontend cannot script or trace a module; "
          "export --format torchvision and script it in Python if you need TorchScript");
    Run run = open_run_for(st->args);
    export_torchvision(run.model->backbone, st->out);
    const ExportNote n = export_note(run.model->backbone);
    nlohmann::ordered_json j;
    j["out"] = st->out;
    j["format"] = st->format;
    j["arch"] = run.model->backbone->arch();
    j["tensors"] = backbone_state_dict(run.model->backbone).size();
    j["library"] = n.library;
    j["torchvision_compatible"] = n.loads_as_is;  // true: loads into the library's model as it is
    j["note"] = n.text;
    emit(st->args, run, "", "Exported " + run.model->backbone->arch() + " backbone", j,
         {{"file", st->out}, {"note", n.text}});
    return 0;
  };
}

}  // namespace twist::cli
