#pragma once
// Data-parallel training over processes on c10d, the C++ core of
// torch.distributed: Gloo for CPU tensors, NCCL for CUDA tensors where the
// build has it, TCPStore (or FileStore) rendezvous. Without a distributed
// environment everything here is a no-op and one process trains as before.
//
// What makes W processes with batch B equal to one process with batch W*B
// (docs/design.md §5.9): the NBS statistics and the diversity term's batch mean are
// sums over the global batch (all_reduce_with_grad), every other term is a
// per-sample mean that gradient averaging turns into the global mean.
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace twist {

// Where this process sits in the job, read from the environment torchrun,
// Kubernetes PyTorchJob and `twist launch` set (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), else from SLURM
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE).
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source;  // "env", "slurm", or "" for a single process
  // torchrun >= 2.4 hosts the TCPStore in its agent and says so with
  // TORCHELASTIC_USE_AGENT_STORE=True: then rank 0 connects as a client.
  bool agent_store = false;
  bool distributed() const { return world_size > 1; }
};

// `getenv` is injectable for tests. Throws twist::Error naming the variable
// on a malformed or inconsistent value.
DistEnv dist_env_from(const std::function<const char*(const char*)>& getenv);
DistEnv dist_env();  // from the process environment

// True when this build has c10d (CMake option TWIST_WITH_DIST).
bool dist_available();

// The collectives training needs. Every rank calls them in the same order.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sums each tensor over ranks, in place; all are issued before any is
  // waited on, so several buckets are in flight together.
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
  // Copies root's tensors into every rank's tensors, in place.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;
  virtual void barrier() = 0;
  // Records how far this rank got, so that a failure message can say which
  // rank stopped answering.
  virtual void report_step(int64_t step) = 0;
};

struct ProcessGroupOptions {
  // A collective or the rendezvous that waits longer than this fails, with a
  // message naming the ranks that stopped answering.
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  std::string file_store;        // non-empty: rendezvous through this file, not TCP
  std::string backend = "gloo";  // gloo | nccl (needs a build with NCCL)
};

// Joins the process group `env` describes (rank 0 hosts the TCPStore).
// Throws twist::Error when the build lacks c10d or the rendezvous fails.
std::shared_ptr<Communicator> make_process_group(const DistEnv& env, const ProcessGroupOptions& options = {});

// Every rank's `strings` together, sorted and without repeats, on every
// rank (a collective: every rank calls it). E.g. the image files each rank
// passed over, for one count in the summary.
std::vector<std::string> union_over_ranks(Communicator& comm, const std::vector<std::string>& strings);

// Sum over ranks that autograd can differentiate: forward all-reduces x,
// backward all-reduces the incoming gradient (the cotangents of every
// rank's loss add up). With gradients then averaged over ranks this yields
// the gradient of the mean of the ranks' losses.
torch::Tensor all_reduce_with_grad(const torch::Tensor& x, const std::shared_ptr<Communicator>& comm);

// The diversity term's batch mean over the global batch: rows of p (B x C)
// summed on every rank, divided by the global row count. 1 x C.
std::function<torch::Tensor(const torch::Tensor&)> global_batch_mean(std::shared_ptr<Communicator> comm);

// Averages gradients over ranks with one all-reduce per bucket of about
// `bucket_bytes` (parameters in registration order, flattened). Call after
// backward, before the optimizer step. Not overlapped with backward.
class GradientAverager {
 public:
  GradientAverager(std::vector<torch::Tensor> parameters, std::shared_ptr<Communicator> comm,
                   int64_t bucket_bytes = 25 << 20);
  void average();
  size_t bucket_count() const { return buckets_.size(); }

 private:
  std::vector<torch::Tensor> params_;
  std::shared_ptr<Communicator> comm_;
  std::vector<std::vector<size_t>> buckets_;  // indices into params_
};

// Makes every rank start from rank 0's parameters and buffers.
void broadcast_module(torch::nn::Module& module, Communicator& comm);

}  // namespace twist
