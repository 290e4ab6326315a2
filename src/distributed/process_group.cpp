// The process group: c10d's TCPStore (or FileStore) rendezvous and its Gloo
// (CPU) or NCCL (CUDA) backend, behind twist::Communicator. Compiled to a
// stub that refuses distributed runs when the build has no c10d headers
// (CMake option TWIST_WITH_DIST).
#include "twist/dist.h"
#include "twist/error.h"

#ifdef TWIST_WITH_DIST
#include <torch/version.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef TWIST_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace twist {

#ifndef TWIST_WITH_DIST

bool dist_available() { return false; }

std::shared_ptr<Communicator> make_process_group(const DistEnv& env, const ProcessGroupOptions&) {
  throw Error(
      "this twist was built without distributed training (TWIST_WITH_DIST=OFF: the c10d/Gloo "
      "headers were not found), but the environment asks for " +
      std::to_string(env.world_size) + " processes (WORLD_SIZE/RANK)");
}

#else

bool dist_available() { return true; }

namespace {

// LibTorch 2.x split the backend (ProcessGroupGloo, ProcessGroupNCCL) from
// the ProcessGroup front; 1.13's backends are ProcessGroups themselves.
#if TORCH_VERSION_MAJOR >= 2
using BackendBase = c10d::Backend;
#else
using BackendBase = c10d::ProcessGroup;
#endif

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

// 'R' running, 'S' sleeping, 'T' stopped, 'Z' dead but not reaped, ""
// when the process is gone.
std::string process_state(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return "";
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? "?" : line.substr(close + 2, 1);
}

class ProcessGroupCommunicator : public Communicator {
 public:
  ProcessGroupCommunicator(const DistEnv& env, const ProcessGroupOptions& o) : env_(env), options_(o) {
    // Gloo writes to sockets whose peer may have died: report that as an
    // error naming the rank, not as a silent death by SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    const std::string where =
        o.file_store.empty() ? env.master_addr + ":" + std::to_string(env.master_port) : "file " + o.file_store;
    try {
      if (!o.file_store.empty()) {
        store_ = c10::make_intrusive<c10d::FileStore>(o.file_store, env.world_size);
      } else {
        c10d::TCPStoreOptions so;
        so.port = static_cast<std::uint16_t>(env.master_port);
        so.isServer = env.rank == 0 && !env.agent_store;
        so.numWorkers = env.world_size;
        so.waitWorkers = true;
        so.timeout = o.timeout;
        store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      }
      store_->setTimeout(o.timeout);
      store_->set(key("who", env.rank), bytes(host_name() + " " + std::to_string(getpid())));
      report_step(-1);
      auto pg_store = c10::make_intrusive<c10d::PrefixStore>("pg", store_);
      if (o.backend == "gloo") {
        auto go = c10d::ProcessGroupGloo::Options::create(o.timeout);
        if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
          go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
        } else if (env.master_addr.rfind("127.", 0) == 0 || env.master_addr == "localhost") {
          go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        } else {
          go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(pg_store, env.rank, env.world_size, go);
      } else if (o.backend == "nccl") {
#ifdef TWIST_WITH_NCCL
        auto no = c10d::ProcessGroupNCCL::Options::create();
        no->timeout = o.timeout;
        pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(pg_store, env.rank, env.world_size, no);
#else
        throw Error("this twist was built without NCCL; use the gloo backend");
#endif
      } else {
        throw Error("unknown distributed backend '" + o.backend + "' (gloo or nccl)");
      }
    } catch (const Error&) { throw; } catch (const std::exception& e) {
      throw Error("rank " + std::to_string(env.rank) + ": rendezvous of " + std::to_string(env.world_size) +
                  " ranks at " + where + " failed (timeout " + seconds() + " s): " + first_line(e.what()) +
                  ". Check that every rank was started with the same MASTER_ADDR/MASTER_PORT and "
                  "WORLD_SIZE, and that the port is free.");
    }
  }

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }

