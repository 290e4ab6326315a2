// twist report: the run's HTML page. Reads metrics.jsonl, summary.json and
// the eval_*.json / finetune_*.json files the commands left in the run
// directory, runs the model over (a seeded subset of) the held-out split for
// the image grids, the top-5 examples and the paper's diagnostics, and
// writes one self-contained HTML file.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <tuple>

#include "twist/bad_images.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/image.h"
#include "twist/io.h"
#include "twist/metric_names.h"
#include "twist/random.h"
#include "twist/report.h"

namespace twist {
namespace {

using Json = nlohmann::json;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return v < 0 ? "-" + out : out;
}

// --- metrics.jsonl -----------------------------------------------------------------

struct MetricsRows {
  std::vector<Json> rows;       // training lines, one per logged step
  std::vector<Json> eval_rows;  // --eval-every lines (eval_knn_top1, ...): the learning curves
  int64_t skipped = 0;
  std::vector<int64_t> skipped_line_numbers;
};

// Lines that do not parse (a run killed on a full disk can leave one cut
// short) are counted and left out. After a --resume the steps since the last
// checkpoint are logged again: a step at or before the previous one
// replaces what was logged from there on.
MetricsRows read_metrics(const std::string& path) {
  std::ifstream in(path);
  check(bool(in), "run has no metrics log: cannot open '" + path + "'");
  MetricsRows m;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json row = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!row.is_object() || !row.contains("step") || !row["step"].is_number()) {
      ++m.skipped;
      m.skipped_line_numbers.push_back(number);
      continue;
    }
    // Evaluation lines share their step with a training line.
    std::vector<Json>& kind = row.contains(names::kEvalKnnTop1) ? m.eval_rows : m.rows;
    const double step = row["step"].get<double>();
    while (!kind.empty() && kind.back()["step"].get<double>() >= step) kind.pop_back();
    kind.push_back(std::move(row));
  }
  return m;
}

bool has_key(const MetricsRows& m, const std::string& key) {
  for (const auto& r : m.rows)
    if (r.contains(key)) return true;
  return false;
}

// x: `x_key` where logged, else the epoch (fractional) where logged, else the step.
ChartSeries series_of(const std::vector<Json>& rows, const std::string& key, const std::string& name,
                      const std::string& x_key = "epoch", double x_scale = 1) {
  ChartSeries s;
  s.name = name;
  for (const auto& r : rows) {
    if (!r.contains(key)) continue;
    const Json& v = r[key];
    const char* x = r.contains(x_key) ? x_key.c_str() : r.contains("epoch") ? "epoch" : "step";
    s.x.push_back(r[x].get<double>() * (x == x_key ? x_scale : 1));
    // JSON has no NaN: a non-finite value is logged as null.
    s.y.push_back(v.is_number() ? v.get<double>() : std::nan(""));
  }
  return s;
}
ChartSeries series_of(const MetricsRows& m, const std::string& key, const std::string& name) {
  return series_of(m.rows, key, name);
}

ChartSeries constant_series(const ChartSeries& like, double value, const std::string& name) {
  ChartSeries s;
  s.name = name;
  s.dashed = true;
  s.color = "#999";
  if (!like.x.empty()) {
    s.x = {like.x.front(), like.x.back()};
    s.y = {value, value};
  }
  return s;
}

// --- reading the run's result files ---------------------------------------------

Json read_json_if_present(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Json();
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::fprintf(stderr, "twist: report: '%s' is not a JSON object; left out\n", path.c_str());
    return Json();
  }
  return j;
}

double number_or_nan(const Json& j, const std::string& key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}

