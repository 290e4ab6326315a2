#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "twist/data.h"
#include "twist/error.h"

namespace twist {
namespace {

// gzread reads gzipped and raw files alike, so one path serves both.
std::vector<uint8_t> read_all(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  check(f != nullptr, "cannot open '" + path + "'");
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  while (true) {
    int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      throw Error("'" + path + "' is corrupt or truncated (" + msg + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  int code = 0;
  const char* msg = gzerror(f, &code);
  std::string err = msg ? msg : "";
  gzclose(f);
  // A gzip stream cut short reads as a clean EOF with Z_BUF_ERROR pending.
  check(code == Z_OK || code == Z_STREAM_END, "'" + path + "' is corrupt or truncated (" + err + ")");
  return out;
}

constexpr uint64_t kMaxElements = uint64_t(1) << 40;

uint32_t big_endian(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

torch::Tensor parse_idx(const uint8_t* bytes, size_t size, const std::string& path) {
  check(size >= 4, "'" + path + "' is not an IDX file: too short for a header");
  // Magic number: two zero bytes, the type (0x08 = unsigned byte), the rank.
  check(bytes[0] == 0 && bytes[1] == 0, "'" + path + "' is not an IDX file: wrong magic number");
  char type[8];
  std::snprintf(type, sizeof type, "0x%02X", bytes[2]);
  check(bytes[2] == 0x08, "'" + path + "' holds IDX type " + type + "; only unsigned bytes (0x08) are supported");
  const int rank = bytes[3];
  check(rank >= 1 && rank <= 4, "'" + path + "' has " + std::to_string(rank) + " dimensions; expected 1 to 4");
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  check(size >= header, "'" + path + "' is truncated inside its header");
  std::vector<int64_t> dims;
  uint64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    uint32_t n = big_endian(&bytes[4 + 4 * d]);
    check(n > 0 && n < (1u << 31),
          "'" + path + "' declares dimension " + std::to_string(d) + " of size " + std::to_string(n));
    dims.push_back(n);
    // Checked before multiplying: the product of four 31-bit sizes can wrap
    // around 64 bits to a small number that matches a short payload.
    check(count <= kMaxElements / n, "'" + path + "' declares an impossible size");
    count *= n;
  }
  const uint64_t payload = size - header;
  check(payload == count, "'" + path + "' has " + std::to_string(payload) + " bytes of data but its header declares " +
                              std::to_string(count) + (payload < count ? " (truncated?)" : " (trailing bytes)"));
  torch::Tensor t = torch::empty(dims, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), bytes + header, count);
  return t;
}

torch::Tensor read_idx(const std::string& path) {
  std::vector<uint8_t> bytes = read_all(path);
  return parse_idx(bytes.data(), bytes.size(), path);
}

void write_idx(const std::string& path, const torch::Tensor& data) {
  torch::Tensor t = data.to(torch::kUInt8).contiguous();
  std::ofstream f(path, std::ios::binary);
  check(bool(f), "cannot write '" + path + "'");
  const uint8_t magic[4] = {0, 0, 0x08, static_cast<uint8_t>(t.dim())};
  f.write(reinterpret_cast<const char*>(magic), 4);
  for (int64_t d : t.sizes()) {
    const uint8_t be[4] = {uint8_t(d >> 24), uint8_t(d >> 16), uint8_t(d >> 8), uint8_t(d)};
    f.write(reinterpret_cast<const char*>(be), 4);
  }
  f.write(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), t.numel());
  check(bool(f), "failed writing '" + path + "'");
}

}  // namespace twist
