// lucid — the command line: train, eval, plan-bench, suite, report.
//
// Every subcommand that takes configuration accepts `--config FILE` (YAML overrides) and any
// number of `key=value` overrides, checked against apps/configs/config.yaml. Any lucid::Error
// (an unknown key, a missing file, a corrupt checkpoint, ...) ends the program with one line on
// stderr and exit status 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/config.h"
#include "lucid/error.h"

namespace {

using lucid::cli::Config;

// The options every configurable subcommand shares.
struct ConfigArgs {
  std::string config_file;
  std::vector<std::string> overrides;
};

CLI::App* add_configurable(CLI::App& app, const std::string& name, const std::string& about,
                           ConfigArgs& args) {
  CLI::App* sub = app.add_subcommand(name, about);
  sub->add_option("--config", args.config_file,
                  "YAML file of key: value overrides (keys of apps/configs/config.yaml)");
  sub->add_option("overrides", args.overrides, "key=value overrides, applied after --config");
  sub->footer("Keys and defaults: apps/configs/config.yaml (e.g. task=walker-walk seed=2 steps=50000).");
  return sub;
}

Config resolve(const ConfigArgs& args) {
  Config c = Config::defaults();
  if (!args.config_file.empty()) c.merge_file(args.config_file);
  c.apply_overrides(args.overrides);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "lucid — model-based RL with learned world models: train agents, plan with MPPI / CEM / Grad-MPC / "
      "Dream-MPC, run benchmark suites and report them."};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print version, build type and the backends built");

  ConfigArgs train_args, eval_args, bench_args;
  CLI::App* train =
      add_configurable(app, "train", "Train an agent online on a task (writes a run folder)", train_args);
  CLI::App* eval = add_configurable(
      app, "eval", "Evaluate a checkpoint or a baseline agent (agent=random) on a task", eval_args);
  CLI::App* bench = add_configurable(
      app, "plan-bench", "Time planner calls on a world model (median/p90 ms, GFLOP/s)", bench_args);

  lucid::cli::SuiteArgs suite_args;
  std::string suite_config;
  CLI::App* suite =
      app.add_subcommand("suite", "Run a benchmark suite (tasks x agents x planners x seeds), resumable");
  suite->add_option("--config", suite_config, "Suite file, e.g. apps/configs/suites/smoke.yaml")->required();
  suite->add_flag("--dry-run", suite_args.dry_run, "List the runs that would be started and exit");
  suite->add_option("--emit", suite_args.emit, "Write a job script instead of running (slurm)")
      ->check(CLI::IsMember({"slurm"}));
  suite->add_option("overrides", suite_args.overrides, "key=value overrides of suite keys");

  lucid::cli::ReportArgs report_args;
  std::string report_folder, report_out;
  CLI::App* report =
      app.add_subcommand("report", "Tables, aggregate metrics and figures for a run or suite folder");
  report->add_option("folder", report_folder, "A run folder or a suite folder")->required();
  report->add_option("--out", report_out, "Where to write the report (default: <folder>/report)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  try {
    if (show_version) {
      std::cout << lucid::cli::version_string() << "\n";
      return 0;
    }
    if (*train) return lucid::cli::cmd_train(resolve(train_args));
    if (*eval) return lucid::cli::cmd_eval(resolve(eval_args));
    if (*bench) return lucid::cli::cmd_plan_bench(resolve(bench_args));
    if (*suite) {
      suite_args.config = suite_config;
      suite_args.lucid_exe = argv[0];
      return lucid::cli::cmd_suite(suite_args);
    }
    if (*report) {
      report_args.folder = report_folder;
      report_args.out = report_out;
      return lucid::cli::cmd_report(report_args);
    }
    std::cout << app.help();
    return 0;
  } catch (const lucid::Error& e) {
    std::cerr << "lucid: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "lucid: unexpected error: " << e.what() << "\n";
    return 2;
  }
}
