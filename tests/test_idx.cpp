#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "test_util.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/loader.h"

namespace {

using twist::testing::error_of;
using twist::testing::TempDir;

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void gzip_file(const std::string& from, const std::string& to) {
  auto bytes = read_bytes(from);
  gzFile g = gzopen(to.c_str(), "wb");
  gzwrite(g, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(g);
}

TEST(Idx, RoundTripRawAndGzipped) {
  TempDir d;
  auto images = torch::randint(0, 256, {5, 3, 4}, torch::kInt64).to(torch::kUInt8);
  twist::write_idx(d / "x", images);
  EXPECT_TRUE(torch::equal(twist::read_idx(d / "x"), images));
  gzip_file(d / "x", d / "x.gz");
  EXPECT_TRUE(torch::equal(twist::read_idx(d / "x.gz"), images));
  // header: 0 0 8 3, then 5, 3, 4 as big-endian 32-bit
  auto bytes = read_bytes(d / "x");
  ASSERT_EQ(bytes.size(), 16u + 60u);
  EXPECT_EQ(bytes[2], 0x08);
  EXPECT_EQ(bytes[3], 3);
  EXPECT_EQ(bytes[7], 5);
}

TEST(Idx, RejectsMalformedFiles) {
  TempDir d;
  twist::write_idx(d / "good", torch::zeros({4, 2, 2}, torch::kUInt8));
  auto good = read_bytes(d / "good");

  auto bad = good;
  bad[0] = 0x12;
  write_bytes(d / "magic", bad);
  EXPECT_NE(error_of([&] { twist::read_idx(d / "magic"); }).find("wrong magic number"), std::string::npos);

  bad = good;
  bad[2] = 0x0D;  // float data
  write_bytes(d / "type", bad);
  EXPECT_NE(error_of([&] { twist::read_idx(d / "type"); }).find("holds IDX type 0x0D; only unsigned bytes"),
            std::string::npos);

  bad.assign(good.begin(), good.end() - 3);
  write_bytes(d / "short", bad);
  EXPECT_NE(error_of([&] { twist::read_idx(d / "short"); }).find("truncated"), std::string::npos);

  bad = good;
  bad.push_back(7);
  write_bytes(d / "long", bad);
  EXPECT_NE(error_of([&] { twist::read_idx(d / "long"); }).find("trailing"), std::string::npos);

  write_bytes(d / "tiny", {0, 0});
  EXPECT_NE(error_of([&] { twist::read_idx(d / "tiny"); }).find("too short"), std::string::npos);

  bad.assign(good.begin(), good.begin() + 9);  // rank 3 but only one dimension given
  write_bytes(d / "header", bad);
  EXPECT_NE(error_of([&] { twist::read_idx(d / "header"); }).find("header"), std::string::npos);

  // a gzip stream cut in half
  std::vector<uint8_t> big(4096 * 3 + 16, 0);
  twist::write_idx(d / "big", torch::randint(0, 256, {3, 64, 64}, torch::kInt64).to(torch::kUInt8));
  gzip_file(d / "big", d / "big.gz");
  auto gz = read_bytes(d / "big.gz");
  gz.resize(gz.size() / 2);
  write_bytes(d / "cut.gz", gz);
  EXPECT_NE(error_of([&] { twist::read_idx(d / "cut.gz"); }).find("truncated"), std::string::npos);

  EXPECT_NE(error_of([&] { twist::read_idx(d / "missing"); }).find("cannot open"), std::string::npos);
}

TEST(Dataset, LoadsSplitsAndValidatesPairs) {
  TempDir d;
  twist::testing::write_pattern_dataset(d.path, 40, 12, 3, 10);
  auto train = twist::load_dataset("idx:" + d.path);
  EXPECT_EQ(train.size(), 40);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{40, 1, 10, 10}));
  EXPECT_EQ(train.num_classes, 3);
  auto test = twist::load_dataset("idx:" + d.path + "@test");
  EXPECT_EQ(test.size(), 12);
  EXPECT_TRUE(twist::has_split("idx:" + d.path, "test"));

  // labels that do not match the images
  twist::write_idx(d / "train-labels-idx1-ubyte", torch::zeros({39}, torch::kUInt8));
  EXPECT_NE(error_of([&] { twist::load_dataset("idx:" + d.path); }).find("39 labels"), std::string::npos);
}

TEST(Dataset, SpecErrorsNameTheInput) {
  EXPECT_NE(error_of([] { twist::parse_data_spec("imagenet"); }).find("unknown data spec 'imagenet'"),
            std::string::npos);
  EXPECT_NE(error_of([] { twist::parse_data_spec("fashion-mnist@val"); }).find("unknown split"), std::string::npos);
  EXPECT_NE(error_of([] { twist::load_dataset("idx:/no/such/dir"); }).find("'/no/such/dir' does not exist"),
            std::string::npos);
  TempDir d;
  EXPECT_NE(error_of([&] { twist::load_dataset("idx:" + d.path); }).find("no train images"), std::string::npos);
  auto s = twist::parse_data_spec("fashion-mnist@test");
  EXPECT_EQ(s.path, twist::kFashionMnistDir);
  EXPECT_EQ(s.split, "test");
}

TEST(Sampler, EpochsArePermutationsAndSeeded) {
  twist::EpochSampler s(100, 8, 3);
  EXPECT_EQ(s.steps_per_epoch(), 12);
  std::vector<int64_t> seen;
  for (int64_t step = 0; step < 12; ++step) {
    auto idx = s.indices(step);
    seen.insert(seen.end(), idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());  // no repeats within an epoch
  EXPECT_EQ(seen.size(), 96u);
  EXPECT_TRUE(torch::equal(s.indices(5), twist::EpochSampler(100, 8, 3).indices(5)));
  EXPECT_FALSE(torch::equal(s.indices(5), twist::EpochSampler(100, 8, 4).indices(5)));
  EXPECT_FALSE(torch::equal(s.indices(0), s.indices(12)));  // a new order each epoch
  EXPECT_THROW(twist::EpochSampler(100, 1, 0), twist::Error);
  EXPECT_THROW(twist::EpochSampler(5, 8, 0), twist::Error);
}

}  // namespace
