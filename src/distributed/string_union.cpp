// The union of every rank's strings, through the sums the communicator
// offers: each rank writes its strings' bytes into its own slot of a zeroed
// buffer, and the sum over ranks is every slot filled.
#include <torch/torch.h>

#include <set>

#include "twist/dist.h"

namespace twist {
namespace {

// A world_size x width buffer whose row `rank` is filled by `fill`, summed
// over ranks.
torch::Tensor slots(Communicator& comm, int64_t width, const std::function<void(torch::Tensor)>& fill) {
  std::vector<torch::Tensor> t{torch::zeros({comm.world_size(), width}, torch::kInt32)};
  fill(t[0][comm.rank()]);
  comm.all_reduce_sum(t);
  return t[0];
}

}  // namespace

std::vector<std::string> union_over_ranks(Communicator& comm, const std::vector<std::string>& strings) {
  std::string mine;  // the strings, each ended by a NUL
  for (const auto& s : strings) mine += s + '\0';
  const torch::Tensor sizes = slots(comm, 1, [&](torch::Tensor slot) { slot.fill_(int32_t(mine.size())); });
  const int64_t width = std::max<int64_t>(1, sizes.max().item<int64_t>());
  const torch::Tensor bytes = slots(comm, width, [&](torch::Tensor slot) {
    std::vector<int32_t> codes(mine.begin(), mine.end());
    for (auto& c : codes) c &= 0xFF;  // a byte, not a signed char
    slot.narrow(0, 0, int64_t(codes.size())).copy_(torch::tensor(codes, torch::kInt32));
  });
  std::set<std::string> all(strings.begin(), strings.end());
  auto b = bytes.contiguous();
  for (int64_t r = 0; r < comm.world_size(); ++r) {
    const int32_t* p = b[r].data_ptr<int32_t>();
    const int64_t n = sizes[r][0].item<int64_t>();
    std::string s;
    for (int64_t i = 0; i < n; ++i) {
      if (p[i] == 0) {
        all.insert(s);
        s.clear();
      } else {
        s += char(p[i]);
      }
    }
  }
  return {all.begin(), all.end()};
}

}  // namespace twist
