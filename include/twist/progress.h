#pragma once
// Progress on stderr: a bar with ETA on a terminal, a plain line every few
// seconds elsewhere (logs, CI), so long runs never look hung.
#include <chrono>
#include <cstdint>
#include <string>

namespace twist {

class Progress {
 public:
  Progress(int64_t first_step, int64_t total_steps, bool terminal, double line_seconds = 10.0);
  // `detail` is shown after the counters, e.g. "loss -1.23 (c 0.1 s 0.4 d 2.1)".
  void update(int64_t step, double images_per_s, const std::string& detail);
  void finish();
  // The run's length changed (a time budget cut it): the ETA follows.
  void set_total(int64_t total_steps) { total_ = total_steps; }
  static bool stderr_is_terminal();
  static std::string format_duration(double seconds);

 private:
  int64_t first_, total_;
  bool terminal_;
  double line_seconds_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool printed_ = false;
};

}  // namespace twist
