// Devices: the --device setting's syntax and its errors (everywhere), and on
// a machine with a GPU, the GPU path against the host's (skipped without one,
// saying so: CI has no GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "twist/device.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/loader.h"
#include "twist/train_step.h"

namespace {

using namespace twist;
using namespace twist::testing;

#define SKIP_WITHOUT_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: this LibTorch has no CUDA or sees no GPU"

TEST(Device, ParsesCpuCudaAndAnIndexedGpu) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  const torch::Device any = parse_device("cuda");
  EXPECT_TRUE(any.is_cuda());
  EXPECT_FALSE(any.has_index());
  const torch::Device third = parse_device("cuda:2");
  EXPECT_TRUE(third.is_cuda());
  EXPECT_EQ(third.index(), 2);
}

TEST(Device, OtherNamesAreOneErrorNamingTheValue) {
  for (const char* bad : {"gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:1:2", "cuda:99999", ""}) {
    const std::string e = error_of([&] { parse_device(bad); });
    EXPECT_NE(e.find("device '" + std::string(bad) + "' is not one of cpu, cuda, cuda:N"), std::string::npos)
        << bad << ": " << e;
  }
  EXPECT_TRUE(require_device("cpu").is_cpu());
}

TEST(Device, AskingForAGpuWhereThereIsNoneIsOneClearError) {
  if (cuda_available()) GTEST_SKIP() << "this machine has a GPU";
  const std::string e = error_of([] { require_device("cuda"); });
  EXPECT_NE(e.find("--device cuda: "), std::string::npos) << e;
  EXPECT_NE(e.find("use --device cpu"), std::string::npos) << e;
  // Through the command line: exit 1, the message, no run directory.
  TempDir dir;
  write_pattern_dataset(dir / "data", 64, 16);
  auto r = run_twist("train " + tiny_train_args(dir / "data") + " --device cuda --out " + dir / "run");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--device cuda: "), std::string::npos) << r.output;
  EXPECT_FALSE(exists(dir / "run/checkpoint.pt"));
  r = run_twist("train " + tiny_train_args(dir / "data") + " --device gpu --out " + dir / "run");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("invalid setting device: 'gpu' is not one of cpu, cuda, cuda:N"), std::string::npos)
      << r.output;
}

TEST(Device, ToDeviceLeavesHostTensorsAlone) {
  const auto t = torch::arange(6);
  const auto same = to_device(t, torch::kCPU);
  EXPECT_EQ(same.data_ptr(), t.data_ptr());
}

// --- on a GPU ---------------------------------------------------------------

TEST(Cuda, AugmentedViewsOnTheGpuMatchTheHost) {
  SKIP_WITHOUT_CUDA();
  Dataset d;
  torch::manual_seed(0);
  d.images = torch::randint(0, 256, {64, 3, 20, 20}, torch::kInt64).to(torch::kUInt8);
  const EpochSampler sampler(d.size(), 16, 3);
  const MultiCropOptions crops = MultiCropOptions::paper(20, 2, 8);
  const Normalization norm{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
  const Batch host = BatchLoader::make_batch(d, sampler, crops, norm, 3, 1);
  const Batch gpu = BatchLoader::make_batch(d, sampler, crops, norm, 3, 1, torch::Device(torch::kCUDA));
  ASSERT_EQ(host.views.size(), gpu.views.size());
  for (size_t v = 0; v < host.views.size(); ++v) {
    EXPECT_TRUE(gpu.views[v].is_cuda());
    // The same random draws; only the arithmetic differs (GPU bicubic sampling).
    EXPECT_LT((gpu.views[v].cpu() - host.views[v]).abs().max().item<double>(), 2e-3) << "view " << v;
  }
}

TEST(Cuda, AutocastScopeTurnsGpuAutocastOnAndRestoresIt) {
  SKIP_WITHOUT_CUDA();
  const auto a = torch::randn({8, 8}, torch::Device(torch::kCUDA));
  {
    AutocastScope scope(Precision::bf16, a.device());
    EXPECT_EQ(torch::matmul(a, a).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::matmul(a, a).scalar_type(), torch::kFloat32);
}

// The training log measures the spread of each step's outputs where they
// are: on the GPU during a GPU run.
TEST(Cuda, OutputSpreadOfGpuLogitsEqualsTheHosts) {
  SKIP_WITHOUT_CUDA();
  const auto host = torch::randn({64, 10});
  const OutputSpread a = output_spread(host), b = output_spread(host.to(torch::Device(torch::kCUDA)));
  EXPECT_NEAR(a.row_std, b.row_std, 1e-9);
  EXPECT_NEAR(a.col_std, b.col_std, 1e-9);
}

TEST(CudaE2E, TrainsOnTheGpuAndItsCheckpointLoadsOnTheHost) {
  SKIP_WITHOUT_CUDA();
  TempDir dir;
  write_pattern_dataset(dir / "data", 256, 64);
  auto r = run_twist("train " + tiny_train_args(dir / "data") + " --device cuda --precision bf16 --out " + dir / "run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cuda"), std::string::npos) << r.output;
  const auto s = nlohmann::json::parse(read_text(dir / "run/summary.json"));
  const double knn = s["knn_top1"].get<double>();
  EXPECT_GT(knn, 0.5) << "4 pattern classes";
  // Evaluated again on the host from the checkpoint: the same features up to
  // the GPU's arithmetic.
  r = run_twist("eval knn --run " + dir / "run" + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto e = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_NEAR(e["top1"].get<double>(), knn, 0.05);
}

}  // namespace
