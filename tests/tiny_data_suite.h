#pragma once
// A test suite whose tests share one generated data set
// (write_pattern_dataset(dir/data, 256 train, 64 test): 16x16, 4 classes) and
// write their runs beside it. Made once per suite, removed after it.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace twist::testing {

class TinyDataSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    write_pattern_dataset(*dir_ / "data", 256, 64);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string data() { return *dir_ / "data"; }
  static std::string out(const std::string& name) { return *dir_ / name; }
  inline static TempDir* dir_ = nullptr;
};

}  // namespace twist::testing
