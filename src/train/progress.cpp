#include "twist/progress.h"

#include <unistd.h>

#include <cstdio>

namespace twist {

Progress::Progress(int64_t first_step, int64_t total_steps, bool terminal, double line_seconds)
    : first_(first_step),
      total_(total_steps),
      terminal_(terminal),
      line_seconds_(line_seconds),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

bool Progress::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

std::string Progress::format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  }
  return buf;
}

void Progress::update(int64_t step, double images_per_s, const std::string& detail) {
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  const bool last = step >= total_;
  if (terminal_ ? (since_print < 0.2 && !last) : (since_print < line_seconds_ && !last)) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t done = step - first_;
  const double eta = done > 0 ? elapsed / double(done) * double(total_ - step) : -1;
  const double frac = total_ > 0 ? double(step) / double(total_) : 1.0;
  char head[160];
  if (terminal_) {
    const int width = 24;
    const int filled = static_cast<int>(frac * width);
    std::string bar(filled, '#');
    bar += std::string(width - filled, '.');
    std::snprintf(head, sizeof head, "\r[%s] %3.0f%% %lld/%lld ETA %s %.0f img/s ", bar.c_str(), 100 * frac,
                  (long long)step, (long long)total_, format_duration(eta).c_str(), images_per_s);
    std::fprintf(stderr, "%s%s\033[K", head, detail.c_str());
  } else {
    std::snprintf(head, sizeof head, "step %lld/%lld (%.0f%%) elapsed %s ETA %s %.0f img/s ", (long long)step,
                  (long long)total_, 100 * frac, format_duration(elapsed).c_str(), format_duration(eta).c_str(),
                  images_per_s);
    std::fprintf(stderr, "%s%s\n", head, detail.c_str());
  }
  std::fflush(stderr);
  printed_ = true;
}

void Progress::finish() {
  if (terminal_ && printed_) std::fprintf(stderr, "\n");
  printed_ = false;
}

}  // namespace twist
