// Names of the training precisions, and "auto": bfloat16 where the hardware
// has it natively.
#include <fstream>
#include <sstream>

#include "twist/error.h"
#include "twist/train_step.h"

namespace twist {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw Error("precision '" + name + "' is not one of fp32, bf16");
}

const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

bool cpuinfo_has_native_bf16(const std::string& cpuinfo) {
  std::istringstream lines(cpuinfo);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    for (std::string w; words >> w;)
      if (w == "avx512_bf16" || w == "amx_bf16") return true;
    return false;  // every core lists the same flags
  }
  return false;
}

bool cpu_has_native_bf16() {
  std::ifstream in("/proc/cpuinfo");
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  return cpuinfo_has_native_bf16(text.str());
}

Precision resolve_precision(const std::string& name, const torch::Device& device) {
  if (name != "auto") return parse_precision(name);
  return device.is_cuda() || cpu_has_native_bf16() ? Precision::bf16 : Precision::fp32;
}

std::string bf16_speed_warning(Precision precision, bool on_gpu, bool native_bf16) {
  if (precision != Precision::bf16 || on_gpu || native_bf16) return "";
  return "bf16 on this CPU is emulated (/proc/cpuinfo lists neither avx512_bf16 nor amx_bf16) and runs many times "
         "slower than fp32: --precision auto (or fp32) trains faster here";
}

}  // namespace twist
