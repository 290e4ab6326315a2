// Every input with which a fuzz target (fuzz/) once crashed twist, kept in
// tests/fuzz_regressions/<parser>/: each must now be rejected with one
// twist::Error, the way a user's bad file is.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"
#include "twist/checkpoint.h"
#include "twist/config.h"
#include "twist/data.h"
#include "twist/error.h"
#include "twist/image.h"

namespace {

std::vector<std::string> inputs(const std::string& parser) {
  std::vector<std::string> paths;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(TWIST_SOURCE_DIR) + "/tests/fuzz_regressions/" + parser))
    paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

using twist::testing::error_of;

TEST(FuzzRegressions, IdxSizesThatOverflow) {
  auto files = inputs("idx");
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    const std::string bytes = twist::testing::read_text(path);
    const std::string e =
        error_of([&] { twist::parse_idx(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path); });
    EXPECT_NE(e.find("impossible size"), std::string::npos) << path << ": " << e;
  }
}

// fuzz_config's input format: a first byte, then a JSON config file.
TEST(FuzzRegressions, ConfigNumbersOutOfRange) {
  auto files = inputs("config");
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    const std::string json = twist::testing::read_text(path).substr(1);
    const std::string e = error_of([&] { twist::config_from_json(json, path); });
    EXPECT_NE(e.find("'" + path + "' is not valid JSON"), std::string::npos) << e;
  }
}

// Every input of tests/fuzz_regressions/<dir>/ read as an image: one
// error holding `says` (a fragment; the file's name is asked for too).
void expect_images_refused(const std::string& dir, const std::vector<std::string>& says) {
  auto files = inputs(dir);
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    const std::string e = error_of([&] { twist::read_image(path); });
    EXPECT_NE(e.find("'" + path + "'"), std::string::npos) << e;
    for (const auto& part : says) EXPECT_NE(e.find(part), std::string::npos) << e;
  }
}

// PGM/PPM headers: a few bytes promising millions of pixels (stb decoded
// them as zeros and fitting the result took minutes), sides that overflow
// 64 bits, and a width that overflowed an int inside stb's own header
// parser (a comment ended by '\r'). twist now parses PGM/PPM itself.
TEST(FuzzRegressions, ImageHeadersPromisingMorePixelsThanTheFileHolds) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without image decoding";
  expect_images_refused("image", {"is not a valid PGM/PPM: bad header"});
}

// A JPEG whose Huffman table makes Debian's stb_image index past a 257-byte
// array (stbi__build_huffman; UBSan, stb_image.h:1990). JPEG now goes to
// libjpeg-turbo, which rejects it.
TEST(FuzzRegressions, JpegHuffmanTableStbReadOutOfBounds) {
  if (!twist::jpeg_decoding_available()) GTEST_SKIP() << "built without JPEG decoding (libturbojpeg0-dev)";
  expect_images_refused("image-jpeg", {"JPEG"});
}

// A BMP header of 32 bytes promising 8,195 x 20,736 pixels: stb padded
// the missing pixels with zeros and fitting the result took over 30 s
// (fuzz_image's timeout). Refused before decoding now.
TEST(FuzzRegressions, BmpHeaderPromisingMorePixelsThanTheFileHolds) {
  if (!twist::image_decoding_available()) GTEST_SKIP() << "built without image decoding";
  expect_images_refused("image-bmp", {"is not a valid BMP: its header promises"});
}

// Archives that pass the CRC (a crafted file) but make LibTorch's reader
// throw something other than c10::Error.
TEST(FuzzRegressions, CheckpointArchivesLibTorchRejects) {
  auto files = inputs("checkpoint_payload");
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    const std::string framed = twist::frame_checkpoint(twist::testing::read_text(path));
    const std::string e = error_of([&] { twist::parse_checkpoint_state(framed, path); });
    EXPECT_NE(e.find("checkpoint '" + path + "'"), std::string::npos) << e;
  }
}

}  // namespace
