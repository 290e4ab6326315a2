#include <limits>

#include "twist/error.h"
#include "twist/eval.h"

namespace twist {

// Kuhn-Munkres with potentials (Jonker-Volgenant style shortest augmenting
// paths), O(n^3) on the square matrix padded with zeros.
std::vector<int64_t> hungarian_max(const std::vector<double>& weights, int64_t rows, int64_t cols) {
  check(rows >= 0 && cols >= 0 && int64_t(weights.size()) == rows * cols,
        "hungarian: weights must hold rows x cols values");
  const int64_t n = std::max(rows, cols);
  if (n == 0) return {};
  double wmax = 0;
  for (double w : weights) wmax = std::max(wmax, w);
  // Minimize cost = wmax - weight; padded cells cost wmax (weight 0).
  auto cost = [&](int64_t i, int64_t j) { return (i < rows && j < cols) ? wmax - weights[i * cols + j] : wmax; };
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(n + 1, 0);
  std::vector<int64_t> p(n + 1, 0), way(n + 1, 0);  // p[j]: row matched to column j (1-based)
  for (int64_t i = 1; i <= n; ++i) {
    p[0] = i;
    int64_t j0 = 0;
    std::vector<double> minv(n + 1, inf);
    std::vector<char> used(n + 1, 0);
    do {
      used[j0] = 1;
      const int64_t i0 = p[j0];
      double delta = inf;
      int64_t j1 = 0;
      for (int64_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int64_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int64_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int64_t> row_to_col(rows, -1);
  for (int64_t j = 1; j <= n; ++j) {
    const int64_t i = p[j] - 1;
    if (i >= 0 && i < rows && j - 1 < cols) row_to_col[i] = j - 1;
  }
  return row_to_col;
}

}  // namespace twist
