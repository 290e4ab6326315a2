#pragma once
// Names shared by the code that writes a run directory's figures and the
// code that reads them back (twist report): one spelling of each.
namespace twist::names {

// Learning-curve lines of metrics.jsonl (--eval-every).
inline constexpr const char* kEvalKnnTop1 = "eval_knn_top1";
inline constexpr const char* kEvalAcc = "eval_acc";
inline constexpr const char* kEvalNmi = "eval_nmi";
inline constexpr const char* kEvalKmeansAcc = "eval_kmeans_acc";

// summary.json: the end-of-run figures.
inline constexpr const char* kKnnTop1 = "knn_top1";
inline constexpr const char* kKnnTop5 = "knn_top5";
inline constexpr const char* kKnnTop1Whitened = "knn_top1_whitened";
inline constexpr const char* kPixelKnnTop1 = "pixel_knn_top1";
inline constexpr const char* kCenteredPixelKnnTop1 = "centered_pixel_knn_top1";

// Files the evaluation commands leave in the run directory.
inline constexpr const char* kEvalKnnFile = "eval_knn.json";
inline constexpr const char* kEvalLinearFile = "eval_linear.json";
inline constexpr const char* kEvalLinearPrecomputedFile = "eval_linear_precomputed.json";
inline constexpr const char* kEvalClusterFile = "eval_cluster.json";
inline constexpr const char* kEvalClusterKmeansFile = "eval_cluster_kmeans.json";
// finetune_<F>pct.json, F the percentage of labels (finetune_10pct.json).
inline constexpr const char* kFinetunePrefix = "finetune_";
inline constexpr const char* kFinetuneSuffix = "pct.json";

}  // namespace twist::names
