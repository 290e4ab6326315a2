#include <cmath>
#include <fstream>
#include <sstream>

#include "twist/data.h"
#include "twist/error.h"
#include "twist/io.h"
#include "twist/random.h"

namespace twist {

torch::Tensor balanced_label_subset(const torch::Tensor& labels, double fraction, uint64_t seed) {
  check(fraction > 0 && fraction <= 1,
        "the label fraction must be in (0, 1], e.g. 0.01 for 1% of the labels; got " + std::to_string(fraction));
  check(labels.defined() && labels.dim() == 1 && labels.numel() > 0, "a label subset needs labels");
  auto l = labels.to(torch::kInt64);
  auto gen = make_generator(seed, 0x1abe1);
  const int64_t classes = l.max().item<int64_t>() + 1;
  std::vector<torch::Tensor> picked;
  for (int64_t c = 0; c < classes; ++c) {
    auto members = l.eq(c).nonzero().view(-1);
    const int64_t n = members.numel();
    if (n == 0) continue;
    const int64_t take = std::clamp<int64_t>(std::llround(fraction * double(n)), 1, n);
    auto perm = torch::randperm(n, gen, torch::kInt64);
    picked.push_back(members.index_select(0, perm.narrow(0, 0, take)));
  }
  return std::get<0>(torch::cat(picked).sort());
}

void write_index_list(const std::string& path, const torch::Tensor& indices) {
  auto a = indices.to(torch::kInt64).contiguous();
  std::string text;
  const int64_t* p = a.data_ptr<int64_t>();
  for (int64_t i = 0; i < a.numel(); ++i) text += std::to_string(p[i]) + "\n";
  write_file_atomic(path, text);
}

torch::Tensor read_index_list(const std::string& path, int64_t n) {
  std::ifstream f(path);
  check(bool(f), "cannot read the label list '" + path + "'");
  std::vector<int64_t> out;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    int64_t v;
    std::string rest;
    if (!(is >> v) || (is >> rest)) {
      throw Error("'" + path + "' line " + std::to_string(line_no) + ": expected one integer index, got '" + line +
                  "'");
    }
    check(v >= 0 && v < n, "'" + path + "' line " + std::to_string(line_no) + ": index " + std::to_string(v) +
                               " is outside the training split [0, " + std::to_string(n) + ")");
    out.push_back(v);
  }
  check(!out.empty(), "the label list '" + path + "' holds no index");
  auto t = torch::tensor(out, torch::kInt64);
  auto sorted = std::get<0>(t.sort());
  check(t.numel() < 2 || !sorted.narrow(0, 1, t.numel() - 1).eq(sorted.narrow(0, 0, t.numel() - 1)).any().item<bool>(),
        "the label list '" + path + "' repeats an index");
  return t;
}

}  // namespace twist
