#include "twist/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "twist/error.h"
#include "twist/io.h"

namespace twist {
namespace {

const char kMagic[] = "\x93NUMPY";

std::string descr_of(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "<f4";
    case torch::kFloat64:
      return "<f8";
    case torch::kHalf:
      return "<f2";
    case torch::kInt64:
      return "<i8";
    case torch::kInt32:
      return "<i4";
    case torch::kUInt8:
      return "|u1";
    default:
      throw Error(std::string("write_npy: unsupported tensor type ") + c10::toString(t));
  }
}

torch::ScalarType type_of(const std::string& descr, const std::string& path) {
  if (descr == "<f4") return torch::kFloat32;
  if (descr == "<f8") return torch::kFloat64;
  if (descr == "<f2") return torch::kHalf;
  if (descr == "<i8") return torch::kInt64;
  if (descr == "<i4") return torch::kInt32;
  if (descr == "|u1" || descr == "<u1") return torch::kUInt8;
  throw Error("'" + path + "': unsupported .npy dtype '" + descr + "' (float16/32/64, int32/64, uint8)");
}

// The value of `key` in the header's Python dict literal, e.g. 'descr': '<f4'.
std::string header_field(const std::string& header, const std::string& key, const std::string& path) {
  const std::string k = "'" + key + "':";
  auto pos = header.find(k);
  check(pos != std::string::npos, "'" + path + "' is not a valid .npy file: its header has no " + key);
  pos += k.size();
  while (pos < header.size() && header[pos] == ' ') ++pos;
  check(pos < header.size(), "'" + path + "' is not a valid .npy file: truncated header");
  const char open = header[pos];
  const char close = open == '\'' ? '\'' : open == '(' ? ')' : ',';
  auto end = header.find(close, pos + 1);
  check(end != std::string::npos, "'" + path + "' is not a valid .npy file: malformed " + key);
  return open == '\'' || open == '(' ? header.substr(pos + 1, end - pos - 1) : header.substr(pos, end - pos);
}

}  // namespace

std::string npy_header(torch::ScalarType type, const std::vector<int64_t>& shape) {
  std::ostringstream dims;
  dims << "(";
  for (size_t i = 0; i < shape.size(); ++i) dims << shape[i] << (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  dims << ")";
  std::string header = "{'descr': '" + descr_of(type) + "', 'fortran_order': False, 'shape': " + dims.str() + ", }";
  // Pad with spaces so that magic + 2 + 2 + header + '\n' is a multiple of 64.
  const size_t unpadded = 6 + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  check(header.size() < 65536, "write_npy: too many dimensions");
  std::string bytes(kMagic, 6);
  bytes.push_back(1);  // format version 1.0
  bytes.push_back(0);
  bytes.push_back(char(header.size() & 0xff));  // header length, little-endian
  bytes.push_back(char(header.size() >> 8));
  return bytes + header;
}

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  std::string bytes = npy_header(t.scalar_type(), t.sizes().vec());
  bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  write_file_atomic(path, bytes);
}

torch::Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  check(bool(f), "cannot read '" + path + "'");
  char pre[10];
  f.read(pre, 10);
  check(f.gcount() == 10 && std::memcmp(pre, kMagic, 6) == 0, "'" + path + "' is not a .npy file (bad magic)");
  check(pre[6] == 1 && pre[7] == 0, "'" + path + "': only .npy format version 1.0 is supported");
  const size_t len = size_t(uint8_t(pre[8])) | (size_t(uint8_t(pre[9])) << 8);
  std::string header(len, '\0');
  f.read(header.data(), std::streamsize(len));
  check(size_t(f.gcount()) == len, "'" + path + "' is truncated (in its header)");
  const auto type = type_of(header_field(header, "descr", path), path);
  check(header_field(header, "fortran_order", path) == "False",
        "'" + path + "': Fortran-order arrays are not supported");
  std::vector<int64_t> shape;
  std::istringstream dims(header_field(header, "shape", path));
  std::string item;
  int64_t count = 1;
  while (std::getline(dims, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {}
    check(v >= 0 && v < (int64_t(1) << 40), "'" + path + "': malformed shape in the header");
    shape.push_back(v);
    check(v == 0 || count <= (int64_t(1) << 40) / v, "'" + path + "': shape too large");
    count *= v;
  }
  // Compare with the file's size before allocating anything.
  const auto data_start = f.tellg();
  f.seekg(0, std::ios::end);
  const int64_t available = int64_t(f.tellg() - data_start);
  f.seekg(data_start);
  const int64_t expected = count * int64_t(c10::elementSize(type));
  check(available >= expected, "'" + path + "' is truncated: the header promises " + std::to_string(expected) +
                                   " bytes of data, the file holds " + std::to_string(available));
  check(available == expected, "'" + path + "' has data after the array");
  auto t = torch::empty(shape, torch::TensorOptions().dtype(type));
  f.read(static_cast<char*>(t.data_ptr()), std::streamsize(expected));
  check(int64_t(f.gcount()) == expected, "cannot read the data of '" + path + "'");
  return t;
}

}  // namespace twist
