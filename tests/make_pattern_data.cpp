// Writes the tests' generated data set (write_pattern_dataset) for scripts:
//   twist_pattern_data DIR N_TRAIN N_TEST
#include <cstdio>
#include <string>

#include "test_util.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: twist_pattern_data DIR N_TRAIN N_TEST\n");
    return 2;
  }
  twist::testing::write_pattern_dataset(argv[1], std::stoll(argv[2]), std::stoll(argv[3]));
  return 0;
}
