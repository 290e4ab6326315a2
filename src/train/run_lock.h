#pragma once
// One writer per run directory: `twist train` holds an advisory lock on
// DIR/train.lock (flock) for as long as it runs. The kernel releases it when
// the process ends, however it ends, so a killed run leaves no stale lock.
#include <string>

namespace twist {

class RunDirLock {
 public:
  RunDirLock() = default;
  // Takes the lock or throws twist::Error naming the directory and the
  // holder's pid and host.
  explicit RunDirLock(const std::string& dir);
  ~RunDirLock();
  RunDirLock(RunDirLock&& other) noexcept;
  RunDirLock& operator=(RunDirLock&& other) noexcept;
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace twist
