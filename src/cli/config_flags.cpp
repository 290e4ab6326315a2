#include "config_flags.h"

namespace twist::cli {
namespace {

std::string flag_name(std::string key) {
  for (char& c : key)
    if (c == '_') c = '-';
  return "--" + key;
}

}  // namespace

bool ConfigFlags::given(const std::string& key) const {
  auto it = options.find(key);
  return it != options.end() && it->second->count() > 0;
}

TrainConfig ConfigFlags::apply(TrainConfig base) const {
  if (!config_file.empty()) base = load_config_file(config_file, base);
  for (const auto& [key, opt] : options)
    if (opt->count() > 0) set_config_value(base, key, values.at(key));
  return base;
}

void add_config_flags(CLI::App* cmd, ConfigFlags& flags, const std::function<bool(const ConfigKey&)>& keep) {
  cmd->add_option("--config", flags.config_file, "JSON file of settings (same keys as the flags)")
      ->check(CLI::ExistingFile);
  const TrainConfig defaults;
  for (const auto& k : config_keys()) {
    if (keep && !keep(k)) continue;
    std::string help = k.help + " [" + get_config_value(defaults, k.key) + "]";
    flags.options[k.key] = cmd->add_option(flag_name(k.key), flags.values[k.key], help)
                               ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                               ->type_name(k.type == "string"  ? "TEXT"
                                           : k.type == "int"   ? "INT"
                                           : k.type == "float" ? "FLOAT"
                                                               : "BOOL");
  }
}

}  // namespace twist::cli