  // Gloo sums no 16-bit floats: a bfloat16 or half tensor (a sum taken in a
  // bf16 forward under autocast, e.g. the NBS statistics) is summed as a
  // float32 copy and written back.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override {
    std::vector<decltype(pg_->barrier())> works;
    std::vector<torch::Tensor> sums;
    for (auto& t : tensors) {
      check(t.is_contiguous(), "all_reduce_sum needs contiguous tensors");
      const bool narrow = t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kHalf;
      sums.push_back(narrow ? t.to(torch::kFloat) : t);
      std::vector<at::Tensor> one{sums.back()};
      works.push_back(call("all-reduce", [&] { return pg_->allreduce(one); }));
    }
    for (auto& w : works) wait(w, "all-reduce");
    for (size_t i = 0; i < tensors.size(); ++i)
      if (!sums[i].is_same(tensors[i])) tensors[i].copy_(sums[i]);
  }

  void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    std::vector<decltype(pg_->barrier())> works;
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    for (auto& t : tensors) {
      check(t.is_contiguous(), "broadcast needs contiguous tensors");
      std::vector<at::Tensor> one{t};
      works.push_back(call("broadcast", [&] { return pg_->broadcast(one, bo); }));
    }
    for (auto& w : works) wait(w, "broadcast");
  }

  void barrier() override {
    auto w = call("barrier", [&] { return pg_->barrier(); });
    wait(w, "barrier");
  }

  void report_step(int64_t step) override {
    try {
      store_->set(key("step", env_.rank), bytes(std::to_string(step)));
    } catch (const std::exception& e) { fail("reporting progress to the store", e.what()); }
  }

 private:
  std::string key(const char* what, int rank) const {
    return std::string("twist/") + what + "/" + std::to_string(rank);
  }
  std::string seconds() const {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options_.timeout).count());
  }

  template <class F>
  auto call(const char* what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::exception& e) { fail(what, e.what()); }
  }

  template <class W>
  void wait(W& work, const char* what) {
    try {
      work->wait();
    } catch (const std::exception& e) { fail(what, e.what()); }
  }

  // What each other rank was doing when a collective failed: its process's
  // state where it runs on this host, and the last step it reported. A peer
  // killed by a signal closes its sockets (the reset that failed this rank)
  // before the kernel marks it dead, so an empty verdict is looked at again
  // for up to two seconds (a "fell behind" too: the dying peer may not have
  // been marked dead yet).
  [[noreturn]] void fail(const std::string& what, const std::string& cause) {
    std::ostringstream msg;
    msg << "rank " << env_.rank << ": " << what << " failed: " << first_line(cause) << " (process-group timeout "
        << seconds() << " s).";
    std::vector<std::string> suspects;
    try {
      store_->setTimeout(std::chrono::seconds(2));
      for (int look = 0; look < 20 && !certain(suspects); ++look) {
        if (look > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        suspects = find_suspects();
      }
    } catch (const std::exception&) {
      // Rank 0 hosts the TCPStore: when the store is gone, so is rank 0.
      if (env_.rank != 0 && options_.file_store.empty())
        suspects.push_back("rank 0 died: the rendezvous store it hosted at " + env_.master_addr + ":" +
                           std::to_string(env_.master_port) + " does not answer");
    }
    if (suspects.empty()) msg << " Another rank died or stopped answering.";
    for (const auto& s : suspects) msg << " " << s << ".";
    throw Error(msg.str());
  }

  // A rank that died or is stopped explains the failure; one that only fell
  // behind may still be on its way out (killed, sockets closed, not yet dead).
  static bool certain(const std::vector<std::string>& suspects) {
    for (const auto& s : suspects)
      if (s.find(") died") != std::string::npos || s.find(") is stopped") != std::string::npos) return true;
    return false;
  }

  // One line per other rank that died, is stopped or fell behind this one.
  std::vector<std::string> find_suspects() {
    const std::string me = host_name();
    const std::string my_step = text(store_->get(key("step", env_.rank)));
    std::vector<std::string> suspects;
    for (int r = 0; r < env_.world_size; ++r) {
      if (r == env_.rank) continue;
      std::istringstream who(text(store_->get(key("who", r))));
      std::string host;
      long pid = 0;
      who >> host >> pid;
      const std::string step = text(store_->get(key("step", r)));
      const std::string state = host == me ? process_state(pid) : "?";
      std::string verdict;
      if (state.empty() || state == "Z" || state == "X")
        verdict = "died";
      else if (state == "T" || state == "t")
        verdict = "is stopped (not running)";
      else if (std::stoll(step) < std::stoll(my_step))
        verdict = "fell behind";
      if (!verdict.empty())
        suspects.push_back("rank " + std::to_string(r) + " (pid " + std::to_string(pid) + " on " + host + ") " +
                           verdict + ", last step it reported: " + step + "; this rank: " + my_step);
    }
    return suspects;
  }

  DistEnv env_;
  ProcessGroupOptions options_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<BackendBase> pg_;
};

}  // namespace

std::shared_ptr<Communicator> make_process_group(const DistEnv& env, const ProcessGroupOptions& options) {
  check(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size,
        "rank " + std::to_string(env.rank) + " is outside a world of " + std::to_string(env.world_size));
  return std::make_shared<ProcessGroupCommunicator>(env, options);
}

#endif

}  // namespace twist
