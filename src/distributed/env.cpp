// The distributed environment: torchrun's variables first, SLURM's second.
#include <cstdlib>
#include <string>

#include "twist/dist.h"
#include "twist/error.h"

namespace twist {
namespace {

using Getenv = std::function<const char*(const char*)>;

bool has(const Getenv& env, const char* name) {
  const char* v = env(name);
  return v != nullptr && *v != '\0';
}

int parse_int(const Getenv& env, const char* name, int lo, int hi) {
  const std::string text = env(name);
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) { used = 0; }
  check(used == text.size() && used > 0 && v >= lo && v <= hi,
        std::string("environment variable ") + name + "='" + text + "' must be an integer in [" + std::to_string(lo) +
            ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

int int_or(const Getenv& env, const char* name, int fallback, int lo, int hi) {
  return has(env, name) ? parse_int(env, name, lo, hi) : fallback;
}

}  // namespace

DistEnv dist_env_from(const Getenv& env) {
  DistEnv d;
  const int max_world = 1 << 20;
  if (has(env, "WORLD_SIZE") || has(env, "RANK")) {
    check(has(env, "WORLD_SIZE") && has(env, "RANK"),
          "RANK and WORLD_SIZE must be set together (torchrun and `twist launch` set both)");
    d.world_size = parse_int(env, "WORLD_SIZE", 1, max_world);
    d.rank = parse_int(env, "RANK", 0, d.world_size - 1);
    d.local_rank = int_or(env, "LOCAL_RANK", 0, 0, max_world);
    d.local_world_size = int_or(env, "LOCAL_WORLD_SIZE", 1, 1, max_world);
    d.source = "env";
  } else if (has(env, "SLURM_NTASKS") && has(env, "SLURM_PROCID")) {
    // srun starts one task per process; SLURM names no master, so the job
    // script exports MASTER_ADDR (the first host of the allocation).
    d.world_size = parse_int(env, "SLURM_NTASKS", 1, max_world);
    d.rank = parse_int(env, "SLURM_PROCID", 0, d.world_size - 1);
    d.local_rank = int_or(env, "SLURM_LOCALID", 0, 0, max_world);
    if (has(env, "SLURM_NTASKS_PER_NODE")) {
      // "4" or "4(x2)": the count before any parenthesis.
      const std::string s = env("SLURM_NTASKS_PER_NODE");
      d.local_world_size = std::max(1, std::atoi(s.c_str()));
    }
    d.source = "slurm";
  } else {
    return d;
  }
  check(d.local_rank < d.local_world_size || !has(env, "LOCAL_WORLD_SIZE"),
        "LOCAL_RANK=" + std::to_string(d.local_rank) +
            " is not below LOCAL_WORLD_SIZE=" + std::to_string(d.local_world_size));
  if (has(env, "MASTER_ADDR")) {
    d.master_addr = env("MASTER_ADDR");
  } else {
    check(d.world_size == 1 || d.source != "slurm",
          "SLURM runs need MASTER_ADDR: export MASTER_ADDR=$(scontrol show hostnames "
          "\"$SLURM_JOB_NODELIST\" | head -n 1) in the job script (docs/scaling.md)");
  }
  d.master_port = int_or(env, "MASTER_PORT", d.master_port, 1, 65535);
  d.agent_store =
      has(env, "TORCHELASTIC_USE_AGENT_STORE") && std::string(env("TORCHELASTIC_USE_AGENT_STORE")) == "True";
  return d;
}

DistEnv dist_env() {
  return dist_env_from([](const char* name) { return std::getenv(name); });
}

}  // namespace twist
