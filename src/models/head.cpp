#include "twist/error.h"
#include "twist/models.h"

namespace twist {
namespace nn = torch::nn;

ProjectionHeadImpl::ProjectionHeadImpl(const HeadOptions& o) {
  check(o.classes >= 2, "the number of classes C must be at least 2, got " + std::to_string(o.classes));
  check(o.hidden >= 1, "the head's hidden width must be positive");
  check(o.activation == "relu" || o.activation == "gelu",
        "unknown head activation '" + o.activation + "': expected relu or gelu");
  // Activations hold no parameters: ReLU and GELU heads share their names.
  auto act = [&]() -> nn::AnyModule {
    if (o.activation == "gelu") return nn::AnyModule(nn::GELU());
    return nn::AnyModule(nn::ReLU());
  };
  // Each Linear draws its initial weights when it is built; they are built
  // one statement at a time, last layer first (the order GCC evaluated the
  // single expression this once was), so one seed gives one head on every
  // compiler.
  nn::Linear out(o.hidden, o.classes);
  nn::Linear fc2(o.hidden, o.hidden);
  nn::Linear fc1(o.in_dim, o.hidden);
  layers =
      nn::Sequential(fc1, SyncBatchNorm1d(o.hidden, true), act(), fc2, SyncBatchNorm1d(o.hidden, true), act(), out);
  // NBS: normalization before softmax, without affine parameters (paper §3.2).
  if (o.nbs) layers->push_back(SyncBatchNorm1d(o.classes, false));
  register_module("layers", layers);
}

torch::Tensor ProjectionHeadImpl::forward(const torch::Tensor& features) { return layers->forward(features); }

void ProjectionHeadImpl::set_communicator(const std::shared_ptr<Communicator>& comm, bool nbs_per_rank,
                                          bool sync_hidden) {
  const size_t n = layers->size();
  for (size_t i = 0; i < n; ++i) {
    auto bn = std::dynamic_pointer_cast<SyncBatchNorm1dImpl>(layers->ptr(i));
    if (!bn) continue;
    const bool is_nbs = !bn->weight.defined();
    const bool sync = is_nbs ? !nbs_per_rank : sync_hidden;
    bn->set_communicator(sync ? comm : nullptr);
  }
}

}  // namespace twist
