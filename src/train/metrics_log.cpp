#include "metrics_log.h"

#include <nlohmann/json.hpp>

#include "twist/error.h"

namespace twist {

MetricsLog::MetricsLog(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  check(bool(out_), "cannot write '" + path + "'");
}

void MetricsLog::write(const std::vector<std::pair<std::string, double>>& values) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : values) {
    if (v == double(int64_t(v)) && (k == "step" || k == "classes_in_use")) {
      j[k] = int64_t(v);
    } else {
      j[k] = v;
    }
  }
  out_ << j.dump() << '\n';
  out_.flush();
  check(bool(out_), "cannot write '" + path_ + "' (disk full?)");
}

}  // namespace twist
