#pragma once
// The benchmarks' JPEG list: the .jpg and .jpeg files under a folder, in
// name order, the first `limit` of them.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

inline std::vector<std::string> jpeg_paths(const std::string& dir, size_t limit) {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg")) paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  if (paths.size() > limit) paths.resize(limit);
  return paths;
}
