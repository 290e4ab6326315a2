// Inline SVG charts for the HTML report: line charts with nice axes and
// histograms as filled step outlines. Values are kept on the elements
// (data-x, data-y) so tests and readers can check what is drawn.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "twist/error.h"
#include "twist/report.h"

namespace twist {
namespace {

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string tick_label(double v) {
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3)) return format("%.1e", v);
  return format("%.4g", v);
}

std::string values_attr(const std::vector<double>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ' ';
    s += std::isfinite(v[i]) ? format("%.9g", v[i]) : std::string("nan");
  }
  return s;
}

std::string color_of(const ChartSeries& s, size_t i) {
  return s.color.empty() ? kPalette[i % (sizeof kPalette / sizeof kPalette[0])] : s.color;
}

// The frame shared by both chart kinds: background, grid, ticks, labels,
// title and legend. Returns the opening of the <svg> and its furniture.
struct Frame {
  double w, h;
  AxisScale xs, ys;
  double px(double x) const {
    return ChartMargins::left + (x - xs.lo) / (xs.hi - xs.lo) * (w - ChartMargins::left - ChartMargins::right);
  }
  double py(double y) const {
    return ChartMargins::top + (ys.hi - y) / (ys.hi - ys.lo) * (h - ChartMargins::top - ChartMargins::bottom);
  }
};

std::string frame_svg(const Frame& f, const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::vector<ChartSeries>& series) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" + format("%.0f", f.w) +
                  "\" height=\"" + format("%.0f", f.h) + "\" viewBox=\"0 0 " + format("%.0f", f.w) + " " +
                  format("%.0f", f.h) + "\" role=\"img\" aria-label=\"" + html_escape(title) + "\">\n";
  s += "<title>" + html_escape(title) + "</title>\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + format("%.0f", f.w) + "\" height=\"" + format("%.0f", f.h) +
       "\" fill=\"#fff\"/>\n";
  const double x0 = ChartMargins::left, x1 = f.w - ChartMargins::right;
  const double y0 = f.h - ChartMargins::bottom, y1 = ChartMargins::top;
  for (double t : f.ys.ticks) {
    const double y = f.py(t);
    s += "<line x1=\"" + format("%.1f", x0) + "\" y1=\"" + format("%.1f", y) + "\" x2=\"" + format("%.1f", x1) +
         "\" y2=\"" + format("%.1f", y) + "\" stroke=\"#e5e5e5\"/>\n";
    s += "<text x=\"" + format("%.1f", x0 - 5) + "\" y=\"" + format("%.1f", y + 4) +
         "\" text-anchor=\"end\" class=\"tick\">" + tick_label(t) + "</text>\n";
  }
  for (double t : f.xs.ticks) {
    const double x = f.px(t);
    s += "<line x1=\"" + format("%.1f", x) + "\" y1=\"" + format("%.1f", y0) + "\" x2=\"" + format("%.1f", x) +
         "\" y2=\"" + format("%.1f", y0 + 4) + "\" stroke=\"#888\"/>\n";
    s += "<text x=\"" + format("%.1f", x) + "\" y=\"" + format("%.1f", y0 + 16) +
         "\" text-anchor=\"middle\" class=\"tick\">" + tick_label(t) + "</text>\n";
  }
  s += "<rect x=\"" + format("%.1f", x0) + "\" y=\"" + format("%.1f", y1) + "\" width=\"" + format("%.1f", x1 - x0) +
       "\" height=\"" + format("%.1f", y0 - y1) + "\" fill=\"none\" stroke=\"#888\"/>\n";
  s += "<text x=\"" + format("%.1f", (x0 + x1) / 2) + "\" y=\"" + format("%.1f", f.h - 6) +
       "\" text-anchor=\"middle\" class=\"axis\">" + html_escape(x_label) + "</text>\n";
  s += "<text transform=\"translate(14," + format("%.1f", (y0 + y1) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" class=\"axis\">" + html_escape(y_label) + "</text>\n";
  s += "<text x=\"" + format("%.1f", x0) + "\" y=\"18\" class=\"title\">" + html_escape(title) + "</text>\n";
  // Legend, in a row under the title, when there is more than one series.
  if (series.size() > 1) {
    double x = x0;
    for (size_t i = 0; i < series.size(); ++i) {
      s += "<line x1=\"" + format("%.1f", x) + "\" y1=\"30\" x2=\"" + format("%.1f", x + 16) +
           "\" y2=\"30\" stroke=\"" + color_of(series[i], i) + "\" stroke-width=\"2\"" +
           (series[i].dashed ? " stroke-dasharray=\"4 3\"" : "") + "/>\n";
      s += "<text x=\"" + format("%.1f", x + 20) + "\" y=\"34\" class=\"legend\">" + html_escape(series[i].name) +
           "</text>\n";
      x += 34 + 6.0 * double(series[i].name.size());
    }
  }
  return s;
}

