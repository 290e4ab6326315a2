#include <cstdio>
#include <fstream>

#include "twist/error.h"
#include "twist/io.h"
#include "twist/train.h"

namespace twist {

constexpr int64_t kFormatVersion = 1;

void save_checkpoint(const std::string& path, TwistModel& model, Lars* optimizer,
                     const CheckpointState& state) {
  torch::serialize::OutputArchive archive;
  archive.write("format_version", c10::IValue(kFormatVersion));
  archive.write("step", c10::IValue(state.step));
  archive.write("config", c10::IValue(state.config_json));
  archive.write("norm_mean", torch::tensor(state.norm.mean, torch::kFloat64));
  archive.write("norm_std", torch::tensor(state.norm.std, torch::kFloat64));
  torch::serialize::OutputArchive m;
  model->save(m);
  archive.write("model", m);
  if (optimizer) {
    torch::serialize::OutputArchive o;
    auto& bufs = optimizer->buffers();
    for (size_t i = 0; i < bufs.size(); ++i)
      if (bufs[i].defined()) o.write("momentum." + std::to_string(i), bufs[i]);
    archive.write("optimizer", o);
  }
  const std::string tmp = path + ".tmp";
  try {
    archive.save_to(tmp);
  } catch (const c10::Error& e) {
    std::remove(tmp.c_str());
    throw Error("cannot write checkpoint '" + path + "' (disk full or not writable?)");
  }
  commit_file(tmp, path);
}

namespace {

torch::serialize::InputArchive open_archive(const std::string& path) {
  std::ifstream probe(path);
  check(bool(probe), "checkpoint '" + path + "' does not exist or cannot be read");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error&) {
    throw Error("checkpoint '" + path + "' is corrupt or not a twist checkpoint");
  }
  return archive;
}

CheckpointState read_state(torch::serialize::InputArchive& archive, const std::string& path) {
  CheckpointState s;
  try {
    c10::IValue v;
    archive.read("format_version", v);
    check(v.isInt() && v.toInt() == kFormatVersion,
          "checkpoint '" + path + "' has an unsupported format version");
    archive.read("step", v);
    s.step = v.toInt();
    archive.read("config", v);
    s.config_json = v.toStringRef();
    torch::Tensor mean, std;
    archive.read("norm_mean", mean);
    archive.read("norm_std", std);
    for (int64_t i = 0; i < mean.numel(); ++i) {
      s.norm.mean.push_back(mean[i].item<double>());
      s.norm.std.push_back(std[i].item<double>());
    }
  } catch (const c10::Error&) {
    throw Error("checkpoint '" + path + "' is missing its run state (not a twist checkpoint?)");
  }
  return s;
}

}  // namespace

CheckpointState read_checkpoint_state(const std::string& path) {
  auto archive = open_archive(path);
  return read_state(archive, path);
}

void load_checkpoint(const std::string& path, TwistModel& model, Lars* optimizer) {
  auto archive = open_archive(path);
  read_state(archive, path);
  // Module::load replaces tensors whatever their shape: compare shapes after.
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& t : model->parameters()) shapes.push_back(t.sizes().vec());
  for (const auto& t : model->buffers()) shapes.push_back(t.sizes().vec());
  try {
    torch::serialize::InputArchive m;
    archive.read("model", m);
    model->load(m);
    size_t i = 0;
    for (const auto& t : model->parameters())
      check(t.sizes().vec() == shapes[i++], "checkpoint '" + path + "' holds another model (tensor shapes differ)");
    for (const auto& t : model->buffers())
      check(t.sizes().vec() == shapes[i++], "checkpoint '" + path + "' holds another model (tensor shapes differ)");
    if (optimizer) {
      torch::serialize::InputArchive o;
      archive.read("optimizer", o);
      auto& bufs = optimizer->buffers();
      for (size_t i = 0; i < bufs.size(); ++i) {
        torch::Tensor t;
        if (o.try_read("momentum." + std::to_string(i), t)) bufs[i] = t;
      }
    }
  } catch (const c10::Error&) {
    throw Error("checkpoint '" + path + "' does not fit this model (another architecture?)");
  }
}

}  // namespace twist
