// The HTML report: chart geometry and PNG/base64 encoding against hand
// values, then the report of a short run (valid, self-contained HTML whose
// charts hold the logged values) and a headless-browser screenshot.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "test_util.h"
#include "twist/data.h"
#include "twist/image.h"
#include "twist/report.h"

using namespace twist;
using namespace twist::testing;
using json = nlohmann::json;

namespace {

// The numbers of a data-x / data-y attribute ("nan" for a gap).
std::vector<double> numbers(const std::string& text) {
  std::vector<double> v;
  std::istringstream in(text);
  std::string w;
  while (in >> w) v.push_back(w == "nan" ? std::nan("") : std::stod(w));
  return v;
}

// The data-y values of the series `name` in the first chart whose title
// contains `title`.
std::vector<double> chart_values(const std::string& html, const std::string& title, const std::string& name,
                                 const std::string& attr = "data-y") {
  const size_t chart = html.find("<title>" + title);
  if (chart == std::string::npos) return {};
  const size_t end = html.find("</svg>", chart);
  const size_t g = html.find("<g data-series=\"" + name + "\"", chart);
  if (g == std::string::npos || g > end) return {};
  const size_t a = html.find(attr + "=\"", g) + attr.size() + 2;
  return numbers(html.substr(a, html.find('"', a) - a));
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(Chart, NiceScaleWidensToRoundTicks) {
  AxisScale a = nice_scale(0, 10);
  EXPECT_EQ(a.lo, 0);
  EXPECT_EQ(a.hi, 10);
  EXPECT_EQ(a.ticks, (std::vector<double>{0, 2, 4, 6, 8, 10}));
  AxisScale b = nice_scale(0.13, 0.87);  // step 0.2
  EXPECT_DOUBLE_EQ(b.lo, 0);
  EXPECT_DOUBLE_EQ(b.hi, 1.0);
  ASSERT_EQ(b.ticks.size(), 6u);
  EXPECT_DOUBLE_EQ(b.ticks[3], 0.6);
  AxisScale c = nice_scale(-2.4, -1.85);  // step 0.1, negative values
  EXPECT_NEAR(c.lo, -2.4, 1e-12);
  EXPECT_NEAR(c.hi, -1.8, 1e-12);
  AxisScale d = nice_scale(5, 5);  // one value: widened around it
  EXPECT_LT(d.lo, 5);
  EXPECT_GT(d.hi, 5);
  AxisScale e = nice_scale(NAN, NAN);  // nothing finite: [0, 1]
  EXPECT_EQ(e.lo, 0);
  EXPECT_EQ(e.hi, 1);
}

TEST(Chart, LinePointsAreWhereTheAxesSay) {
  // 460 x 264 with margins 60/14/44/42: the plot spans x 60..446, y 44..222.
  LineChart ch{"t", "x", "y", {{"s", {0, 5, 10}, {0, 5, 10}, "", false}}};
  const std::string svg = svg_line_chart(ch);
  EXPECT_NE(svg.find("points=\"60.0,222.0 253.0,133.0 446.0,44.0\""), std::string::npos) << svg;
  EXPECT_EQ(chart_values(svg, "t", "s"), (std::vector<double>{0, 5, 10}));
  // A NaN breaks the line in two and stays in data-y as "nan".
  LineChart gap{"g", "x", "y", {{"s", {0, 1, 2, 3}, {0, NAN, 10, 10}, "", false}}};
  const std::string g = svg_line_chart(gap);
  EXPECT_EQ(count_of(g, "<polyline"), 2);
  EXPECT_NE(g.find("data-y=\"0 nan 10 10\""), std::string::npos);
  // Names are escaped; mismatched lengths are an error.
  LineChart esc{"<a&b>", "x", "y", {{"p<q", {1}, {1}, "", false}, {"r", {1}, {2}, "", false}}};
  const std::string e = svg_line_chart(esc);
  EXPECT_NE(e.find("&lt;a&amp;b&gt;"), std::string::npos);
  EXPECT_NE(e.find("data-series=\"p&lt;q\""), std::string::npos);
  EXPECT_EQ(e.find("<a&b>"), std::string::npos);
  LineChart bad{"b", "x", "y", {{"s", {1, 2}, {1}, "", false}}};
  EXPECT_NE(error_of([&] { svg_line_chart(bad); }).find("series 's' has 2 x values and 1 y values"), std::string::npos);
}

TEST(Chart, HistogramOutlinesEachBin) {
  HistogramChart h;
  h.title = "h";
  h.edges = {-1, 0, 1};
  ChartSeries s;
  s.name = "same";
  s.y = {0.2, 0.8};  // y axis 0..0.8, x axis -1..1
  h.series = {s};
  const std::string svg = svg_histogram_chart(h);
  // Bin 0 at height 0.2 of 0.8 spans x 60..253; bin 1 reaches the top (y 44).
  EXPECT_NE(svg.find("d=\"M60.0,222.0 L60.0,177.5 L253.0,177.5 L253.0,44.0 L446.0,44.0 L446.0,222.0 Z\""),
            std::string::npos)
      << svg;
  h.series[0].y = {1};
  EXPECT_NE(error_of([&] { svg_histogram_chart(h); }).find("has 1 values for 2 bins"), std::string::npos);
}

TEST(Png, Base64MatchesRfc4648) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\x00\xfe", 3)), "/wD+");
}

TEST(Png, DecodesBackToTheSamePixels) {
  if (!image_decoding_available()) GTEST_SKIP() << "built without image decoding (libstb-dev)";
  TempDir dir;
  torch::manual_seed(3);
  for (int64_t c : {1, 3}) {
    auto img = torch::randint(0, 256, {c, 5, 7}, torch::kInt64).to(torch::kUInt8);
    const std::string file = dir / ("x" + std::to_string(c) + ".png");
    write_text(file, encode_png(img));
    auto back = read_image(file);
    ASSERT_EQ(back.sizes(), img.sizes());
    EXPECT_TRUE(torch::equal(back, img)) << c << " channel(s)";
  }
  EXPECT_NE(error_of([] {
              encode_png(torch::zeros({2, 4, 4}, torch::kUInt8));
            }).find("1 or 3 channels"),
            std::string::npos);
}

TEST(Png, TilesRowByRowWithGaps) {
  auto imgs = torch::stack({torch::full({1, 2, 2}, 10, torch::kUInt8), torch::full({1, 2, 2}, 20, torch::kUInt8),
                            torch::full({1, 2, 2}, 30, torch::kUInt8)});
  auto t = tile_images(imgs, 2, 1, 255);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 5, 5}));
  EXPECT_EQ(t[0][0][0].item<int>(), 10);
  EXPECT_EQ(t[0][1][4].item<int>(), 20);
  EXPECT_EQ(t[0][2][2].item<int>(), 255);  // the gap
  EXPECT_EQ(t[0][4][0].item<int>(), 30);
  EXPECT_EQ(t[0][4][4].item<int>(), 255);  // the empty last cell
}

