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

// Throws twist::Error(message) unless cond holds.
void check(bool cond, const std::string& message);

}  // namespace twist
