#include <sys/stat.h>

#include <cstdio>

#include "twist/error.h"
#include "twist/run.h"

namespace twist {

Run open_run(const std::string& dir) {
  check(!dir.empty(), "no run directory given: --run DIR (a directory written by twist train)");
  struct stat st;
  check(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "run directory '" + dir + "' does not exist");
  Run run;
  run.dir = dir;
  const std::string ckpt = run.path("checkpoint.pt");
  check(::stat(ckpt.c_str(), &st) == 0,
        "'" + dir + "' is not a twist run directory: it has no checkpoint.pt (train one with twist train --out " + dir +
            ")");
  const VerifiedCheckpoint verified = read_checkpoint(ckpt);
  run.state = verified.state;
  run.config = config_from_json(run.state.config_json, ckpt, saved_run_base());
  const int64_t channels = static_cast<int64_t>(run.state.norm.mean.size());
  check(channels == 1 || channels == 3, "checkpoint '" + ckpt + "' holds no valid input normalization");
  run.model = TwistModel(model_options(run.config, channels));
  load_weights(verified, run.model, nullptr);
  run.model->eval();
  return run;
}

std::string run_data_spec(const Run& run, const std::string& spec) { return spec.empty() ? run.config.data : spec; }

}  // namespace twist
