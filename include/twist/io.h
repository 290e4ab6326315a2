#pragma once
// Files that are never left half-written: write a temporary file beside the
// target, flush it to disk, then rename it over the target.
#include <string>

namespace twist {

// Writes `bytes` to `path` atomically; throws twist::Error naming the path
// (and leaves any previous file intact) when the write fails.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Makes a finished temporary file `tmp` the file `path`: fsync, rename,
// fsync of the directory. Removes `tmp` and throws when the rename fails.
void commit_file(const std::string& tmp, const std::string& path);

}  // namespace twist
