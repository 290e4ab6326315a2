#include "twist/device.h"

#include <ATen/Context.h>

#include <cctype>

#include "twist/error.h"

namespace twist {

bool is_device_name(const std::string& spec) {
  if (spec == "cpu" || spec == "cuda") return true;
  const std::string prefix = "cuda:";
  if (spec.size() <= prefix.size() || spec.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string digits = spec.substr(prefix.size());
  if (digits.size() > 3) return false;
  for (char c : digits)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string device_name_problem(const std::string& spec) { return "'" + spec + "' is not one of cpu, cuda, cuda:N"; }

torch::Device parse_device(const std::string& spec) {
  if (!is_device_name(spec)) throw Error("device " + device_name_problem(spec));
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec == "cuda") return torch::Device(torch::kCUDA);
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(std::stoi(spec.substr(5))));
}

bool cuda_available() { return torch::cuda::is_available(); }

torch::Device require_device(const std::string& spec) {
  const torch::Device device = parse_device(spec);
  if (!device.is_cuda()) return device;
  if (!at::hasCUDA())
    throw Error("--device " + spec + ": this twist was built against a LibTorch without CUDA (Debian's is CPU-only); " +
                "build against a CUDA LibTorch (README: Building with CUDA) or use --device cpu");
  const int64_t n = static_cast<int64_t>(torch::cuda::device_count());
  if (n == 0)
    throw Error("--device " + spec + ": LibTorch has CUDA but sees no GPU (no driver, or CUDA_VISIBLE_DEVICES " +
                "hides them); use --device cpu");
  if (device.has_index() && device.index() >= n)
    throw Error("--device " + spec + ": there are " + std::to_string(n) + " GPU(s), numbered from 0");
  // Every step has the same shapes, so cuDNN's autotuning (as the reference
  // code sets it) pays for itself after the first steps.
  at::globalContext().setBenchmarkCuDNN(true);
  return device;
}

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device) {
  if (t.device() == device) return t;
  if (device.is_cuda() && t.device().is_cpu()) return t.pin_memory().to(device, /*non_blocking=*/true);
  return t.to(device);
}

}  // namespace twist
