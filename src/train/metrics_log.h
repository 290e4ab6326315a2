#pragma once
// metrics.jsonl: one JSON object per line, flushed as written, so a killed
// run keeps every line it logged.
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace twist {

class MetricsLog {
 public:
  MetricsLog(const std::string& path, bool append);
  void write(const std::vector<std::pair<std::string, double>>& values);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace twist
