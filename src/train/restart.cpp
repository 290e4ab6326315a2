// A run whose predictions collapse after the warm-up starts again from
// scratch at half the learning rate: the cure docs/recipe.md measured for
// the collapses seen (too high a learning rate for the data), applied
// without a user having to notice the warning. A flat collapse (every image
// given the uniform distribution) under temperature_mode "all" also moves
// the temperature to the entropies only: the tau-scaled KL is what makes
// flattening cheap, and with the official placement no run in
// docs/recipe.md went through a flat phase.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "twist/dist.h"
#include "twist/train.h"

namespace twist {

TrainSummary train_with_restarts(TrainConfig cfg, bool resume) {
  if (cfg.out.empty() && !dist_env().distributed()) cfg.out = default_run_dir();
  std::vector<std::string> why;
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    try {
      return train(cfg, resume, why);
    } catch (const CollapseRestart& c) {
      // A time budget covers the attempts together; the next gets what is
      // left, and at least a tenth of it, so that it can train at all.
      const double spent_min = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() / 60;
      // (Under budget_covers all the clock runs from the command's start anyway.)
      if (cfg.budget_minutes > 0 && cfg.budget_covers == "training")
        cfg.budget_minutes = std::max(cfg.budget_minutes - spent_min, cfg.budget_minutes / 10);
      namespace fs = std::filesystem;
      const fs::path dir(cfg.out);
      const std::string kept = "metrics.collapsed-" + std::to_string(why.size() + 1) + ".jsonl";
      std::error_code ec;
      fs::rename(dir / "metrics.jsonl", dir / kept, ec);
      fs::remove(dir / "checkpoint.pt", ec);
      const bool move_tau = c.flat && cfg.temperature_mode == "all";
      char line[240];
      std::snprintf(line, sizeof line, "collapsed at step %lld with lr %g: restarted at lr %g%s (log: %s)",
                    (long long)c.step, cfg.lr, cfg.lr / 2, move_tau ? " with --temperature-mode entropies" : "",
                    kept.c_str());
      why.push_back(line + std::string("; ") + c.what());
      std::fprintf(stderr,
                   "\ntwist: the predictions stayed collapsed after the warm-up, so this attempt is "
                   "worthless: %s. --collapse-restarts 0 trains on instead.\n",
                   line);
      cfg.lr /= 2;
      if (move_tau) cfg.temperature_mode = "entropies";
      cfg.collapse_restarts -= 1;
      resume = false;
    }
  }
}

}  // namespace twist
