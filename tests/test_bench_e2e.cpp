// twist bench end to end through the binary on a tiny generated data set:
// its JSON contract, and its bad inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "twist/train_step.h"

namespace {

using namespace twist::testing;
using json = nlohmann::json;

class BenchE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    write_pattern_dataset(*dir_ / "data", 256, 16);
  }
  static void TearDownTestSuite() { delete dir_; }
  // A tiny model on 16x16 images: each step takes milliseconds. One thread:
  // two on a loaded 2-core machine stall at every parallel region.
  static std::string tiny() {
    return "bench --data idx:" + *dir_ / "data" + " --batch-size 32 --width 0.125 --hidden 32 --classes 4 --threads 1";
  }
  static CommandResult bench(const std::string& args, json* out) {
    const std::string path = *dir_ / "bench.json";
    // In a sub-shell: run_command sends the sub-shell's stderr to the pipe.
    auto r = run_command("(" + std::string(TWIST_BIN) + " " + tiny() + " " + args + " > " + path + ")");
    if (r.exit_code == 0) *out = json::parse(read_text(path));
    return r;
  }
  static TempDir* dir_;
};
TempDir* BenchE2E::dir_ = nullptr;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

TEST_F(BenchE2E, JsonHasTheKeysAndSaneFigures) {
  json j;
  auto r = bench("--rounds 3 --steps 2 --warmup 1 --local-crops 2 --local-size 8 --json", &j);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* key : {"compute_images_per_s", "end_to_end_images_per_s", "end_to_end_fraction", "peak_rss_mb"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    const double v = j[key].get<double>();
    EXPECT_TRUE(std::isfinite(v) && v > 0) << key << " = " << v;
  }
  // The medians are those of the per-round figures, one per round.
  const auto compute = j["compute_rounds"].get<std::vector<double>>();
  const auto e2e = j["end_to_end_rounds"].get<std::vector<double>>();
  const auto fraction = j["end_to_end_fraction_rounds"].get<std::vector<double>>();
  ASSERT_EQ(compute.size(), 3u);
  ASSERT_EQ(e2e.size(), 3u);
  ASSERT_EQ(fraction.size(), 3u);
  EXPECT_DOUBLE_EQ(j["compute_images_per_s"].get<double>(), median(compute));
  EXPECT_DOUBLE_EQ(j["end_to_end_images_per_s"].get<double>(), median(e2e));
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(fraction[i], e2e[i] / compute[i], 1e-9);
  EXPECT_DOUBLE_EQ(j["end_to_end_fraction"].get<double>(), median(fraction));
  // End to end does the compute-only step and more; anything far above 1
  // means the two are not timing the same step (the bound leaves room for
  // noise on a shared machine with 2-step rounds).
  EXPECT_LT(j["end_to_end_fraction"].get<double>(), 2.0);
  for (double w : j["loader_wait_fraction_rounds"].get<std::vector<double>>()) EXPECT_TRUE(w >= 0 && w <= 1) << w;
  for (double m : j["rss_mb_rounds"].get<std::vector<double>>()) EXPECT_LE(m, j["peak_rss_mb"].get<double>() + 1.0);
  EXPECT_EQ(j["batch_size"], 32);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["arch"], "resnet18");
  EXPECT_EQ(j["views"], "2x16+2x8");
  // The default precision, auto, is reported as what it resolved to.
  EXPECT_EQ(j["precision"], twist::cpu_has_native_bf16() ? "bf16" : "fp32");
  EXPECT_EQ(j["images_counted"], "source images (each gives 4 views)");
}

TEST_F(BenchE2E, Bf16RunsAndHumanOutputHasTheTable) {
  json j;
  auto r = bench("--rounds 1 --steps 1 --warmup 0 --precision bf16 --json", &j);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_GT(j["compute_images_per_s"].get<double>(), 0.0);
  auto human = run_twist(tiny() + " --rounds 2 --steps 1 --warmup 0");
  ASSERT_EQ(human.exit_code, 0) << human.output;
  EXPECT_NE(human.output.find("compute img/s"), std::string::npos) << human.output;
  EXPECT_NE(human.output.find("median"), std::string::npos) << human.output;
}

TEST_F(BenchE2E, BadInputsExitOneWithAMessage) {
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--rounds 0", "--rounds must be at least 1, got 0"},
      {"--steps -2", "--steps must be at least 1, got -2"},
      {"--precision fp16", "invalid setting precision: 'fp16' is not one of auto, fp32, bf16"},
      {"--batch-size 1", "invalid setting batch_size"},
      {"--batch-size 512", "fewer than one batch"},
  };
  for (const auto& c : cases) {
    auto r = run_twist(tiny() + " " + c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  auto r = run_twist("bench --data idx:" + *dir_ / "missing" + " --rounds 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("missing"), std::string::npos) << r.output;
  // Settings of a run's length are not bench flags.
  r = run_twist(tiny() + " --epochs 3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--epochs"), std::string::npos) << r.output;
}

}  // namespace
