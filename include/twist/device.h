#pragma once
// Where training runs: "cpu", "cuda" or "cuda:N". A CUDA device needs a
// LibTorch built with CUDA and a visible GPU; without either, asking for one
// is one clear error rather than a crash deep inside the first operation.
#include <torch/torch.h>

#include <string>

namespace twist {

// "cpu" | "cuda" | "cuda:N" (N a non-negative integer); anything else is a
// twist::Error naming the value. Checks the syntax only.
torch::Device parse_device(const std::string& spec);
// Whether `spec` is one of the names parse_device takes, and what is wrong
// with it when it is not ("'gpu' is not one of cpu, cuda, cuda:N").
bool is_device_name(const std::string& spec);
std::string device_name_problem(const std::string& spec);

// Whether this LibTorch has CUDA and sees at least one GPU.
bool cuda_available();

// parse_device, then a twist::Error when a CUDA device is asked for and this
// build or machine cannot give it (no CUDA in LibTorch, no GPU, index past
// the number of GPUs), saying which and what to use instead.
torch::Device require_device(const std::string& spec);

// Copies a host tensor to `device`: from pinned (page-locked) memory and
// without waiting when the device is a GPU, so the copy overlaps the work
// already queued; a no-op for the CPU.
torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device);

}  // namespace twist
