#include <cerrno>
#include <cstring>
#include <utility>

#include "twist/error.h"
#include "twist/io.h"
#include "twist/npy.h"

namespace twist {

NpyRowWriter::NpyRowWriter(std::string path, int64_t rows, int64_t dim, torch::ScalarType type)
    : path_(std::move(path)), tmp_(path_ + ".tmp"), rows_(rows), dim_(dim), type_(type) {
  check(rows >= 0 && dim >= 0, "NpyRowWriter: the shape must not be negative");
  check(type == torch::kFloat32 || type == torch::kHalf, "NpyRowWriter: rows are float32 or float16");
  file_ = std::fopen(tmp_.c_str(), "wb");
  check(file_ != nullptr, "cannot write '" + path_ + "': " + std::strerror(errno) + " (writing '" + tmp_ + "')");
  const std::string header = npy_header(type, {rows, dim});
  write(header.data(), header.size());
}

NpyRowWriter::~NpyRowWriter() {
  if (!file_) return;
  std::fclose(file_);
  std::remove(tmp_.c_str());
}

void NpyRowWriter::write(const void* data, size_t bytes) {
  if (std::fwrite(data, 1, bytes, file_) == bytes) return;
  throw Error("cannot write '" + path_ + "': " + std::strerror(errno) + " (writing '" + tmp_ + "')");
}

void NpyRowWriter::append(const torch::Tensor& rows) {
  check(file_ != nullptr, "NpyRowWriter: '" + path_ + "' is already finished");
  check(rows.dim() == 2 && rows.size(1) == dim_, "NpyRowWriter: rows of " + std::to_string(dim_) + " values expected");
  check(written_ + rows.size(0) <= rows_, "NpyRowWriter: more than the " + std::to_string(rows_) + " rows promised");
  const auto r = rows.detach().to(torch::kCPU, type_).contiguous();
  write(r.data_ptr(), size_t(r.nbytes()));
  written_ += r.size(0);
}

void NpyRowWriter::finish() {
  check(file_ != nullptr, "NpyRowWriter: '" + path_ + "' is already finished");
  check(written_ == rows_, "NpyRowWriter: " + std::to_string(written_) + " rows written to '" + path_ + "', " +
                               std::to_string(rows_) + " promised");
  const bool flushed = std::fflush(file_) == 0;
  const int err = errno;
  std::fclose(file_);
  file_ = nullptr;
  if (!flushed) {
    std::remove(tmp_.c_str());
    throw Error("cannot write '" + path_ + "': " + std::strerror(err) + " (writing '" + tmp_ + "')");
  }
  commit_file(tmp_, path_);
}

}  // namespace twist
