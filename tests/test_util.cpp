#include "test_util.h"

#include <ftw.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "twist/augment.h"
#include "twist/data.h"
#include "twist/error.h"

namespace twist::testing {

// POSIX calls rather than std::filesystem: built against PyTorch's CUDA
// wheel, every test that made a temporary directory died with SIGSEGV at
// address 0 (bench/README.md, "CUDA"), while the twist binary, which never
// calls temp_directory_path or remove_all, ran.
TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/twist-test-XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  if (!p) throw std::runtime_error("mkdtemp failed in " + tmpl);
  path = p;
}

namespace {

int remove_entry(const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }

}  // namespace

TempDir::~TempDir() { ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

namespace {

torch::Tensor patterns(int64_t n, int64_t classes, int64_t side, at::Generator& gen, torch::Tensor* labels) {
  *labels = torch::randint(0, classes, {n}, gen, torch::kInt64);
  auto coords = torch::arange(side, torch::kFloat32);
  auto yy = coords.view({-1, 1}).expand({side, side});
  auto xx = coords.view({1, -1}).expand({side, side});
  std::vector<torch::Tensor> protos;
  for (int64_t c = 0; c < classes; ++c) {
    // stripes of class-specific orientation and frequency
    const double angle = M_PI * double(c) / double(classes);
    const double freq = 2.0 * M_PI / (3.0 + double(c % 3));
    protos.push_back(0.5 + 0.5 * torch::sin(freq * (std::cos(angle) * xx + std::sin(angle) * yy)));
  }
  auto base = torch::stack(protos).index_select(0, *labels);
  auto noise = torch::rand({n, side, side}, gen, torch::kFloat32) * 0.3;
  return ((base * 0.7 + noise) * 255).clamp(0, 255).to(torch::kUInt8);
}

}  // namespace

void write_pattern_dataset(const std::string& dir, int64_t n_train, int64_t n_test, int64_t classes, int64_t side,
                           uint64_t seed) {
  std::filesystem::create_directories(dir);
  auto gen = make_generator(seed, 77);
  torch::Tensor y;
  auto x = patterns(n_train, classes, side, gen, &y);
  write_idx(dir + "/train-images-idx3-ubyte", x);
  write_idx(dir + "/train-labels-idx1-ubyte", y);
  x = patterns(n_test, classes, side, gen, &y);
  write_idx(dir + "/t10k-images-idx3-ubyte", x);
  write_idx(dir + "/t10k-labels-idx1-ubyte", y);
}

std::string tiny_train_args(const std::string& data) {
  return "--data idx:" + data +
         " --batch-size 32 --width 0.125 --hidden 32 --classes 4 --warmup-epochs 1 --epochs 5"
         " --log-every 1 --threads 2 --knn-k 5 --collapse-restarts 0 --precision fp32";
}

namespace {

std::string with_test_threads(std::string command) {
  const char* n = std::getenv("TWIST_TEST_THREADS");
  if (!n || !*n) return command;
  const std::string from = " --threads 2", to = std::string(" --threads ") + n;
  for (size_t at = command.find(from); at != std::string::npos; at = command.find(from, at + 1)) {
    const size_t end = at + from.size();
    if (end < command.size() && std::isdigit(static_cast<unsigned char>(command[end]))) continue;  // --threads 20
    command.replace(at, from.size(), to);
  }
  return command;
}

}  // namespace

CommandResult run_command(const std::string& command) {
  FILE* p = ::popen((with_test_threads(command) + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

CommandResult run_twist(const std::string& args) { return run_command(std::string(TWIST_BIN) + " " + args); }

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

bool exists(const std::string& path) { return std::filesystem::exists(path); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const twist::Error& e) { return e.what(); }
  return "(no error)";
}

int64_t parameter_count(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

}  // namespace twist::testing