// --eval-every: kNN top-1 and the head's clusters on held-out subsets during
// training, against epochs and against minutes of training (evaluation time
// left out), beside the kNN of the pixels on the whole held-out split.
std::string learning_curves(const MetricsRows& m, const Json& summary) {
  if (m.eval_rows.empty()) return "";
  std::string out;
  const std::vector<std::tuple<std::string, std::string, double>> axes = {
      {"epoch", "epoch", 1.0}, {"train_seconds", "minutes of training", 1.0 / 60}};
  for (const auto& [x_key, x_label, scale] : axes) {
    LineChart c{"Held-out quality during training (subsets)", x_label, "", {}};
    c.series.push_back(series_of(m.eval_rows, names::kEvalKnnTop1, "kNN top-1", x_key, scale));
    const ChartSeries knn = c.series.front();  // a copy: push_back below may reallocate
    for (const auto& [k, n] : std::vector<std::pair<std::string, std::string>>{{names::kEvalAcc, "cluster accuracy"},
                                                                               {names::kEvalNmi, "NMI"}})
      if (!m.eval_rows.empty() && m.eval_rows.back().contains(k))
        c.series.push_back(series_of(m.eval_rows, k, n, x_key, scale));
    for (const auto& [k, n] : std::vector<std::pair<std::string, std::string>>{
             {names::kPixelKnnTop1, "kNN on pixels"}, {names::kCenteredPixelKnnTop1, "kNN on normalized pixels"}}) {
      const double v = number_or_nan(summary, k);
      if (std::isfinite(v)) c.series.push_back(constant_series(knn, v, n + " (whole split)"));
    }
    if (c.series.size() > 2) c.series.back().color = "#bbb";
    out += svg_line_chart(c);
  }
  return out;
}

std::string cell(double v, int digits = 4) {
  return std::isfinite(v) ? fmt(("%." + std::to_string(digits) + "f").c_str(), v) : "&mdash;";
}

// --- images ------------------------------------------------------------------------

// Images as shown: at most 96 pixels on a side (the centre crop of a
// larger image, shrunk), and drawn at least 56 pixels wide.
struct Thumbs {
  torch::Tensor images;  // N x C x S x S uint8
  int64_t display = 0;   // CSS pixels per image side
};

Thumbs thumbnails(const torch::Tensor& images_u8) {
  Thumbs t;
  const int64_t side = std::min(images_u8.size(2), images_u8.size(3));
  if (side > 96 || images_u8.size(2) != images_u8.size(3)) {
    std::vector<torch::Tensor> out;
    const int64_t s = std::min<int64_t>(96, side);
    for (int64_t i = 0; i < images_u8.size(0); ++i) out.push_back(fit_image(images_u8[i], images_u8.size(1), s));
    t.images = torch::stack(out);
  } else {
    t.images = images_u8;
  }
  const int64_t s = t.images.size(2);
  t.display = s < 56 ? s * ((56 + s - 1) / s) : s;
  return t;
}

std::string img_tag(const torch::Tensor& image_u8, int64_t css_width, const std::string& alt) {
  const double scale = double(css_width) / double(image_u8.size(2));
  return "<img alt=\"" + html_escape(alt) + "\" width=\"" + std::to_string(css_width) + "\" height=\"" +
         std::to_string(std::llround(double(image_u8.size(1)) * scale)) + "\" src=\"data:image/png;base64," +
         base64(encode_png(image_u8)) + "\">";
}

const char* const kStyle =
    R"(body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.muted{color:#666}.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart text{font:11px system-ui,sans-serif;fill:#333}.chart .title{font-size:13px;font-weight:600}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img{image-rendering:pixelated;vertical-align:middle}
