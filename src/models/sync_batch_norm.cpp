// BatchNorm1d with statistics over the global batch (SyncBatchNorm).
#include "twist/dist.h"
#include "twist/models.h"

namespace twist {

SyncBatchNorm1dImpl::SyncBatchNorm1dImpl(int64_t features, bool affine) {
  if (affine) {
    weight = register_parameter("weight", torch::ones({features}));
    bias = register_parameter("bias", torch::zeros({features}));
  }
  running_mean = register_buffer("running_mean", torch::zeros({features}));
  running_var = register_buffer("running_var", torch::ones({features}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
}

torch::Tensor SyncBatchNorm1dImpl::forward(const torch::Tensor& x) {
  if (is_training()) {
    torch::NoGradGuard no_grad;
    num_batches_tracked += 1;
  }
  if (!is_training() || !comm_ || comm_->world_size() == 1) {
    // What torch::nn::BatchNorm1d computes.
    return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps,
                             at::globalContext().userEnabledCuDNN());
  }
  // Two passes over the global batch (mean, then centred second moment):
  // as accurate as one process's batch_norm. The count travels with the
  // first sum, so ranks may hold batches of different sizes.
  const int64_t c = x.size(1);
  auto packed = torch::cat({x.sum(0), torch::full({1}, double(x.size(0)), x.options())});
  auto sums = all_reduce_with_grad(packed, comm_);
  const auto n = sums.narrow(0, c, 1).detach();
  auto mean = sums.narrow(0, 0, c) / n;
  auto centred = x - mean;
  auto var = all_reduce_with_grad(centred.pow(2).sum(0), comm_) / n;
  auto y = centred * torch::rsqrt(var + eps);
  if (weight.defined()) y = y * weight + bias;
  {
    torch::NoGradGuard no_grad;
    const double count = n.item<double>();
    running_mean.mul_(1 - momentum).add_(mean.detach() * momentum);
    running_var.mul_(1 - momentum).add_(var.detach() * (momentum * count / std::max(1.0, count - 1)));
  }
  return y;
}

}  // namespace twist
