#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace twist::cli {

// Each sub-command registers its options and returns the function that runs
// it once parsing succeeded.
std::function<int()> add_train_command(CLI::App& app);
std::function<int()> add_eval_command(CLI::App& app);
std::function<int()> add_finetune_command(CLI::App& app);
std::function<int()> add_predict_command(CLI::App& app);
std::function<int()> add_embed_command(CLI::App& app);
std::function<int()> add_export_command(CLI::App& app);
std::function<int()> add_launch_command(CLI::App& app);
std::function<int()> add_report_command(CLI::App& app);
std::function<int()> add_bench_command(CLI::App& app);

}  // namespace twist::cli
