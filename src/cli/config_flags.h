#pragma once
// The training settings on the command line: --config FILE and one flag per
// key of twist/config.h (--key-name). `twist train` takes all of them;
// `twist bench` takes those that shape a training step.
#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <string>

#include "twist/config.h"

namespace twist::cli {

struct ConfigFlags {
  std::string config_file;
  std::map<std::string, std::string> values;
  std::map<std::string, CLI::Option*> options;

  bool given(const std::string& key) const;
  // `base`, then the --config file's keys over it, then the flags given.
  TrainConfig apply(TrainConfig base) const;
};

// Registers --config and a flag for every key that `keep` accepts (every key
// when empty). `flags` must outlive parsing: the options write into it.
void add_config_flags(CLI::App* cmd, ConfigFlags& flags, const std::function<bool(const ConfigKey&)>& keep = {});

}  // namespace twist::cli