.cls{margin:10px 0}.cls .cap{font-weight:600;margin-bottom:3px}
.examples{display:flex;flex-wrap:wrap;gap:18px}.ex{display:flex;gap:10px;align-items:flex-start}
.bar{background:#1f77b4;height:9px;display:inline-block;vertical-align:middle}
.ok{color:#2ca02c}.warn{color:#d62728}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
)";

// The images the report shows and what the model makes of them.
struct Shown {
  Dataset data;
  Embeddings e;
  torch::Tensor probs, pred;  // softmax(logits / tau); argmax (int64)
  bool labelled = false;
  std::vector<int64_t> mapping;  // cluster -> matched class, -1 when none or unlabelled
  std::string class_name(int64_t k) const {
    if (k < 0) return "unmatched";
    return k < int64_t(data.class_names.size()) ? data.class_names[k] : "class " + std::to_string(k);
  }
  std::string cluster_label(int64_t c) const {
    std::string s = "cluster " + std::to_string(c);
    if (labelled) s += " \u2192 " + class_name(mapping[size_t(c)]);
    return s;
  }
};

// Up to o.max_images held-out images (a seeded choice), decoded and run
// through the model.
Shown run_model(const Run& run, const ReportOptions& o, ReportResult& result) {
  const TrainConfig& cfg = run.config;
  const std::string spec = run_data_spec(run, o.data);
  TrainEvalSplits splits = load_train_eval_splits(spec, o.data.empty() ? cfg.val_split : 0);
  Shown v;
  Dataset& shown = v.data;
  shown = splits.eval.size() > 0 ? splits.eval : splits.train;
  result.split = shown.name;
  check(shown.size() > 0, "data set '" + spec + "' has no images");
  check(shown.channels() == int64_t(run.state.norm.mean.size()),
        "data set '" + spec + "' has " + std::to_string(shown.channels()) + " channels, the model in '" + run.dir +
            "' takes " + std::to_string(run.state.norm.mean.size()));
  if (shown.size() > o.max_images) {
    at::Generator gen = make_generator(o.seed, 0x5e1);
    auto pick = std::get<0>(torch::randperm(shown.size(), gen, torch::kInt64).narrow(0, 0, o.max_images).sort());
    shown = shown.subset(pick, "");
  }
  // A run that skipped images that do not decode shows the readable ones.
  if (cfg.skip_bad_images > 0 && shown.file_backed()) {
    BadImages bad(cfg.skip_bad_images, /*announce=*/false);
    shown = readable_images(shown, bad);
  }
  result.images = shown.size();
  // An image folder: decode the shown images only, at the run's image size.
  shown = in_memory(shown, cfg.image_size > 0 ? cfg.image_size : shown.height());
  std::fprintf(stderr, "twist: report: running the model on %lld images of %s\n", (long long)shown.size(),
               shown.name.c_str());
  TwistModel model = run.model;  // a handle to the same module
  v.e = embed(model, shown, run.state.norm);
  v.probs = torch::softmax(v.e.logits / cfg.temperature, 1);
  v.pred = v.e.logits.argmax(1).to(torch::kInt64).contiguous();
  v.labelled = shown.has_labels();
  v.mapping.assign(size_t(cfg.classes), -1);
  if (v.labelled) {
    const ClusterMetrics cm = cluster_metrics(v.pred, shown.labels);
    for (size_t c = 0; c < cm.mapping.size() && c < v.mapping.size(); ++c) v.mapping[c] = cm.mapping[c];
  }
  return v;
}

// --- the sections ------------------------------------------------------------------

std::string training_section(const MetricsRows& metrics, const Json& summary, const TrainConfig& cfg) {
  const int64_t C = cfg.classes;
  std::string body;
  if (metrics.rows.empty()) return "<p class=\"muted\">metrics.jsonl has no rows yet.</p>\n";
  const std::string xl = has_key(metrics, "epoch") ? "epoch" : "step";
  body +=
      "<p class=\"muted\">loss = consistency + &alpha;&middot;sharpness &minus; &beta;&middot;diversity "
      "(&alpha; = " +
      fmt("%g", cfg.alpha) + ", &beta; = " + fmt("%g", cfg.beta) +
      "): symmetric KL between the two views, mean entropy of each distribution, entropy of the batch's "
      "mean distribution.</p>\n<div class=\"charts\">\n";
  LineChart loss{"Loss and its three terms", xl, "value", {}};
  for (const auto& [k, n] : std::vector<std::pair<std::string, std::string>>{
           {"loss", "loss"}, {"consistency", "consistency"}, {"sharpness", "sharpness"}, {"diversity", "diversity"}})
    if (has_key(metrics, k)) loss.series.push_back(series_of(metrics, k, n));
  body += svg_line_chart(loss);
  if (has_key(metrics, "lr")) body += svg_line_chart({"Learning rate", xl, "lr", {series_of(metrics, "lr", "lr")}});
  if (has_key(metrics, "images_per_s"))
    body += svg_line_chart({"Throughput", xl, "images/s", {series_of(metrics, "images_per_s", "images/s")}});
  if (has_key(metrics, "classes_in_use")) {
    auto used = series_of(metrics, "classes_in_use", "classes in use");
    body += svg_line_chart({"Classes in use (argmax over the batch)",
                            xl,
                            "classes",
                            {used, constant_series(used, double(C), "C = " + std::to_string(C))}});
  }
  if (has_key(metrics, "mean_entropy")) {
    auto h = series_of(metrics, "mean_entropy", "entropy of the mean");
    body += svg_line_chart({"Entropy of the mean distribution",
                            xl,
                            "nats",
                            {h, constant_series(h, std::log(double(C)), "ln C (uniform)")}});
  }
  if (has_key(metrics, "row_std") || has_key(metrics, "col_std")) {
    LineChart sd{"Std of pre-softmax outputs (Fig. 3)", xl, "std", {}};
    if (has_key(metrics, "row_std")) sd.series.push_back(series_of(metrics, "row_std", "row (per sample)"));
    if (has_key(metrics, "col_std")) sd.series.push_back(series_of(metrics, "col_std", "column (per class)"));
    body += svg_line_chart(sd);
  }
  body += learning_curves(metrics, summary);
  body += "</div>\n";
  if (summary.is_object() && summary.contains("collapse_warning") && summary["collapse_warning"].is_string())
    body +=
        "<p class=\"warn\"><b>Collapse:</b> " + html_escape(summary["collapse_warning"].get<std::string>()) + "</p>\n";
  if (metrics.skipped > 0)
    body += "<p class=\"warn\">" + std::to_string(metrics.skipped) +
            " line(s) of metrics.jsonl did not parse and are left out.</p>\n";
  return body;
}

// The fine-tuning results in the run directory (finetune_<F>pct.json, any
// label fraction F), by increasing fraction: (F, file name).
std::vector<std::pair<std::string, std::string>> finetune_files(const Run& run) {
  const std::string prefix = names::kFinetunePrefix, suffix = names::kFinetuneSuffix;
  std::vector<std::tuple<double, std::string, std::string>> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(run.dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() <= prefix.size() + suffix.size() || f.compare(0, prefix.size(), prefix) != 0 ||
        f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string pct = f.substr(prefix.size(), f.size() - prefix.size() - suffix.size());
    char* end = nullptr;
    const double v = std::strtod(pct.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(v)) found.emplace_back(v, pct, f);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [v, pct, f] : found) out.emplace_back(pct, f);
  return out;
}

// Whether the run's clusters are k-means' of the features (summary.json).
bool kmeans_readout(const Json& summary) {
  return summary.is_object() && summary.contains("cluster_readout") && summary["cluster_readout"] == "kmeans";
}

std::string final_figures_section(const Run& run, const Json& summary) {
  std::string body;
  const Json knn = read_json_if_present(run.path(names::kEvalKnnFile));
  const Json lin = read_json_if_present(run.path(names::kEvalLinearFile));
  const Json linp = read_json_if_present(run.path(names::kEvalLinearPrecomputedFile));
  const Json clu = read_json_if_present(run.path(names::kEvalClusterFile));
  std::string rows;
  auto row = [&](const std::string& name, double v, double baseline, const std::string& source) {
    if (!std::isfinite(v)) return;
    rows += "<tr><td>" + html_escape(name) + "</td><td class=\"num\">" + cell(v) + "</td><td class=\"num\">" +
            cell(baseline) + "</td><td class=\"muted\">" + html_escape(source) + "</td></tr>\n";
  };
  const double nan = std::nan("");
  const double pix = number_or_nan(summary, names::kPixelKnnTop1);
  const bool own_knn = knn.is_object();
  const double k = own_knn ? number_or_nan(knn, "k") : double(run.config.knn_k);
  row("kNN top-1 (k = " + fmt("%g", k) + ", cosine)",
      own_knn ? number_or_nan(knn, "top1") : number_or_nan(summary, names::kKnnTop1), pix,
      own_knn ? "eval_knn.json" : "summary.json");
  row("kNN top-5", own_knn ? number_or_nan(knn, "top5") : number_or_nan(summary, names::kKnnTop5), nan,
      own_knn ? "eval_knn.json" : "summary.json");
  row("linear probe top-1 (augmented)", number_or_nan(lin, "top1"), nan, "eval_linear.json");
  row("linear probe top-1 (precomputed features)", number_or_nan(linp, "top1"), nan, "eval_linear_precomputed.json");
  const bool own_clu = clu.is_object();
  const Json& cs = own_clu ? clu : summary;
  const std::string csrc = std::string(own_clu ? "eval_cluster.json" : "summary.json") +
                           (kmeans_readout(summary) ? " (k-means read-out)" : "");
  row("cluster accuracy (Hungarian)", number_or_nan(cs, "acc"), nan, csrc);
  row("NMI", number_or_nan(cs, "nmi"), nan, csrc);
  row("AMI", number_or_nan(cs, "ami"), nan, csrc);
  row("ARI", number_or_nan(cs, "ari"), nan, csrc);
  if (kmeans_readout(summary)) {  // the figures above are k-means' clusters: the head's beside them
    row("the head's cluster accuracy", number_or_nan(summary, "head_acc"), nan, "summary.json");
    row("the head's NMI", number_or_nan(summary, "head_nmi"), nan, "summary.json");
  }
  for (const auto& [pct, f] : finetune_files(run))
    row("fine-tuned with " + pct + "% of the labels, top-1", number_or_nan(read_json_if_present(run.path(f)), "top1"),
        nan, f);
  if (rows.empty()) {
    body +=
        "<p class=\"muted\">No evaluation results in the run directory yet (twist eval knn|linear|cluster "
        "--run " +
        html_escape(run.dir) + ").</p>\n";
  } else {
    body += "<table><tr><th>metric</th><th>TWIST</th><th>raw pixels</th><th>from</th></tr>\n" + rows + "</table>\n";
    if (std::isfinite(pix))
      body +=
          "<p class=\"muted\">Raw pixels: the same kNN on flattened pixels, the baseline pretraining must "
          "beat.</p>\n";
  }
  if (summary.is_object()) {
    const double steps = number_or_nan(summary, "steps");
    body += "<p class=\"muted\">" + (std::isfinite(steps) ? with_commas(int64_t(steps)) : std::string("?")) +
            " steps, " + fmt("%.2f", number_or_nan(summary, "epochs")) + " epochs, " +
            fmt("%.0f", number_or_nan(summary, "images_per_s")) + " images/s, final loss " +
            fmt("%.4f", number_or_nan(summary, "final_loss")) + ".</p>\n";
  } else {
    body +=
        "<p class=\"warn\">The run has no summary.json: it has not completed (resume it with twist train "
        "--resume --out " +
        html_escape(run.dir) + ").</p>\n";
  }
  return body;
}

std::string classes_section(const Shown& v, const Thumbs& thumbs, const ReportOptions& o, int64_t C) {
  const Dataset& shown = v.data;
  const torch::Tensor& pred = v.pred;
  const bool labelled = v.labelled;
  const std::vector<int64_t>& mapping = v.mapping;
  std::string body;
  auto counts = torch::bincount(pred, {}, C).contiguous();
  const auto* cnt = counts.data_ptr<int64_t>();
  std::vector<int64_t> order;
  for (int64_t c = 0; c < C; ++c)
    if (cnt[c] > 0) order.push_back(c);
  const int64_t used = int64_t(order.size());
  // Labelled: in the order of the matched classes; else the largest first.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    if (labelled) {
      const int64_t ma = mapping[size_t(a)] < 0 ? INT64_MAX : mapping[size_t(a)];
      const int64_t mb = mapping[size_t(b)] < 0 ? INT64_MAX : mapping[size_t(b)];
      if (ma != mb) return ma < mb;
    }
    return cnt[a] > cnt[b];
  });
  body += "<p>" + std::to_string(used) + " of " + std::to_string(C) + " clusters predicted for the " +
          with_commas(shown.size()) + " images of " + html_escape(shown.name) + "; " +
          std::to_string(o.images_per_class) + " randomly chosen images each" +
          (labelled ? ", named after the class matched to the cluster (Hungarian matching), with the share of "
                      "images of that class (purity)"
                    : " (the data set has no labels, so clusters are not named)") +
          ".</p>\n";
  if (int64_t(order.size()) > o.max_classes) {
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cnt[a] > cnt[b]; });
    order.resize(size_t(o.max_classes));
    body += "<p class=\"muted\">Showing the " + std::to_string(o.max_classes) + " largest clusters.</p>\n";
  }
  std::mt19937_64 rng(o.seed + 1);
  const auto* p = pred.data_ptr<int64_t>();
  torch::Tensor labels = labelled ? shown.labels.to(torch::kInt64).contiguous() : torch::Tensor();
  for (int64_t c : order) {
    std::vector<int64_t> members;
    for (int64_t i = 0; i < pred.size(0); ++i)
      if (p[i] == c) members.push_back(i);
    std::shuffle(members.begin(), members.end(), rng);
    if (int64_t(members.size()) > o.images_per_class) members.resize(size_t(o.images_per_class));
    std::string cap = v.cluster_label(c) + " &middot; " + with_commas(cnt[c]) + " images (" +
                      fmt("%.1f", 100.0 * double(cnt[c]) / double(shown.size())) + "%)";
    if (labelled && mapping[size_t(c)] >= 0) {
      const int64_t k = mapping[size_t(c)];
      const double purity = (labels.index({pred == c}) == k).to(torch::kFloat64).mean().item<double>();
      cap += " &middot; " + fmt("%.0f", 100 * purity) + "% " + html_escape(v.class_name(k));
    }
    auto idx = torch::tensor(members, torch::kInt64);
    auto grid = tile_images(thumbs.images.index_select(0, idx), o.images_per_class, 2);
    const int64_t css = grid.size(2) * thumbs.display / thumbs.images.size(3);
    body +=
        "<div class=\"cls\"><div class=\"cap\">" + cap + "</div>" + img_tag(grid, css, v.cluster_label(c)) + "</div>\n";
  }
  std::vector<int64_t> empty;
  for (int64_t c = 0; c < C; ++c)
    if (cnt[c] == 0) empty.push_back(c);
  if (!empty.empty()) {
    std::string list;
    for (size_t i = 0; i < empty.size() && i < 50; ++i) list += (i ? ", " : "") + std::to_string(empty[i]);
    if (empty.size() > 50) list += ", &hellip;";
    body += "<p class=\"muted\">Never predicted: " + std::to_string(empty.size()) + " cluster(s) (" + list + ").</p>\n";
  }
  return body;
}

