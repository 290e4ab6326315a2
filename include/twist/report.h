#pragma once
// The HTML report of a run (twist report): one self-contained page with the
// training curves, the final figures, example images per predicted class,
// top-5 predictions and the paper's diagnostics (Fig. 3 and 5), drawn as
// inline SVG with images embedded as PNG data. No script, no network.
// The building blocks (charts, PNG encoding) are public for reuse and tests.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "twist/run.h"

namespace twist {

// --- charts --------------------------------------------------------------------

struct ChartSeries {
  std::string name;
  std::vector<double> x, y;  // equal lengths; non-finite y values break the line
  std::string color;         // CSS colour; empty: taken from a palette
  bool dashed = false;
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<ChartSeries> series;
  int width = 460, height = 264;
};

// Plot-area margins of every chart, in SVG user units (pixels).
struct ChartMargins {
  static constexpr double left = 60, right = 14, top = 44, bottom = 42;  // title and legend above
};

// An axis range widened to "nice" tick values (1, 2 or 5 times a power of
// ten), with its ticks. An empty or single-valued range is widened around
// its value.
struct AxisScale {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
};
AxisScale nice_scale(double lo, double hi, int max_ticks = 6);

// An <svg> element. Each series is one or more <polyline> elements carrying
// data-series (its name) and data-x / data-y (the plotted values, %.9g), so
// that what a chart shows can be checked against the logged values.
std::string svg_line_chart(const LineChart& chart);

// Two or more distributions over the same bins (edges: bins + 1 values),
// drawn as filled step outlines: the paper's Fig. 5.
struct HistogramChart {
  std::string title, x_label, y_label;
  std::vector<double> edges;
  std::vector<ChartSeries> series;  // y: one value per bin; x unused
  int width = 460, height = 264;
};
std::string svg_histogram_chart(const HistogramChart& chart);

// --- images --------------------------------------------------------------------

// PNG file bytes of a uint8 image C x H x W (C = 1 grey, 3 RGB), written
// with zlib (filter type 0, one IDAT chunk).
std::string encode_png(const torch::Tensor& image_u8);

// RFC 4648 base64 with padding.
std::string base64(const std::string& bytes);

// Images (uint8 N x C x H x W, equal sizes) tiled row by row, `columns` per
// row, separated by `gap` pixels of `background`: one image C x H' x W'.
torch::Tensor tile_images(const torch::Tensor& images_u8, int64_t columns, int64_t gap = 2, uint8_t background = 255);

// &, <, >, " and ' as character references.
std::string html_escape(const std::string& text);

// --- the report ------------------------------------------------------------------

struct ReportOptions {
  std::string data;               // data set spec; empty: the run's own
  std::string out;                // empty: RUN/report.html
  int64_t images_per_class = 12;  // example images per predicted class
  int64_t max_classes = 100;      // grids for at most this many classes (the largest)
  int64_t top5_examples = 8;      // images shown with their top-5 predictions
  int64_t max_images = 10000;     // images of the split that are embedded (a seeded subset)
  uint64_t seed = 0;
};

struct ReportResult {
  std::string path;  // where the page was written
  int64_t bytes = 0;
  int64_t metrics_lines = 0;          // lines of metrics.jsonl drawn
  int64_t skipped_lines = 0;          // lines that did not parse (a cut-short last line)
  int64_t images = 0;                 // images the model was run on
  std::string split;                  // the data set split they came from
  std::vector<std::string> sections;  // titles of the sections written
};

// Writes the report of the run in `run.dir` (atomically). Throws
// twist::Error naming the file when metrics.jsonl is missing or the data
// set cannot be read; evaluation files that are absent are left out.
ReportResult write_report(const Run& run, const ReportOptions& options = {});

}  // namespace twist
