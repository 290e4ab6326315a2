#pragma once
// NumPy's .npy format (version 1.0, little-endian, C order): what `twist
// embed` writes so that numpy.load reads the features directly.
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

namespace twist {

// float32, float64, int64, int32 or uint8 tensors of any rank. Atomic
// (temporary file, then rename).
void write_npy(const std::string& path, const torch::Tensor& tensor);

// The magic, version, length and header dict of a .npy file of that type
// and shape: what precedes its data.
std::string npy_header(torch::ScalarType type, const std::vector<int64_t>& shape);

// A rows x dim .npy array of float32 (or `type` float16, half the bytes)
// written block by block (twist embed on a data set of any size): to
// `path`.tmp, made `path` by finish(), removed if never finished. Throws
// twist::Error naming `path` when a write fails.
class NpyRowWriter {
 public:
  NpyRowWriter(std::string path, int64_t rows, int64_t dim, torch::ScalarType type = torch::kFloat32);
  ~NpyRowWriter();
  NpyRowWriter(const NpyRowWriter&) = delete;
  NpyRowWriter& operator=(const NpyRowWriter&) = delete;
  void append(const torch::Tensor& rows);  // n x dim, converted to the file's type
  // Throws unless exactly `rows` rows were appended.
  void finish();

 private:
  void write(const void* data, size_t bytes);

  std::string path_, tmp_;
  int64_t rows_, dim_, written_ = 0;
  torch::ScalarType type_;
  std::FILE* file_ = nullptr;
};

// Reads what write_npy writes (and NumPy's own files of those types).
// Validates the magic, the header and that the data length matches the
// shape exactly; throws twist::Error naming the file otherwise.
torch::Tensor read_npy(const std::string& path);

}  // namespace twist