// Fig. 7: draws its images from the global generator, after run_model's.
std::string top5_section(const Shown& v, const Thumbs& thumbs, const ReportOptions& o, const TrainConfig& cfg) {
  const int64_t C = cfg.classes;
  const Dataset& shown = v.data;
  const bool labelled = v.labelled;
  std::string body;
  body +=
      "<p class=\"muted\">Randomly chosen images with the five most probable clusters, softmax(logits / "
      "&tau;), &tau; = " +
      fmt("%g", cfg.temperature) + (labelled ? "; the true class in the caption" : "") +
      ".</p>\n<div class=\"examples\">\n";
  const int64_t n = std::min(o.top5_examples, shown.size());
  at::Generator gen = make_generator(o.seed, 0x5e2);
  auto pick = torch::randperm(shown.size(), gen, torch::kInt64).narrow(0, 0, n);
  const int64_t k = std::min<int64_t>(5, C);
  auto top = v.probs.index_select(0, pick).topk(k, 1);
  auto tv = std::get<0>(top).to(torch::kFloat64).contiguous(), ti = std::get<1>(top).contiguous();
  for (int64_t j = 0; j < n; ++j) {
    const int64_t i = pick[j].item<int64_t>();
    body += "<div class=\"ex\">" + img_tag(thumbs.images[i], thumbs.display, "image " + std::to_string(i)) + "<div>";
    if (labelled)
      body += "<div class=\"muted\">true: " + html_escape(v.class_name(shown.labels[i].item<int64_t>())) + "</div>";
    body += "<table>";
    for (int64_t r = 0; r < k; ++r) {
      const double pr = tv[j][r].item<double>();
      const int64_t c = ti[j][r].item<int64_t>();
      const bool right = labelled && v.mapping[size_t(c)] == shown.labels[i].item<int64_t>();
      body += "<tr><td" + std::string(right ? " class=\"ok\"" : "") + ">" + html_escape(v.cluster_label(c)) +
              "</td><td class=\"num\">" + fmt("%.3f", pr) +
              "</td><td><span class=\"bar\" style=\"width:" + fmt("%.0f", 80 * pr) + "px\"></span></td></tr>";
    }
    body += "</table></div></div>\n";
  }
  body += "</div>\n";
  return body;
}

