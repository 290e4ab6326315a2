// twist predict: classes of image files, as the head assigns them.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "commands.h"
#include "run_args.h"
#include "twist/augment.h"
#include "twist/cluster_readout.h"
#include "twist/error.h"
#include "twist/eval.h"
#include "twist/image.h"

namespace twist::cli {
namespace {

// Names of the clusters from `eval cluster`'s mapping, when it was run.
std::vector<std::string> cluster_names(const Run& run) {
  const std::string path = run.path("cluster_mapping.json");
  std::vector<std::string> names;
  if (!std::filesystem::exists(path)) return names;
  std::ifstream f(path);
  try {
    auto j = nlohmann::json::parse(f);
    for (const auto& n : j.at("names")) names.push_back(n.is_string() ? n.get<std::string>() : "");
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + path + "' is not a cluster mapping written by twist eval cluster: " + e.what());
  }
  return names;
}

}  // namespace

std::function<int()> add_predict_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "predict",
      "Classify image files (PNG, JPEG, PGM/PPM, BMP; any size, converted to the model's channels and\n"
      "size). Clusters are named after the classes that twist eval cluster matched them to, when run.\n"
      "The run's clusters: the head's (with each one's probability) or, where twist train chose k-means\n"
      "of the features (cluster_readout.json), the nearest k-means centres (with the cosine to each).");
  struct State {
    RunArgs args;
    std::vector<std::string> images;
    int64_t top_k = 5;
  };
  auto st = std::make_shared<State>();
  add_run_args(cmd, st->args, /*with_data=*/false);
  cmd->add_option("images", st->images, "image files")->required();
  cmd->add_option("--top-k", st->top_k, "classes to show per image [5]")->check(CLI::PositiveNumber);
  return [st]() {
    Run run = open_run_for(st->args);
    const int64_t channels = int64_t(run.state.norm.mean.size());
    const int64_t size = run_image_size(run);
    const auto names = cluster_names(run);
    // Decode everything first: a bad file fails before any output.
    std::vector<torch::Tensor> batch;
    for (const auto& path : st->images) batch.push_back(fit_image(read_image(path), channels, size));
    const std::optional<ClusterReadout> readout = load_cluster_readout(run.dir);
    const bool kmeans = readout && readout->kmeans();
    torch::Tensor probs;
    {
      torch::NoGradGuard no_grad;
      const torch::Tensor images = torch::stack(batch);
      // The distribution the model was trained to produce: softmax(logits / tau);
      // with k-means clusters, the cosine to each centre.
      if (kmeans) {
        probs = unit_rows(backbone_batch_features(run.model->backbone, images, run.state.norm))
                    .matmul(readout->centres.t());
      } else {
        const auto x = normalize(images.to(torch::kFloat32).div_(255.0), run.state.norm);
        probs = torch::softmax(run.model->logits(x) / run.config.temperature, 1);
      }
    }
    const char* score = kmeans ? "cosine" : "probability";
    const int64_t k = std::min(st->top_k, probs.size(1));
    auto top = probs.topk(k, 1);
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (size_t i = 0; i < st->images.size(); ++i) {
      nlohmann::ordered_json preds = nlohmann::ordered_json::array();
      for (int64_t r = 0; r < k; ++r) {
        const int64_t c = std::get<1>(top)[i][r].item<int64_t>();
        nlohmann::ordered_json p;
        p["cluster"] = c;
        p[score] = std::get<0>(top)[i][r].item<double>();
        if (c < int64_t(names.size()) && !names[c].empty()) p["class"] = names[c];
        preds.push_back(p);
      }
      out.push_back({{"image", st->images[i]}, {"top", preds}});
    }
    if (st->args.json) {
      nlohmann::ordered_json j;
      j["predictions"] = out;
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    if (names.empty())
      std::fprintf(stderr, "twist: clusters are unnamed; run twist eval cluster --run %s to match them to classes\n",
                   run.dir.c_str());
    for (const auto& img : out) {
      std::printf("%s\n", img["image"].get<std::string>().c_str());
      for (const auto& p : img["top"])
        std::printf(kmeans ? "  cluster %-5lld cosine %6.3f  %s\n" : "  cluster %-5lld %6.2f%%  %s\n",
                    (long long)p["cluster"].get<int64_t>(), (kmeans ? 1 : 100) * p[score].get<double>(),
                    p.contains("class") ? p["class"].get<std::string>().c_str() : "");
    }
    return 0;
  };
}

}  // namespace twist::cli
