#include "twist/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "twist/error.h"

namespace twist {
namespace {

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// The rename is only durable once the directory entry is on disk.
void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

[[noreturn]] void fail(int err, const std::string& tmp, const std::string& path) {
  ::unlink(tmp.c_str());
  throw Error("cannot write '" + path + "': " + std::strerror(err) + " (writing '" + tmp + "'); the previous '" + path +
              "', if any, is unchanged");
}

}  // namespace

void commit_file(const std::string& tmp, const std::string& path) {
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, tmp, path);
  // Delayed allocation can report a full disk only here.
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail(err, tmp, path);
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(errno, tmp, path);
  fsync_dir(parent_dir(path));
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    // Not ours to remove: the path may be a directory or another's file.
    throw Error("cannot write '" + path + "': " + std::strerror(errno) + " (writing '" + tmp + "'); the previous '" +
                path + "', if any, is unchanged");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      ::close(fd);
      fail(err, tmp, path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail(err, tmp, path);
  }
  if (::close(fd) != 0) fail(errno, tmp, path);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(errno, tmp, path);
  fsync_dir(parent_dir(path));
}

std::string read_file_bytes(const std::string& path, const std::string& what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(what + " '" + path + "' cannot be read: " + std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) throw Error(what + " '" + path + "' cannot be read: " + std::strerror(err));
  return out;
}

}  // namespace twist
