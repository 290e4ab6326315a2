#pragma once
// Helpers shared by the tests: temporary directories, generated data sets,
// running the twist binary.
#include <torch/torch.h>

#include <functional>
#include <string>

namespace twist::testing {

// A fresh directory under the system's temp dir, removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

// Writes an MNIST-format data set of `classes` distinct, noisy patterns
// (side x side, one channel): train-* with n_train images and t10k-* with
// n_test images, labels included.
void write_pattern_dataset(const std::string& dir, int64_t n_train, int64_t n_test, int64_t classes = 4,
                           int64_t side = 16, uint64_t seed = 0);

// Flags of a small, fast training run on a write_pattern_dataset(dir, 256, ...)
// directory: 16x16 images in 4 classes, batch 32 (8 steps per epoch). Its
// head goes flat (entropy 1.35 of ln 4 by step 40) while the backbone
// learns, so collapse restarts are off: a test about them turns them on.
// Precision fp32, so that verdicts do not depend on whether the CPU has
// native bfloat16 (the default, auto, would pick bf16 where it has).
std::string tiny_train_args(const std::string& data_dir);

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};
// Runs a shell command line, capturing its output. The tests give the twist
// commands they start "--threads 2"; TWIST_TEST_THREADS=N in the
// environment turns every such flag into "--threads N", so that the suite
// can be run with another intra-op thread count (OMP_NUM_THREADS sets the
// in-process tests' count) to show that no verdict depends on it.
CommandResult run_command(const std::string& command);
// Runs the twist binary built with the tests.
CommandResult run_twist(const std::string& args);

std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
bool exists(const std::string& path);

// The message of the twist::Error that `f` throws, or "(no error)".
std::string error_of(const std::function<void()>& f);

// The number of scalars in `params` (a module's parameters()).
int64_t parameter_count(const std::vector<torch::Tensor>& params);

}  // namespace twist::testing
