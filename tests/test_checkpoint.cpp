// checkpoint.pt: round trip, and every way a file on disk can be damaged
// (cut short, a flipped bit, stray bytes, an older format) or fail to be
// written (no space, the temporary path taken).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "test_util.h"
#include "twist/checkpoint.h"
#include "twist/error.h"
#include "twist/train.h"

namespace {

using twist::testing::error_of;
using twist::testing::read_text;
using twist::testing::TempDir;
using twist::testing::write_text;

twist::TrainConfig tiny_config() {
  twist::TrainConfig c;
  c.width = 0.0625;
  c.hidden = 8;
  c.classes = 3;
  return c;
}

struct Saved {
  TempDir dir;
  std::string path = dir / "checkpoint.pt";
  twist::TwistModel model{twist::model_options(tiny_config(), 1)};
  Saved(int64_t step = 12) {
    twist::save_checkpoint(path, model, nullptr,
                           {step, 3, twist::config_to_json(tiny_config()), {{0.25}, {0.5}}, {"a/1.jpg", "b/2.png"}});
  }
};

TEST(Checkpoint, RoundTripsStateAndWeights) {
  Saved s;
  auto state = twist::read_checkpoint_state(s.path);
  EXPECT_EQ(state.step, 12);
  EXPECT_EQ(state.skipped_steps, 3);
  EXPECT_EQ(state.config_json, twist::config_to_json(tiny_config()));
  EXPECT_EQ(state.norm.mean, std::vector<double>{0.25});
  EXPECT_EQ(state.norm.std, std::vector<double>{0.5});
  EXPECT_EQ(state.skipped_images, (std::vector<std::string>{"a/1.jpg", "b/2.png"}));
  torch::manual_seed(99);  // different initial weights
  twist::TwistModel other(twist::model_options(tiny_config(), 1));
  twist::load_checkpoint(s.path, other, nullptr);
  auto a = s.model->parameters(), b = other->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
  EXPECT_FALSE(twist::testing::exists(s.path + ".tmp"));
}

TEST(Checkpoint, HeaderLayoutIsAsDocumented) {
  Saved s;
  const std::string bytes = read_text(s.path);
  EXPECT_EQ(bytes.substr(0, 8), "TWISTCKP");
  EXPECT_EQ(uint8_t(bytes[8]), twist::kCheckpointFormat);
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= uint64_t(uint8_t(bytes[16 + i])) << (8 * i);
  EXPECT_EQ(length, bytes.size() - 24);
  // The payload is a plain LibTorch archive (a zip file).
  EXPECT_EQ(bytes.substr(24, 2), "PK");
}

TEST(Checkpoint, TruncatedFileNamesTheFile) {
  Saved s;
  const std::string good = read_text(s.path);
  for (size_t keep : {size_t(0), size_t(5), size_t(20), size_t(24), good.size() / 2, good.size() - 1}) {
    write_text(s.path, good.substr(0, keep));
    const std::string e = error_of([&] { twist::read_checkpoint_state(s.path); });
    EXPECT_NE(e.find("checkpoint '" + s.path + "'"), std::string::npos) << keep << ": " << e;
    const bool says_why = e.find("truncated") != std::string::npos || e.find("wrong magic") != std::string::npos;
    EXPECT_TRUE(says_why) << keep << ": " << e;
  }
  write_text(s.path, good.substr(0, good.size() - 1));
  EXPECT_NE(error_of([&] { twist::read_checkpoint_state(s.path); })
                .find("declares " + std::to_string(good.size() - 24) + " bytes of data, the file holds " +
                      std::to_string(good.size() - 25)),
            std::string::npos);
}

TEST(Checkpoint, FlippedByteIsCaughtByTheChecksum) {
  Saved s;
  const std::string good = read_text(s.path);
  // One bit in the middle of the payload, in its first and last byte.
  for (size_t at : {size_t(24), good.size() / 2, good.size() - 1}) {
    std::string bad = good;
    bad[at] = char(bad[at] ^ 0x10);
    write_text(s.path, bad);
    const std::string e = error_of([&] { twist::read_checkpoint_state(s.path); });
    EXPECT_NE(e.find("checkpoint '" + s.path + "' is corrupt: CRC-32"), std::string::npos) << at << ": " << e;
    twist::TwistModel m(twist::model_options(tiny_config(), 1));
    EXPECT_THROW(twist::load_checkpoint(s.path, m, nullptr), twist::Error);
  }
  std::string bad = good;
  bad[1] = 'X';
  write_text(s.path, bad);
  EXPECT_NE(error_of([&] { twist::read_checkpoint_state(s.path); }).find("wrong magic"), std::string::npos);
  bad = good;
  bad[8] = 9;  // format version 9
  write_text(s.path, bad);
  EXPECT_NE(error_of([&] { twist::read_checkpoint_state(s.path); }).find("format version 9"), std::string::npos);
  write_text(s.path, good + "x");
  EXPECT_NE(error_of([&] { twist::read_checkpoint_state(s.path); }).find("stray bytes"), std::string::npos);
  // Format 1 was a bare archive.
  write_text(s.path, good.substr(24));
  EXPECT_NE(error_of([&] { twist::read_checkpoint_state(s.path); }).find("older twist"), std::string::npos);
  std::filesystem::remove(s.path);
  EXPECT_NE(error_of([&] { twist::read_checkpoint_state(s.path); }).find("No such file"), std::string::npos);
}

// A failed write leaves the previous checkpoint readable. /dev/full fails
// every write with ENOSPC, and a directory where the temporary file goes
// cannot be opened: both fail for root too, unlike a read-only directory.
TEST(Checkpoint, FailedWriteKeepsThePreviousCheckpoint) {
  Saved s(12);
  ASSERT_EQ(::symlink("/dev/full", (s.path + ".tmp").c_str()), 0);
  std::string e = error_of([&] {
    twist::save_checkpoint(s.path, s.model, nullptr, {20, 0, "{}", {{0.0}, {1.0}}, {}});
  });
  EXPECT_NE(e.find("cannot write '" + s.path + "': No space left on device"), std::string::npos) << e;
  EXPECT_EQ(twist::read_checkpoint_state(s.path).step, 12);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(s.path + ".tmp")));

  std::filesystem::create_directory(s.path + ".tmp");
  e = error_of([&] { twist::save_checkpoint(s.path, s.model, nullptr, {20, 0, "{}", {{0.0}, {1.0}}, {}}); });
  EXPECT_NE(e.find("cannot write '" + s.path + "': Is a directory"), std::string::npos) << e;
  EXPECT_EQ(twist::read_checkpoint_state(s.path).step, 12);
}

}  // namespace