void finite_range(const std::vector<double>& v, double& lo, double& hi) {
  for (double x : v)
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
}

}  // namespace

AxisScale nice_scale(double lo, double hi, int max_ticks) {
  check(max_ticks >= 2, "nice_scale: need at least two ticks");
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) lo = 0, hi = 1;
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(lo))) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double rough = (hi - lo) / (max_ticks - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(rough)));
  const double r = rough / mag;
  const double step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
  AxisScale a;
  a.lo = std::floor(lo / step + 1e-9) * step;
  a.hi = std::ceil(hi / step - 1e-9) * step;
  const int64_t n = std::llround((a.hi - a.lo) / step);
  for (int64_t i = 0; i <= n; ++i) {
    double t = std::round((a.lo + double(i) * step) / step) * step;
    if (std::fabs(t) < step * 1e-9) t = 0;  // no "-0"
    a.ticks.push_back(t);
  }
  return a;
}

std::string svg_line_chart(const LineChart& chart) {
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const auto& s : chart.series) {
    check(s.x.size() == s.y.size(), "chart '" + chart.title + "': series '" + s.name + "' has " +
                                        std::to_string(s.x.size()) + " x values and " + std::to_string(s.y.size()) +
                                        " y values");
    finite_range(s.x, xlo, xhi);
    finite_range(s.y, ylo, yhi);
  }
  Frame f{double(chart.width), double(chart.height), nice_scale(xlo, xhi), nice_scale(ylo, yhi)};
  std::string out = frame_svg(f, chart.title, chart.x_label, chart.y_label, chart.series);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    const std::string color = color_of(s, i);
    out += "<g data-series=\"" + html_escape(s.name) + "\" data-x=\"" + values_attr(s.x) + "\" data-y=\"" +
           values_attr(s.y) + "\">\n";
    // One polyline per run of finite values: a NaN breaks the line.
    std::string points;
    int64_t finite = 0;
    auto flush = [&] {
      if (!points.empty())
        out += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.6\"" +
               (s.dashed ? " stroke-dasharray=\"4 3\"" : "") + " points=\"" + points + "\"/>\n";
      points.clear();
    };
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k])) {
        flush();
        continue;
      }
      ++finite;
      if (!points.empty()) points += ' ';
      points += format("%.1f", f.px(s.x[k])) + "," + format("%.1f", f.py(s.y[k]));
    }
    flush();
    // Few points: mark each, so a single value is visible too.
    if (finite <= 20)
      for (size_t k = 0; k < s.x.size(); ++k)
        if (std::isfinite(s.x[k]) && std::isfinite(s.y[k]))
          out += "<circle cx=\"" + format("%.1f", f.px(s.x[k])) + "\" cy=\"" + format("%.1f", f.py(s.y[k])) +
                 "\" r=\"2.5\" fill=\"" + color + "\"/>\n";
    out += "</g>\n";
  }
  return out + "</svg>\n";
}

std::string svg_histogram_chart(const HistogramChart& chart) {
  check(chart.edges.size() >= 2, "chart '" + chart.title + "': a histogram needs at least one bin");
  const size_t bins = chart.edges.size() - 1;
  double ylo = 0, yhi = 0;
  for (const auto& s : chart.series) {
    check(s.y.size() == bins, "chart '" + chart.title + "': series '" + s.name + "' has " + std::to_string(s.y.size()) +
                                  " values for " + std::to_string(bins) + " bins");
    finite_range(s.y, ylo, yhi);
  }
  Frame f{double(chart.width), double(chart.height), nice_scale(chart.edges.front(), chart.edges.back()),
          nice_scale(0, yhi > 0 ? yhi : 1)};
  std::string out = frame_svg(f, chart.title, chart.x_label, chart.y_label, chart.series);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    const std::string color = color_of(s, i);
    std::string d = "M" + format("%.1f", f.px(chart.edges[0])) + "," + format("%.1f", f.py(0));
    for (size_t b = 0; b < bins; ++b) {
      const double y = std::isfinite(s.y[b]) ? s.y[b] : 0.0;
      d += " L" + format("%.1f", f.px(chart.edges[b])) + "," + format("%.1f", f.py(y));
      d += " L" + format("%.1f", f.px(chart.edges[b + 1])) + "," + format("%.1f", f.py(y));
    }
    d += " L" + format("%.1f", f.px(chart.edges[bins])) + "," + format("%.1f", f.py(0)) + " Z";
    out += "<g data-series=\"" + html_escape(s.name) + "\" data-x=\"" + values_attr(chart.edges) + "\" data-y=\"" +
           values_attr(s.y) + "\">\n<path d=\"" + d + "\" fill=\"" + color + "\" fill-opacity=\"0.3\" stroke=\"" +
           color + "\" stroke-width=\"1.4\"/>\n</g>\n";
  }
  return out + "</svg>\n";
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace twist
