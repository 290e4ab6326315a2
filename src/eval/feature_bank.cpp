#include "twist/feature_bank.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "twist/error.h"

namespace twist {
namespace {

std::string spill_directory(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

// An unlinked temporary file in `dir`: gone from the directory at once, its
// space freed when the descriptor closes.
int open_spill_file(const std::string& dir) {
  std::string name = dir + "/twist-features-XXXXXX";
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  const int fd = ::mkstemp(buf.data());
  check(fd >= 0, "cannot create a temporary file for the feature bank in '" + dir + "': " + std::strerror(errno) +
                     " (set TMPDIR to a writable directory with space)");
  ::unlink(buf.data());
  return fd;
}

}  // namespace

FeatureBank::FeatureBank(int64_t budget_bytes, std::string spill_dir)
    : budget_(budget_bytes), spill_dir_(spill_directory(spill_dir)) {
  check(budget_bytes >= 0, "FeatureBank: the byte budget must not be negative");
}

FeatureBank FeatureBank::of(const torch::Tensor& rows) {
  check(rows.dim() == 2, "FeatureBank::of: the rows must be N x d");
  FeatureBank b(INT64_MAX);
  b.memory_ = rows.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  b.rows_ = rows.size(0);
  b.dim_ = rows.size(1);
  return b;
}

FeatureBank::~FeatureBank() {
  if (fd_ >= 0) ::close(fd_);
}

FeatureBank::FeatureBank(FeatureBank&& o) noexcept
    : budget_(o.budget_),
      spill_dir_(std::move(o.spill_dir_)),
      rows_(o.rows_),
      dim_(o.dim_),
      memory_(std::move(o.memory_)),
      fd_(std::exchange(o.fd_, -1)) {}

FeatureBank& FeatureBank::operator=(FeatureBank&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    budget_ = o.budget_;
    spill_dir_ = std::move(o.spill_dir_);
    rows_ = o.rows_;
    dim_ = o.dim_;
    memory_ = std::move(o.memory_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void FeatureBank::append(const torch::Tensor& rows) {
  check(rows.dim() == 2, "FeatureBank: rows must be n x d");
  if (dim_ < 0) dim_ = rows.size(1);
  check(rows.size(1) == dim_, "FeatureBank: rows of " + std::to_string(rows.size(1)) +
                                  " values appended to a bank of " + std::to_string(dim_));
  const auto r = rows.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t n = r.size(0);
  if (!spilled() && (rows_ + n) * dim_ * 4 > budget_) spill();
  if (spilled()) {
    write_rows(r, rows_);
  } else {
    reserve(rows_ + n);
    memory_.narrow(0, rows_, n).copy_(r);
  }
  rows_ += n;
}

// Grows the in-memory rows by doubling (at most to the budget).
void FeatureBank::reserve(int64_t rows) {
  const int64_t capacity = memory_.defined() ? memory_.size(0) : 0;
  if (rows <= capacity) return;
  const int64_t cap_rows = std::max<int64_t>(rows, budget_ / (4 * std::max<int64_t>(dim_, 1)));
  const int64_t grown = std::min(std::max<int64_t>({rows, 2 * capacity, 256}), cap_rows);
  auto bigger = torch::empty({grown, dim_}, torch::kFloat32);
  if (rows_ > 0) bigger.narrow(0, 0, rows_).copy_(memory_.narrow(0, 0, rows_));
  memory_ = bigger;
}

// Moves every row held in memory to a fresh temporary file.
void FeatureBank::spill() {
  fd_ = open_spill_file(spill_dir_);
  if (rows_ > 0) write_rows(memory_.narrow(0, 0, rows_).contiguous(), 0);
  memory_ = torch::Tensor();
}

void FeatureBank::write_rows(const torch::Tensor& rows, int64_t at) {
  const char* p = static_cast<const char*>(rows.data_ptr());
  int64_t left = rows.numel() * 4, offset = at * dim_ * 4;
  while (left > 0) {
    const ssize_t w = ::pwrite(fd_, p, size_t(left), off_t(offset));
    if (w < 0 && errno == EINTR) continue;
    check(w > 0, "cannot write the feature bank's temporary file in '" + spill_dir_ + "': " +
                     (w < 0 ? std::strerror(errno) : "no progress") + " (set TMPDIR to a directory with space)");
    p += w;
    left -= w;
    offset += w;
  }
}

torch::Tensor FeatureBank::read(int64_t begin, int64_t n) const {
  check(begin >= 0 && n >= 0 && begin + n <= rows_, "FeatureBank: rows [" + std::to_string(begin) + ", " +
                                                        std::to_string(begin + n) + ") outside the bank's " +
                                                        std::to_string(rows_));
  if (!spilled()) return n == 0 ? torch::empty({0, std::max<int64_t>(dim_, 0)}) : memory_.narrow(0, begin, n);
  auto out = torch::empty({n, dim_}, torch::kFloat32);
  read_rows(static_cast<char*>(out.data_ptr()), begin, n);
  return out;
}

torch::Tensor FeatureBank::gather(const torch::Tensor& rows) const {
  const auto idx = rows.to(torch::kInt64).contiguous();
  check(idx.dim() == 1, "FeatureBank::gather: the rows must be a list of indices");
  const int64_t n = idx.numel();
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    check(p[i] >= 0 && p[i] < rows_,
          "FeatureBank: row " + std::to_string(p[i]) + " outside the bank's " + std::to_string(rows_));
  if (!spilled()) return memory_.narrow(0, 0, rows_).index_select(0, idx);
  auto out = torch::empty({n, dim_}, torch::kFloat32);
  char* dst = static_cast<char*>(out.data_ptr());
  for (int64_t i = 0; i < n; ++i) read_rows(dst + i * dim_ * 4, p[i], 1);
  return out;
}

void FeatureBank::for_each_chunk(int64_t chunk, const std::function<void(int64_t, const torch::Tensor&)>& fn) const {
  check(chunk >= 1, "FeatureBank: the chunk size must be positive");
  for (int64_t i = 0; i < rows_; i += chunk) fn(i, read(i, std::min(chunk, rows_ - i)));
}

void FeatureBank::read_rows(char* out, int64_t begin, int64_t n) const {
  int64_t left = n * dim_ * 4, offset = begin * dim_ * 4;
  while (left > 0) {
    const ssize_t r = ::pread(fd_, out, size_t(left), off_t(offset));
    if (r < 0 && errno == EINTR) continue;
    check(r > 0, "cannot read the feature bank's temporary file: " + std::string(r < 0 ? std::strerror(errno) : "EOF"));
    out += r;
    left -= r;
    offset += r;
  }
}

}  // namespace twist
