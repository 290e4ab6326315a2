#pragma once
// metrics.jsonl: one JSON object per line, each written with one write(2),
// so a killed run keeps every line it logged and no half line.
#include <string>
#include <utility>
#include <vector>

namespace twist {

class MetricsLog {
 public:
  // Appending to a file whose last line was cut short (a full disk) first
  // ends that line, so every later line parses.
  MetricsLog(const std::string& path, bool append);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  // Throws twist::Error naming the file and the system's reason (disk full).
  void write(const std::vector<std::pair<std::string, double>>& values);

 private:
  void write_line(const std::string& line);
  std::string path_;
  int fd_ = -1;
};

}  // namespace twist
