#pragma once
// Files that are never left half-written: write a temporary file beside the
// target, flush it to disk, then rename it over the target.
#include <string>

namespace twist {

// Writes `bytes` to `path`.tmp, fsyncs it, renames it over `path` and fsyncs
// the directory. Any failure (no space, no permission, `path`.tmp not a
// file) removes the temporary file, leaves `path` as it was and throws
// twist::Error naming `path` and the system's reason.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Makes a finished temporary file `tmp` the file `path`: fsync, rename,
// fsync of the directory. Removes `tmp` and throws when that fails.
void commit_file(const std::string& tmp, const std::string& path);

// Reads a whole file; throws twist::Error naming `what` and `path`.
std::string read_file_bytes(const std::string& path, const std::string& what);

}  // namespace twist