TEST(Html, EscapesMarkup) { EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;"); }

// --- the report of a run ------------------------------------------------------------

class ReportE2E : public ::testing::Test {
 protected:
  void train(const std::string& extra = "") {
    write_pattern_dataset(dir / "data", 256, 64);
    auto r = run_twist("train " + tiny_train_args(dir / "data") + " --log-every 2 --out " + (dir / "run") + extra);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  TempDir dir;
};

TEST_F(ReportE2E, TrainWritesAValidSelfContainedReportOfTheLoggedValues) {
  train();
  const std::string file = dir / "run/report.html";
  ASSERT_TRUE(exists(file));
  const std::string html = read_text(file);
  if (run_command("test -x /usr/bin/python3").exit_code == 0) {
    auto v = run_command("/usr/bin/python3 " + std::string(TWIST_SOURCE_DIR) + "/tests/check_html.py " + file);
    EXPECT_EQ(v.exit_code, 0) << v.output;
  }
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // Each curve holds exactly the values of metrics.jsonl, in order.
  std::vector<json> rows;
  std::istringstream lines(read_text(dir / "run/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  ASSERT_GE(rows.size(), 10u);
  for (const auto& [title, key, series] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"Loss", "loss", "loss"},
           {"Loss", "consistency", "consistency"},
           {"Loss", "sharpness", "sharpness"},
           {"Loss", "diversity", "diversity"},
           {"Learning rate", "lr", "lr"},
           {"Throughput", "images_per_s", "images/s"},
           {"Classes in use", "classes_in_use", "classes in use"},
           {"Entropy of the mean", "mean_entropy", "entropy of the mean"},
           {"Std of pre-softmax", "row_std", "row (per sample)"},
           {"Std of pre-softmax", "col_std", "column (per class)"}}) {
    auto drawn = chart_values(html, title, series);
    ASSERT_EQ(drawn.size(), rows.size()) << key;
    for (size_t i = 0; i < rows.size(); ++i)
      EXPECT_NEAR(drawn[i], rows[i][key].get<double>(), 1e-7 * (1 + std::fabs(drawn[i]))) << key << " row " << i;
  }
  auto epochs = chart_values(html, "Loss", "loss", "data-x");
  EXPECT_NEAR(epochs.back(), rows.back()["epoch"].get<double>(), 1e-7);
  // The figures of summary.json, each with its baseline column.
  const json summary = json::parse(read_text(dir / "run/summary.json"));
  char knn[32];
  std::snprintf(knn, sizeof knn, "%.4f", summary["knn_top1"].get<double>());
  // The run's own k (the tiny runs use --knn-k 5), not a hard-coded 20.
  EXPECT_NE(html.find(std::string("kNN top-1 (k = 5, cosine)</td><td class=\"num\">") + knn), std::string::npos);
  // One image grid per cluster in use, then 8 top-5 examples; all PNG data.
  const int used = int(summary["clusters_used"].get<int64_t>());
  EXPECT_EQ(count_of(html, "<div class=\"cls\">"), used);
  EXPECT_EQ(count_of(html, "<div class=\"ex\">"), 8);
  EXPECT_EQ(count_of(html, "<img "), used + 8);
  EXPECT_EQ(count_of(html, "src=\"data:image/png;base64,"), used + 8);
  EXPECT_NE(html.find("Cosine similarity of backbone features"), std::string::npos);
  EXPECT_NE(html.find("Overlap of the two distributions"), std::string::npos);

  // twist report again, with the log of a resumed run (the steps from row
  // 8 on logged twice, the second time with another loss at row 8) and a
  // line cut short at the end.
  std::string log = read_text(dir / "run/metrics.jsonl");
  json again = rows[8];
  again["loss"] = 123.5;
  log += again.dump() + "\n";
  for (size_t i = 9; i < rows.size(); ++i) log += rows[i].dump() + "\n";
  log += "{\"step\": 4";
  write_text(dir / "run/metrics.jsonl", log);
  // Fine-tuning results of any label fraction are shown, by fraction.
  write_text(dir / "run/finetune_50pct.json", "{\"top1\": 0.625}");
  write_text(dir / "run/finetune_2.5pct.json", "{\"top1\": 0.375}");
  auto r = run_command("(" + std::string(TWIST_BIN) + " report --run " + (dir / "run") + " --threads 2 --json --out " +
                       (dir / "again.html") + " --examples 3 > " + (dir / "out.json") + ")");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 line(s) of"), std::string::npos) << r.output;
  const json j = json::parse(read_text(dir / "out.json"));
  EXPECT_EQ(j["report"], dir / "again.html");
  EXPECT_EQ(j["skipped_lines"], 1);
  EXPECT_EQ(j["metrics_lines"], int64_t(rows.size()));  // the re-logged steps replace the first ones
  const std::string html2 = read_text(dir / "again.html");
  auto loss2 = chart_values(html2, "Loss", "loss");
  ASSERT_EQ(loss2.size(), rows.size());
  EXPECT_EQ(loss2[8], 123.5);
  EXPECT_EQ(count_of(html2, "<div class=\"ex\">"), 3);
  const size_t small = html2.find("fine-tuned with 2.5% of the labels, top-1</td><td class=\"num\">0.3750");
  const size_t half = html2.find("fine-tuned with 50% of the labels, top-1</td><td class=\"num\">0.6250");
  EXPECT_NE(small, std::string::npos);
  EXPECT_NE(half, std::string::npos);
  EXPECT_LT(small, half);

  // Unlabelled images: grids by cluster size, no class names, no histograms.
  std::filesystem::create_directories(dir / "nolabels");
  auto data = load_dataset("idx:" + (dir / "data"));
  write_idx(dir / "nolabels/train-images-idx3-ubyte", data.images.squeeze(1));
  auto u = run_twist("report --run " + (dir / "run") + " --threads 2 --data idx:" + (dir / "nolabels") + " --out " +
                     (dir / "unlabelled.html"));
  ASSERT_EQ(u.exit_code, 0) << u.output;
  const std::string html3 = read_text(dir / "unlabelled.html");
  EXPECT_NE(html3.find("the data set has no labels, so clusters are not named"), std::string::npos);
  EXPECT_NE(html3.find("The similarity histograms need labels"), std::string::npos);
  EXPECT_EQ(html3.find("\u2192"), std::string::npos);
  EXPECT_GE(count_of(html3, "<div class=\"cls\">"), 1);

  // Bad input: one clear error each, exit 1.
  auto missing = run_twist("report --run " + (dir / "nothing"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("nothing"), std::string::npos) << missing.output;
  std::remove((dir / "run/metrics.jsonl").c_str());
  auto nolog = run_twist("report --run " + (dir / "run"));
  EXPECT_EQ(nolog.exit_code, 1);
  EXPECT_NE(nolog.output.find("run has no metrics log: cannot open '" + (dir / "run/metrics.jsonl") + "'"),
            std::string::npos)
      << nolog.output;
  auto range = run_twist("report --run " + (dir / "run") + " --images-per-class 0");
  EXPECT_NE(range.exit_code, 0);
  EXPECT_NE(range.output.find("--images-per-class"), std::string::npos) << range.output;
}

TEST_F(ReportE2E, TrainSkipsTheReportWhenAsked) {
  train(" --report false --eval false");
  EXPECT_TRUE(exists(dir / "run/checkpoint.pt"));
  EXPECT_FALSE(exists(dir / "run/report.html"));
}

// A headless Chromium renders the page: the screenshot has the page's width
// and shows the charts' blue lines and the example images.
TEST_F(ReportE2E, RendersInAHeadlessBrowser) {
  std::string browser;
  for (const char* b : {"chromium", "chromium-browser", "google-chrome"})
    if (run_command(std::string("command -v ") + b + " > /dev/null").exit_code == 0) {
      browser = b;
      break;
    }
  if (browser.empty()) GTEST_SKIP() << "no headless browser (apt install chromium to run this test)";
  if (!image_decoding_available()) GTEST_SKIP() << "built without image decoding (libstb-dev)";
  train();
  const std::string shot = dir / "shot.png";
  auto r = run_command("HOME=" + dir.path + " timeout 120 " + browser +
                       " --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1800"
                       " --screenshot=" +
                       shot + " file://" + (dir / "run/report.html"));
  ASSERT_TRUE(exists(shot)) << r.output;
  auto img = read_image(shot).to(torch::kInt32);
  ASSERT_EQ(img.size(0), 3);
  EXPECT_EQ(img.size(2), 1000);
  EXPECT_EQ(img.size(1), 1800);
  auto r_ = img[0], g_ = img[1], b_ = img[2];
  // The default series colour #1f77b4 (31, 119, 180), give or take antialiasing.
  auto blue = (r_ - 31).abs().lt(30) & (g_ - 119).abs().lt(30) & (b_ - 180).abs().lt(30);
  EXPECT_GT(blue.sum().item<int64_t>(), 500);
  // Not a blank page: a good share of pixels is not white.
  auto ink = (img.sum(0) < 3 * 240).to(torch::kFloat64).mean().item<double>();
  EXPECT_GT(ink, 0.03);
}
