#include "twist/export.h"

#include "twist/error.h"
#include "twist/io.h"

namespace twist {

std::vector<std::pair<std::string, torch::Tensor>> backbone_state_dict(Backbone backbone) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : backbone->named_parameters()) out.emplace_back(p.key(), p.value().detach().contiguous());
  for (const auto& b : backbone->named_buffers()) out.emplace_back(b.key(), b.value().detach().contiguous());
  return out;
}

void export_torchvision(Backbone backbone, const std::string& path) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, tensor] : backbone_state_dict(backbone)) dict.insert(name, tensor.clone());
  // torch::pickle_save writes the zip container that Python's torch.load reads.
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace twist
