// Keeping the model replicas of all ranks equal: the same start (rank 0's
// parameters and buffers) and the same update (gradients averaged).
#include <torch/torch.h>

#include "twist/dist.h"
#include "twist/error.h"

namespace twist {

GradientAverager::GradientAverager(std::vector<torch::Tensor> parameters, std::shared_ptr<Communicator> comm,
                                   int64_t bucket_bytes)
    : comm_(std::move(comm)) {
  for (auto& p : parameters)
    if (p.requires_grad()) params_.push_back(p);
  // Buckets in registration order, each of one dtype, closed at bucket_bytes.
  int64_t bytes = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    const bool fresh =
        buckets_.empty() || bytes >= bucket_bytes || params_[buckets_.back().front()].scalar_type() != p.scalar_type();
    if (fresh) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().push_back(i);
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
}

void GradientAverager::average() {
  if (!comm_ || comm_->world_size() == 1) return;
  torch::NoGradGuard no_grad;
  // A parameter without a gradient contributes zeros, so every rank sends
  // buckets of the same size.
  std::vector<torch::Tensor> flat;
  flat.reserve(buckets_.size());
  for (const auto& bucket : buckets_) {
    std::vector<torch::Tensor> parts;
    for (size_t i : bucket) {
      const auto& p = params_[i];
      parts.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options()));
    }
    flat.push_back(torch::cat(parts));
  }
  comm_->all_reduce_sum(flat);
  const double inv = 1.0 / comm_->world_size();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    flat[b].mul_(inv);
    int64_t offset = 0;
    for (size_t i : buckets_[b]) {
      auto& p = params_[i];
      auto slice = flat[b].narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
      if (p.grad().defined())
        p.mutable_grad().copy_(slice);
      else
        p.mutable_grad() = slice.clone();
    }
  }
}

void broadcast_module(torch::nn::Module& module, Communicator& comm) {
  if (comm.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> targets, flat;
  for (auto& t : module.parameters()) targets.push_back(t);
  for (auto& t : module.buffers()) targets.push_back(t);
  // Channels-last weights are not contiguous: send contiguous copies.
  for (auto& t : targets) flat.push_back(t.contiguous().clone());
  comm.broadcast(flat, 0);
  for (size_t i = 0; i < targets.size(); ++i) targets[i].copy_(flat[i]);
}

}  // namespace twist
