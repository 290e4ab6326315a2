// Wall time of listing an image folder (load_dataset on folder:DIR: the
// directory walk and the 16 decodes that choose the default side), and a
// hash of the listed files and labels, so two builds can be checked to list
// the same thing in the same order.
//   build/list_folder folder:DIR [rounds]
#include <chrono>
#include <cstdio>
#include <functional>

#include "twist/twist.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: list_folder folder:DIR [rounds]\n");
    return 2;
  }
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 1;
  try {
    for (int r = 0; r < rounds; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const twist::Dataset d = twist::load_dataset(argv[1]);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      size_t h = 0;
      for (const auto& f : d.files) h = h * 1000003u ^ std::hash<std::string>()(f);
      if (d.has_labels()) {
        const auto labels = d.labels.accessor<int64_t, 1>();
        for (int64_t i = 0; i < labels.size(0); ++i) h = h * 31u + size_t(labels[i]);
      }
      std::printf("%.3f s  %lld files  %lld classes  side %lld  hash %016zx\n", s, (long long)d.size(),
                  (long long)d.num_classes, (long long)d.height(), h);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "list_folder: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
