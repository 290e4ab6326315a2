// One rank of the distributed-equivalence test (tests/test_dist.cpp): a
// tiny TWIST model's loss and parameter gradients on a fixed global batch.
// Run alone it is one process with the whole batch; under `twist launch`
// (RANK, WORLD_SIZE, ...) rank r takes the r-th slice of every view. Writes
// {global loss, gradient of every parameter} to OUT.rank<r>.pt. With
// --float64 the model, the inputs and every reduction are in double
// precision, so that the two sides' difference is the method's, not float32
// rounding summed in a different order.
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "twist/dist.h"
#include "twist/loss.h"
#include "twist/models.h"

int main(int argc, char** argv) {
  int views = 2;
  int64_t batch = 8;
  bool nbs_per_rank = false, sync_bn = true, float64 = false;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--views" && i + 1 < argc)
      views = std::stoi(argv[++i]);
    else if (a == "--batch" && i + 1 < argc)
      batch = std::stoll(argv[++i]);
    else if (a == "--out" && i + 1 < argc)
      out = argv[++i];
    else if (a == "--nbs-per-rank")
      nbs_per_rank = true;
    else if (a == "--no-sync-bn")
      sync_bn = false;
    else if (a == "--float64")
      float64 = true;
    else {
      std::fprintf(stderr, "dist_worker: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  try {
    at::set_num_threads(1);
    const twist::DistEnv env = twist::dist_env();
    std::shared_ptr<twist::Communicator> comm;
    if (env.distributed()) comm = twist::make_process_group(env);
    const int world = env.world_size;

    if (float64) torch::set_default_dtype(caffe2::TypeMeta::Make<double>());
    torch::manual_seed(7);
    twist::TwistModelOptions mo;
    mo.backbone.width = 0.125;
    mo.backbone.in_channels = 1;
    mo.head.hidden = 32;
    mo.head.classes = 10;
    twist::TwistModel model(mo);
    model->train();
    // The backbone's BatchNorms stay per rank (no SyncBatchNorm there): in
    // eval mode they are per-sample maps, so the comparison is exact.
    model->backbone->eval();
    if (comm) {
      model->head->set_communicator(comm, nbs_per_rank, sync_bn);
      twist::broadcast_module(*model, *comm);
    }

    // Fixed global batch: 2 global 16x16 crops, then 8x8 local crops.
    auto gen = at::detail::createCPUGenerator(11);
    std::vector<torch::Tensor> inputs;
    for (int v = 0; v < views; ++v) {
      const int64_t side = v < 2 ? 16 : 8;
      auto x = torch::randn({batch, 1, side, side}, gen);
      const int64_t local = batch / world;
      inputs.push_back(x.narrow(0, env.rank * local, local).contiguous());
    }
    twist::TwistLossOptions lo;
    lo.temperature = 0.5;
    if (comm) lo.batch_mean = twist::global_batch_mean(comm);
    auto terms = twist::twist_loss(model->forward(inputs), lo);
    terms.total.backward();
    twist::GradientAverager averager(model->parameters(), comm);
    averager.average();

    auto loss = terms.total.detach().clone().reshape({1});
    if (comm) {
      std::vector<torch::Tensor> l{loss};
      comm->all_reduce_sum(l);
      loss /= world;
    }
    std::vector<torch::Tensor> result{loss};
    for (auto& p : model->parameters()) result.push_back(p.grad().contiguous());
    torch::save(result, out + ".rank" + std::to_string(env.rank) + ".pt");
    std::fprintf(stderr, "dist_worker rank %d/%d: loss %.6f, %zu gradient buckets\n", env.rank, world,
                 loss.item<double>(), averager.bucket_count());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_worker: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
