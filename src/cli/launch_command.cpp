// `twist launch --nproc N -- COMMAND...`: starts N copies of COMMAND on this
// machine with the environment torchrun would give them (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and supervises
// them: when one fails the others are stopped (SIGTERM, then SIGKILL after
// a grace period), and SIGINT/SIGTERM are forwarded to every rank.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "twist/error.h"

namespace twist::cli {
namespace {

std::atomic<int> g_forward{0};
extern "C" void on_launch_signal(int sig) { g_forward = sig; }

// A port the kernel says is free now (it may be taken before rank 0 binds
// it; pass --master-port to choose one).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  check(fd >= 0, "twist launch: cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  check(ok, "twist launch: cannot find a free port; pass --master-port");
  return ntohs(addr.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

struct LaunchOptions {
  int nproc = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  double grace = 10;
  std::vector<std::string> command;
};

int launch(const LaunchOptions& o) {
  check(o.nproc >= 1, "twist launch: --nproc must be at least 1");
  check(!o.command.empty(), "twist launch: give the command after --, e.g. twist launch --nproc 2 -- twist train ...");
  const int port = o.master_port > 0 ? o.master_port : free_port();

  struct sigaction sa {};
  sa.sa_handler = on_launch_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<pid_t> pids(o.nproc, -1);
  std::vector<bool> running(o.nproc, false);
  for (int r = 0; r < o.nproc; ++r) {
    const pid_t pid = fork();
    check(pid >= 0, std::string("twist launch: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      std::fprintf(stderr, "twist launch: cannot run '%s': %s\n", argv[0], std::strerror(errno));
      _exit(127);
    }
    pids[r] = pid;
    running[r] = true;
  }
  std::fprintf(stderr, "twist launch: %d ranks on %s:%d, pids", o.nproc, o.master_addr.c_str(), port);
  for (pid_t p : pids) std::fprintf(stderr, " %d", int(p));
  std::fprintf(stderr, "\n");

  auto signal_all = [&](int sig) {
    for (int r = 0; r < o.nproc; ++r)
      if (running[r]) kill(pids[r], sig);
  };
  int result = 0;
  bool failed = false;
  int forwarded = 0;
  std::chrono::steady_clock::time_point kill_at{};
  int left = o.nproc;
  while (left > 0) {
    if (const int sig = g_forward.exchange(0)) {
      std::fprintf(stderr, "twist launch: forwarding signal %d to every rank\n", sig);
      forwarded = sig;
      signal_all(sig);
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      int r = 0;
      while (r < o.nproc && pids[r] != pid) ++r;
      if (r == o.nproc) continue;
      running[r] = false;
      --left;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      const bool from_forward = forwarded != 0 && exit_code(status) == 128 + forwarded;
      if (!ok && !failed && !from_forward) {
        failed = true;
        result = exit_code(status);
        std::fprintf(stderr,
                     "twist launch: rank %d (pid %d) %s; stopping the other ranks (SIGTERM, SIGKILL after %.0f s)\n", r,
                     int(pid), describe(status).c_str(), o.grace);
        signal_all(SIGTERM);
        kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.grace * 1000));
      } else if (from_forward && result == 0) {
        result = exit_code(status);
      }
      continue;
    }
    if (failed && std::chrono::steady_clock::now() >= kill_at) {
      for (int r = 0; r < o.nproc; ++r)
        if (running[r])
          std::fprintf(stderr, "twist launch: rank %d (pid %d) did not stop; killing it\n", r, int(pids[r]));
      signal_all(SIGKILL);
      kill_at = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return result;
}

}  // namespace

std::function<int()> add_launch_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "launch",
      "Run N ranks of a distributed command on this machine, as torchrun --nproc-per-node N would:\n"
      "  twist launch --nproc 2 -- twist train --out runs/dist\n"
      "Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. When a\n"
      "rank fails the others are stopped; Ctrl-C and SIGTERM reach every rank. Multi-node runs:\n"
      "docs/scaling.md (torchrun, srun, PyTorchJob).");
  auto o = std::make_shared<LaunchOptions>();
  cmd->add_option("--nproc", o->nproc, "number of ranks (processes) to start")->required();
  cmd->add_option("--master-addr", o->master_addr, "address of rank 0's rendezvous store [127.0.0.1]");
  cmd->add_option("--master-port", o->master_port, "its port; 0 picks a free one [0]");
  cmd->add_option("--grace", o->grace, "seconds the other ranks get to stop after one failed, before SIGKILL [10]");
  cmd->add_option("command", o->command, "the command every rank runs (after --)")->required();
  return [o]() { return launch(*o); };
}

}  // namespace twist::cli
