#pragma once
// NumPy's .npy format (version 1.0, little-endian, C order): what `twist
// embed` writes so that numpy.load reads the features directly.
#include <torch/torch.h>

#include <string>

namespace twist {

// float32, float64, int64, int32 or uint8 tensors of any rank. Atomic
// (temporary file, then rename).
void write_npy(const std::string& path, const torch::Tensor& tensor);

// Reads what write_npy writes (and NumPy's own files of those types).
// Validates the magic, the header and that the data length matches the
// shape exactly; throws twist::Error naming the file otherwise.
torch::Tensor read_npy(const std::string& path);

}  // namespace twist