std::string diagnostics_section(const Shown& v, const MetricsRows& metrics, const ReportOptions& o) {
  const Embeddings& e = v.e;
  const Dataset& shown = v.data;
  std::string body;
  const OutputSpread spread = output_spread(e.logits);
  if (v.labelled) {
    SimilarityHistograms h = similarity_histograms(e.features, shown.labels, 50, 4000, o.seed);
    HistogramChart hc;
    hc.title = "Cosine similarity of backbone features (Fig. 5)";
    hc.x_label = "cosine similarity";
    hc.y_label = "fraction of pairs";
    hc.edges = h.edges;
    ChartSeries same, diff;
    same.name = "same class";
    same.y = h.same;
    diff.name = "different class";
    diff.y = h.different;
    diff.color = "#d62728";
    hc.series = {same, diff};
    body += "<div class=\"charts\">" + svg_histogram_chart(hc) + "</div>\n";
    body += "<p>Overlap of the two distributions " + fmt("%.3f", h.overlap) +
            " (0: separable, 1: identical); mean cosine similarity, same class " + fmt("%.3f", h.same_mean) +
            ", different class " + fmt("%.3f", h.different_mean) + " (" + with_commas(h.same_pairs) + " and " +
            with_commas(h.different_pairs) + " pairs of up to 4,000 images).</p>\n";
  } else {
    body += "<p class=\"muted\">The similarity histograms need labels; " + html_escape(shown.name) + " has none.</p>\n";
  }
  body +=
      "<p>Standard deviation of the pre-softmax outputs on these images: along a row (over the classes of "
      "one image) " +
      fmt("%.3f", spread.row_std) + ", along a column (over the images for one class) " + fmt("%.3f", spread.col_std) +
      (has_key(metrics, "row_std") ? "; over training in the chart above" : "") + ".</p>\n";
  return body;
}

