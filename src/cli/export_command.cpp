// twist export: the backbone's weights for other programs.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "run_args.h"
#include "twist/error.h"
#include "twist/export.h"

namespace twist::cli {

std::function<int()> add_export_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Export the backbone. torchvision: a state dict for torch.load +\n"
      "torchvision.models.resnetXX().load_state_dict(sd, strict=False) (only fc.* missing).");
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
    const auto& o = run.model->backbone->options();
    nlohmann::ordered_json j;
    j["out"] = st->out;
    j["format"] = st->format;
    j["arch"] = o.arch;
    j["tensors"] = backbone_state_dict(run.model->backbone).size();
    const bool torchvision_shape = o.stem == "imagenet" && o.in_channels == 3 && o.width == 1.0;
    j["torchvision_compatible"] = torchvision_shape;
    std::string note = torchvision_shape
                           ? "loads into torchvision.models." + o.arch + "() with only fc.* missing"
                           : "torchvision's names; shapes differ from torchvision." + o.arch +
                                 "() (" + (o.width != 1.0 ? "width x" + fixed(o.width, 2) + ", " : "") + o.stem +
                                 " stem, " + std::to_string(o.in_channels) + " channel(s)): build the model "
                                 "to match before load_state_dict";
    j["note"] = note;
    emit(st->args, run, "", "Exported " + o.arch + " backbone", j, {{"file", st->out}, {"note", note}});
    return 0;
  };
}

}  // namespace twist::cli
