#include "run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "twist/error.h"

namespace twist {
namespace {

std::string holder(int fd) {
  char buf[256] = {0};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  std::string s = n > 0 ? std::string(buf, size_t(n)) : std::string();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "another process" : s;
}

}  // namespace

RunDirLock::RunDirLock(const std::string& dir) {
  const std::string path = dir + "/train.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  check(fd_ >= 0, "cannot open '" + path + "': " + std::strerror(errno));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string who = holder(fd_);
    ::close(fd_);
    fd_ = -1;
    check(err != EWOULDBLOCK, "'" + dir + "' is in use: another twist train (" + who +
                                  ") is writing it. Wait for it to end, stop it, or choose another --out");
    throw Error("cannot lock '" + path + "': " + std::strerror(err));
  }
  char host[128] = {0};
  gethostname(host, sizeof host - 1);
  const std::string me = "pid " + std::to_string(getpid()) + " on " + host + "\n";
  if (ftruncate(fd_, 0) == 0 && pwrite(fd_, me.data(), me.size(), 0) < 0) {
    // The lock holds without the note; only the message of a refused writer is vaguer.
  }
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

RunDirLock::RunDirLock(RunDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RunDirLock& RunDirLock::operator=(RunDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

}  // namespace twist
