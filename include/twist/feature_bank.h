#pragma once
// Rows of float32 features (a backbone's, a head's, pixels) appended batch by
// batch and read back chunk by chunk: what streamed evaluation keeps of a
// data set of any size. Held in memory up to a byte budget; past it every
// row moves to a temporary file (unlinked at once, so nothing is left behind
// even by a killed process) and is read back with pread, which goes through
// the page cache rather than this process's resident memory.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>

namespace twist {

// The default budget of one bank in memory.
constexpr int64_t kFeatureBankBudgetBytes = int64_t(32) << 20;

class FeatureBank {
 public:
  // `spill_dir`: where the temporary file goes (empty: $TMPDIR, else /tmp).
  explicit FeatureBank(int64_t budget_bytes = kFeatureBankBudgetBytes, std::string spill_dir = "");
  // A bank over rows already in memory (N x d), never spilled.
  static FeatureBank of(const torch::Tensor& rows);
  ~FeatureBank();
  FeatureBank(FeatureBank&& other) noexcept;
  FeatureBank& operator=(FeatureBank&& other) noexcept;
  FeatureBank(const FeatureBank&) = delete;
  FeatureBank& operator=(const FeatureBank&) = delete;

  // Appends n x d rows (any floating type, converted to float32); the first
  // call fixes d. Throws twist::Error on a different d or a failed write.
  void append(const torch::Tensor& rows);
  int64_t rows() const { return rows_; }
  int64_t dim() const { return dim_; }
  bool spilled() const { return fd_ >= 0; }
  // Rows [begin, begin + n) as float32 n x d.
  torch::Tensor read(int64_t begin, int64_t n) const;
  // The rows at `rows` (int64 indices, any order) as float32 n x d: one
  // read per row once spilled (through the page cache).
  torch::Tensor gather(const torch::Tensor& rows) const;
  // fn(begin, rows) over consecutive chunks of at most `chunk` rows, in order.
  void for_each_chunk(int64_t chunk, const std::function<void(int64_t begin, const torch::Tensor& rows)>& fn) const;
  // Every row (in memory: for consumers that need the whole matrix).
  torch::Tensor all() const { return read(0, rows_); }

 private:
  void reserve(int64_t rows);
  void spill();
  void write_rows(const torch::Tensor& rows, int64_t at);
  void read_rows(char* out, int64_t begin, int64_t n) const;  // from the spill file

  int64_t budget_;
  std::string spill_dir_;
  int64_t rows_ = 0, dim_ = -1;
  torch::Tensor memory_;  // capacity x d while in memory
  int fd_ = -1;           // the spill file once spilled
};

}  // namespace twist
