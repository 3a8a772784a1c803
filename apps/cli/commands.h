// The `lucid` subcommands. Each takes the resolved configuration (or its own arguments) and
// returns the process exit status; errors are thrown as lucid::Error and turned into one line and
// exit status 2 by main.cc.
#pragma once

#include <filesystem>
#include <string>

#include "cli/config.h"

namespace lucid::cli {

// Exit status of a subcommand whose capability has not been built yet (never a fake result).
inline constexpr int kExitNotBuilt = 3;

int cmd_train(const Config& config);
int cmd_eval(const Config& config);
int cmd_plan_bench(const Config& config);

struct SuiteArgs {
  std::filesystem::path config;
  std::vector<std::string> overrides;
  bool dry_run = false;
  std::string emit;  // "" or "slurm"
  std::filesystem::path lucid_exe;
};
int cmd_suite(const SuiteArgs& args);

struct ReportArgs {
  std::filesystem::path folder;
  std::filesystem::path out;  // default: <folder>/report
};
int cmd_report(const ReportArgs& args);

// "lucid 0.1.0 (Release) backends: CPU, CUDA-emu"
std::string version_string();

}  // namespace lucid::cli
