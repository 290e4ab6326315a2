#include "binary_records.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>

#include "twist/error.h"

namespace twist::detail {

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool dir_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int64_t record_count(uint64_t size, uint64_t record, const std::string& name, const std::string& layout) {
  check(size > 0, "'" + name + "' is empty; expected records of " + std::to_string(record) + " bytes (" + layout + ")");
  check(size % record == 0, "'" + name + "' has " + std::to_string(size) + " bytes, not a multiple of its " +
                                std::to_string(record) + "-byte records (" + layout + "): truncated or not " +
                                "this format?");
  return static_cast<int64_t>(size / record);
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  check(::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode), "cannot open '" + path + "'");
  return static_cast<uint64_t>(st.st_size);
}

void read_records(const std::string& path, int64_t count, uint64_t record,
                  const std::function<void(const uint8_t*, int64_t, int64_t)>& decode) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  check(f != nullptr, "cannot open '" + path + "'");
  // About 8 MB at a time, at least one record.
  const int64_t per_chunk = std::max<int64_t>(1, int64_t(8 << 20) / int64_t(record));
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(per_chunk, count) * record));
  for (int64_t first = 0; first < count; first += per_chunk) {
    const int64_t n = std::min(per_chunk, count - first);
    const size_t want = static_cast<size_t>(n * record);
    // The size was checked before; a short read means the file changed.
    check(std::fread(buf.data(), 1, want, f.get()) == want,
          "'" + path + "' is truncated: could not read record " + std::to_string(first));
    decode(buf.data(), first, n);
  }
}

std::vector<std::string> read_class_names(const std::string& path, int64_t expected) {
  std::ifstream f(path);
  check(bool(f), "cannot open '" + path + "'");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) names.push_back(line);
    check(int64_t(names.size()) <= expected,
          "'" + path + "' has more than " + std::to_string(expected) + " class names (one per line)");
  }
  check(int64_t(names.size()) == expected, "'" + path + "' has " + std::to_string(names.size()) +
                                               " class names; expected " + std::to_string(expected) +
                                               " (one per line)");
  return names;
}

}  // namespace twist::detail
