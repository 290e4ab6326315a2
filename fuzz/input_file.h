#pragma once
// For readers that take a path: the fuzz input written to a file of this
// process (overwritten on every input), so the whole reader runs as a user's
// file would make it run.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

inline std::string fuzz_input_file(const uint8_t* data, size_t size, const std::string& suffix) {
  static const std::string stem = "/tmp/twist-fuzz-" + std::to_string(::getpid());
  const std::string path = stem + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}
