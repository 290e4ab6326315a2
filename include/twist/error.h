#pragma once
// One exception type for every failure a user can cause (bad input, bad
// settings, unwritable paths). The CLI prints what() on one line and exits
// non-zero; library users catch twist::Error.
#include <stdexcept>
#include <string>

namespace twist {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A file that does not read or decode as an image (missing, empty, cut
// short, not a format twist reads): the one failure --skip-bad-images
// passes over.
class ImageError : public Error {
 public:
  explicit ImageError(const std::string& what) : Error(what) {}
};

// Throws twist::Error(message) unless cond holds.
void check(bool cond, const std::string& message);

}  // namespace twist
