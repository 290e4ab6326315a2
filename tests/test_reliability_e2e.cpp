// Through the twist binary: what happens when a step goes non-finite, when
// a write fails (disk full, path taken), and when the last metrics line was
// cut short. Each case checks the message, the exit status and that the
// checkpoint on disk is the last good one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "test_util.h"
#include "twist/checkpoint.h"

namespace {

using namespace twist::testing;
using json = nlohmann::json;

class Reliability : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    write_pattern_dataset(*dir_ / "data", 256, 64);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string train(const std::string& name, const std::string& flags) {
    return "train " + tiny_train_args(*dir_ / "data") + " --eval false --out " + out(name) + " " + flags;
  }
  static std::string out(const std::string& name) { return *dir_ / name; }
  static int64_t checkpoint_step(const std::string& name) {
    return twist::read_checkpoint_state(out(name) + "/checkpoint.pt").step;
  }
  static std::vector<json> metrics(const std::string& name) {
    std::vector<json> lines;
    std::istringstream in(read_text(out(name) + "/metrics.jsonl"));
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  }
  static TempDir* dir_;
};
TempDir* Reliability::dir_ = nullptr;

// A temperature of 1e-40 turns the logits into infinities: every step's
// loss is NaN, so every step is a bad one.
TEST_F(Reliability, NonFiniteStepsAreSkippedAndCountedUpToTheLimit) {
  auto r = run_twist(train("skip", "--temperature 1e-40 --max-steps 4 --skip-nonfinite 5 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("step 3: the loss is NaN; step skipped (3 of at most 5)"), std::string::npos) << r.output;
  auto summary = json::parse(read_text(out("skip") + "/summary.json"));
  EXPECT_EQ(summary["skipped_steps"].get<int64_t>(), 4);
  auto lines = metrics("skip");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1]["skipped_steps"].get<int64_t>(), 2);
  EXPECT_FALSE(lines[1].contains("loss"));  // no finite loss to average
  EXPECT_EQ(twist::read_checkpoint_state(out("skip") + "/checkpoint.pt").skipped_steps, 4);

  r = run_twist(train("skip2", "--temperature 1e-40 --max-steps 4 --skip-nonfinite 2"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("error: step 3: the loss is NaN; 2 such steps were skipped already"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("no checkpoint had been written yet"), std::string::npos) << r.output;
  EXPECT_FALSE(exists(out("skip2") + "/summary.json"));
}

// Divergence with a checkpoint after every minute-fraction: the run stops
// at the first bad step and the checkpoint holds the step before it. Also
// shows that --checkpoint-minutes writes checkpoints between epochs.
TEST_F(Reliability, DivergenceStopsWithTheStepAndKeepsTheCheckpointBeforeIt) {
  auto r = run_twist(train("diverge", "--lr 1e30 --warmup-epochs 0 --checkpoint-minutes 1e-9"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("error: step (\\d+): the (loss|gradient)"))) << r.output;
  const int64_t bad = std::stoll(m[1]);
  ASSERT_GE(bad, 2) << r.output;  // the first step starts from finite weights
  EXPECT_EQ(checkpoint_step("diverge"), bad - 1);
  EXPECT_NE(r.output.find("keeps the last good state (step " + std::to_string(bad - 1) + ")"), std::string::npos)
      << r.output;
}

TEST_F(Reliability, FailedCheckpointWriteExitsAndKeepsThePreviousOne) {
  auto r = run_twist(train("ckfail", "--max-steps 40 --checkpoint-every 4 --stop-after-steps 8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(checkpoint_step("ckfail"), 8);
  // The temporary file's path is taken by a directory: the next save fails.
  std::filesystem::create_directory(out("ckfail") + "/checkpoint.pt.tmp");
  r = run_twist("train --resume --out " + out("ckfail"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("error: cannot write '" + out("ckfail") + "/checkpoint.pt': Is a directory"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(checkpoint_step("ckfail"), 8);
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos);
}

TEST_F(Reliability, DiskFullForMetricsExitsAndKeepsTheCheckpoint) {
  auto r = run_twist(train("mfull", "--max-steps 40 --stop-after-steps 8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::filesystem::remove(out("mfull") + "/metrics.jsonl");
  ASSERT_EQ(::symlink("/dev/full", (out("mfull") + "/metrics.jsonl").c_str()), 0);
  r = run_twist("train --resume --out " + out("mfull"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("error: cannot write '" + out("mfull") + "/metrics.jsonl': No space left on device"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(checkpoint_step("mfull"), 8);
}

// A line cut short by a full disk or a kill is ended before appending, so
// the lines the resumed run writes parse.
TEST_F(Reliability, ResumeEndsACutMetricsLine) {
  auto r = run_twist(train("cut", "--max-steps 12 --stop-after-steps 8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string path = out("cut") + "/metrics.jsonl";
  write_text(path, read_text(path) + "{\"step\": 9, \"lo");
  r = run_twist("train --resume --out " + out("cut"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream in(read_text(path));
  int parsed = 0, broken = 0;
  for (std::string line; std::getline(in, line);) {
    if (json::accept(line))
      ++parsed;
    else
      ++broken;
  }
  EXPECT_EQ(parsed, 12);
  EXPECT_EQ(broken, 1);
}

}  // namespace