std::string page(const Run& run, const std::string& body) {
  const TrainConfig& cfg = run.config;
  char when[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const std::string title = "TWIST run " + run.dir;
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + html_escape(title) +
         "</title>\n<style>\n" + kStyle + "</style>\n</head>\n<body>\n<h1>" + html_escape(title) +
         "</h1>\n<p class=\"muted\">" + html_escape(cfg.arch) + " (width " + fmt("%g", cfg.width) +
         (cfg.feature_dim > 0 ? ", features " + std::to_string(cfg.feature_dim) : "") +
         "), C = " + std::to_string(cfg.classes) + " classes, trained on " + html_escape(cfg.data) +
         "; report written " + when + ".</p>\n" + body + "</body>\n</html>\n";
}

}  // namespace

ReportResult write_report(const Run& run, const ReportOptions& o) {
  check(o.images_per_class >= 1 && o.images_per_class <= 100, "report: images per class must be 1 to 100");
  check(o.max_classes >= 1, "report: max classes must be positive");
  check(o.top5_examples >= 0 && o.top5_examples <= 100, "report: top-5 examples must be 0 to 100");
  check(o.max_images >= 1, "report: max images must be positive");
  ReportResult result;
  result.path = o.out.empty() ? run.path("report.html") : o.out;
  const TrainConfig& cfg = run.config;
  MetricsRows metrics = read_metrics(run.path("metrics.jsonl"));
  result.metrics_lines = int64_t(metrics.rows.size());
  result.skipped_lines = metrics.skipped;
  if (metrics.skipped > 0)
    std::fprintf(stderr, "twist: report: %lld line(s) of %s did not parse and are left out (first: line %lld)\n",
                 (long long)metrics.skipped, run.path("metrics.jsonl").c_str(),
                 (long long)metrics.skipped_line_numbers.front());
  const Json summary = read_json_if_present(run.path("summary.json"));
  const Shown v = run_model(run, o, result);

  std::string body;
  auto section = [&](const std::string& title, const std::string& html) {
    body += "<h2>" + html_escape(title) + "</h2>\n" + html;
    result.sections.push_back(title);
  };
  section("Training", training_section(metrics, summary, cfg));
  section("Final figures", final_figures_section(run, summary));
  const Thumbs thumbs = thumbnails(v.data.images);
  const std::string head_note =
      kmeans_readout(summary)
          ? "<p class=\"muted\">The head's clusters, below and in the top-5 predictions. This run's own clusters "
            "are k-means' of the backbone's features (cluster_readout.json), which twist eval cluster and twist "
            "predict use.</p>\n"
          : "";
  section("Predicted classes", head_note + classes_section(v, thumbs, o, cfg.classes));
  if (o.top5_examples > 0) section("Top-5 predictions", top5_section(v, thumbs, o, cfg));
  section("Diagnostics", diagnostics_section(v, metrics, o));
  section("Settings", "<details><summary>config.json (every resolved setting)</summary><pre>" +
                          html_escape(config_to_json(cfg)) + "</pre></details>\n");
  const std::string html = page(run, body);
  write_file_atomic(result.path, html);
  result.bytes = int64_t(html.size());
  return result;
}

}  // namespace twist
