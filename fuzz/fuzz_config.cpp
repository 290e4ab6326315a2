// Settings: a config file (JSON) or one command-line flag, then validation.
// First byte even: the rest is a JSON config file. Odd: "key=value", as
// --key value on the command line. Anything but twist::Error is a finding.
#include <string>

#include "twist/config.h"
#include "twist/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    twist::TrainConfig c;
    if (data[0] % 2 == 0) {
      c = twist::config_from_json(text, "fuzz.json");
    } else {
      const auto eq = text.find('=');
      if (eq == std::string::npos) return 0;
      twist::set_config_value(c, text.substr(0, eq), text.substr(eq + 1));
    }
    twist::validate(c);
    twist::config_from_json(twist::config_to_json(c), "round trip");
  } catch (const twist::Error&) {}
  return 0;
}
