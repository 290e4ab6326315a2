// Sums over the global batch that autograd differentiates through: what the
// NBS statistics and the diversity term's mean distribution need.
#include <torch/torch.h>

#include "twist/dist.h"
#include "twist/error.h"

namespace twist {
namespace {

// Forward: y = sum over ranks of x. Each rank's loss L_r depends on y, so
// dL_r/dx_r is the sum over ranks k of dL_k/dy: backward all-reduces the
// incoming gradient. Gradient averaging then divides by the world size.
struct AllReduceSum : torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, Communicator* comm) {
    // The communicator outlives the graph (the trainer owns both); an
    // IValue cannot hold it, its address can.
    ctx->saved_data["comm"] = reinterpret_cast<int64_t>(comm);
    std::vector<torch::Tensor> t{x.detach().contiguous().clone()};
    comm->all_reduce_sum(t);
    return t[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* comm = reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
    std::vector<torch::Tensor> g{grads[0].contiguous().clone()};
    comm->all_reduce_sum(g);
    return {g[0], torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_reduce_with_grad(const torch::Tensor& x, const std::shared_ptr<Communicator>& comm) {
  if (!comm || comm->world_size() == 1) return x;
  return AllReduceSum::apply(x, comm.get());
}

std::function<torch::Tensor(const torch::Tensor&)> global_batch_mean(std::shared_ptr<Communicator> comm) {
  return [comm](const torch::Tensor& p) {
    if (!comm || comm->world_size() == 1) return p.mean(0, true);
    // The row count travels with the sums, so unequal per-rank batches
    // still give the exact global mean.
    auto packed = torch::cat({p.sum(0), torch::full({1}, double(p.size(0)), p.options())});
    auto total = all_reduce_with_grad(packed, comm);
    const int64_t c = p.size(1);
    return (total.narrow(0, 0, c) / total.narrow(0, c, 1).detach()).unsqueeze(0);
  };
}

}  // namespace twist
