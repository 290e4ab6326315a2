#include "twist/error.h"

namespace twist {

void check(bool cond, const std::string& message) {
  if (!cond) throw Error(message);
}

}  // namespace twist
