#include "twist/checkpoint.h"

#include <zlib.h>

#include <cstring>

#include "twist/error.h"
#include "twist/io.h"

namespace twist {
namespace {

constexpr char kMagic[8] = {'T', 'W', 'I', 'S', 'T', 'C', 'K', 'P'};
constexpr size_t kHeader = 24;

uint32_t crc32_of(const std::string& bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {  // zlib's length is 32-bit: feed large payloads in chunks
    const uInt n = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    crc = ::crc32(crc, p, n);
    p += n;
    left -= n;
  }
  return static_cast<uint32_t>(crc);
}

template <class T>
void put_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

template <class T>
T get_le(const std::string& in, size_t at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= T(static_cast<uint8_t>(in[at + i])) << (8 * i);
  return v;
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

torch::serialize::InputArchive open_archive(const std::string& payload, const std::string& name) {
  torch::serialize::InputArchive archive;
  try {
    // Tensors come to the host whatever device wrote them; the trainer moves
    // the model afterwards.
    archive.load_from(payload.data(), payload.size(), torch::Device(torch::kCPU));
  } catch (const std::exception&) {
    // c10::Error, and std::runtime_error from TorchScript's type parser.
    throw Error("checkpoint '" + name + "' passed its checksum but is not a LibTorch archive");
  }
  return archive;
}

// The files a run passed over (absent from checkpoints written before the
// list was kept: none).
std::vector<std::string> read_skipped_images(torch::serialize::InputArchive& archive, const std::string& name) {
  c10::IValue v;
  if (!archive.try_read("skipped_images", v)) return {};
  check(v.isList(), "checkpoint '" + name + "' holds an invalid skipped_images");
  std::vector<std::string> files;
  for (const c10::IValue& f : v.toListRef()) {
    check(f.isString(), "checkpoint '" + name + "' holds an invalid skipped_images");
    files.push_back(f.toStringRef());
  }
  return files;
}

CheckpointState read_state(torch::serialize::InputArchive& archive, const std::string& name) {
  CheckpointState s;
  try {
    c10::IValue v;
    archive.read("format_version", v);
    check(v.isInt() && v.toInt() == kCheckpointFormat,
          "checkpoint '" + name + "' has an unsupported inner format version");
    archive.read("step", v);
    check(v.isInt() && v.toInt() >= 0, "checkpoint '" + name + "' holds an invalid step");
    s.step = v.toInt();
    archive.read("skipped_steps", v);
    check(v.isInt() && v.toInt() >= 0, "checkpoint '" + name + "' holds an invalid skipped_steps");
    s.skipped_steps = v.toInt();
    s.skipped_images = read_skipped_images(archive, name);
    archive.read("config", v);
    check(v.isString(), "checkpoint '" + name + "' holds no settings");
    s.config_json = v.toStringRef();
    torch::Tensor mean, std;
    archive.read("norm_mean", mean);
    archive.read("norm_std", std);
    check(mean.dim() == 1 && std.sizes() == mean.sizes(),
          "checkpoint '" + name + "' holds malformed normalization statistics");
    mean = mean.to(torch::kFloat64).contiguous();
    std = std.to(torch::kFloat64).contiguous();
    s.norm.mean.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
    s.norm.std.assign(std.data_ptr<double>(), std.data_ptr<double>() + std.numel());
  } catch (const Error&) { throw; } catch (const std::exception&) {
    throw Error("checkpoint '" + name + "' is missing its run state (not a twist checkpoint?)");
  }
  return s;
}

}  // namespace

std::string frame_checkpoint(const std::string& payload) {
  std::string out(kMagic, sizeof kMagic);
  put_le<uint32_t>(out, kCheckpointFormat);
  put_le<uint32_t>(out, crc32_of(payload));
  put_le<uint64_t>(out, payload.size());
  out += payload;
  return out;
}

std::string checkpoint_payload(const std::string& bytes, const std::string& name) {
  const std::string what = "checkpoint '" + name + "'";
  if (bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0)
    throw Error(what + " was written by an older twist (format 1, without checksum); " + "this twist reads format " +
                std::to_string(kCheckpointFormat) + ": start a new run");
  check(bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0,
        what + " is not a twist checkpoint (wrong magic number)");
  check(bytes.size() >= kHeader, what + " is truncated inside its header (" + std::to_string(bytes.size()) + " bytes)");
  const uint32_t version = get_le<uint32_t>(bytes, 8);
  check(version == kCheckpointFormat, what + " has format version " + std::to_string(version) +
                                          "; this twist reads version " + std::to_string(kCheckpointFormat));
  const uint32_t stored_crc = get_le<uint32_t>(bytes, 12);
  const uint64_t length = get_le<uint64_t>(bytes, 16);
  const uint64_t have = bytes.size() - kHeader;
  check(have == length, what + " is " + (have < length ? "truncated" : "followed by stray bytes") +
                            ": its header declares " + std::to_string(length) + " bytes of data, the file holds " +
                            std::to_string(have));
  std::string payload = bytes.substr(kHeader);
  const uint32_t crc = crc32_of(payload);
  check(crc == stored_crc,
        what + " is corrupt: CRC-32 of its data is " + hex(crc) + ", its header says " + hex(stored_crc));
  return payload;
}

CheckpointState parse_checkpoint_state(const std::string& bytes, const std::string& name) {
  auto archive = open_archive(checkpoint_payload(bytes, name), name);
  return read_state(archive, name);
}

void save_checkpoint(const std::string& path, TwistModel& model, Optimizer* optimizer, const CheckpointState& state,
                     TwistModel* teacher) {
  torch::serialize::OutputArchive archive;
  archive.write("format_version", c10::IValue(int64_t(kCheckpointFormat)));
  archive.write("step", c10::IValue(state.step));
  archive.write("skipped_steps", c10::IValue(state.skipped_steps));
  archive.write("skipped_images", c10::IValue(c10::List<std::string>(state.skipped_images)));
  archive.write("config", c10::IValue(state.config_json));
  archive.write("norm_mean", torch::tensor(state.norm.mean, torch::kFloat64));
  archive.write("norm_std", torch::tensor(state.norm.std, torch::kFloat64));
  torch::serialize::OutputArchive m;
  model->save(m);
  archive.write("model", m);
  if (optimizer) {
    torch::serialize::OutputArchive o;
    for (auto& entry : optimizer->state()) {
      const auto& slots = *entry.second;
      for (size_t i = 0; i < slots.size(); ++i)
        if (slots[i].defined()) o.write(entry.first + "." + std::to_string(i), slots[i]);
    }
    archive.write("optimizer", o);
  }
  if (teacher) {
    torch::serialize::OutputArchive t;
    (*teacher)->save(t);
    archive.write("teacher", t);
  }
  std::string payload;
  archive.save_to([&payload](const void* data, size_t n) {
    payload.append(static_cast<const char*>(data), n);
    return n;
  });
  write_file_atomic(path, frame_checkpoint(payload));
}

CheckpointState read_checkpoint_state(const std::string& path) {
  return parse_checkpoint_state(read_file_bytes(path, "checkpoint"), path);
}

VerifiedCheckpoint read_checkpoint(const std::string& path) {
  VerifiedCheckpoint c;
  c.path = path;
  c.payload = checkpoint_payload(read_file_bytes(path, "checkpoint"), path);
  auto archive = open_archive(c.payload, path);
  c.state = read_state(archive, path);
  return c;
}

void load_checkpoint(const std::string& path, TwistModel& model, Optimizer* optimizer, TwistModel* teacher) {
  load_weights(read_checkpoint(path), model, optimizer, teacher);
}

void load_weights(const VerifiedCheckpoint& c, TwistModel& model, Optimizer* optimizer, TwistModel* teacher) {
  const std::string& path = c.path;
  auto archive = open_archive(c.payload, path);
  // Module::load replaces tensors whatever their shape: compare shapes after.
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& t : model->parameters()) shapes.push_back(t.sizes().vec());
  for (const auto& t : model->buffers()) shapes.push_back(t.sizes().vec());
  const std::string other = "checkpoint '" + path + "' holds another model (tensor shapes differ)";
  try {
    // A run with a momentum teacher is evaluated with the teacher
    // (docs/design.md §2.5); resuming needs both.
    torch::serialize::InputArchive saved_teacher;
    const bool has_teacher = archive.try_read("teacher", saved_teacher);
    torch::serialize::InputArchive m;
    if (!optimizer && !teacher && has_teacher) {
      m = std::move(saved_teacher);
    } else {
      archive.read("model", m);
    }
    model->load(m);
    size_t i = 0;
    for (const auto& t : model->parameters()) check(t.sizes().vec() == shapes[i++], other);
    for (const auto& t : model->buffers()) check(t.sizes().vec() == shapes[i++], other);
    if (teacher) {
      check(has_teacher, "checkpoint '" + path + "' has no momentum teacher (the run was trained without one)");
      (*teacher)->load(saved_teacher);
      i = 0;
      for (const auto& t : (*teacher)->parameters()) check(t.sizes().vec() == shapes[i++], other);
    }
    if (optimizer) {
      torch::serialize::InputArchive o;
      archive.read("optimizer", o);
      const auto params = model->parameters();
      for (auto& entry : optimizer->state()) {
        auto& slots = *entry.second;
        for (size_t b = 0; b < slots.size() && b < params.size(); ++b) {
          torch::Tensor t;
          if (o.try_read(entry.first + "." + std::to_string(b), t)) {
            // Per-parameter state has the parameter's shape; counters are scalars.
            check(t.dim() == 0 || t.sizes() == params[b].sizes(), other);
            slots[b] = t;
          }
        }
      }
    }
  } catch (const Error&) { throw; } catch (const std::exception&) {
    throw Error("checkpoint '" + path + "' does not fit this model (another architecture?)");
  }
}

}  // namespace twist
