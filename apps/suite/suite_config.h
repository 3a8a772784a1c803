// Suite files: what a benchmark suite is (tasks x agents x planners x seeds and their budgets),
// how it is read and checked, and the list of jobs it expands to.
//
// A suite YAML file (apps/configs/suites/*.yaml) has these keys; `key=value` overrides on the
// command line replace them after the file is read (values are YAML: `seeds=[1,2]`, `steps=5000`,
// `train_args.seed_steps=500`):
//   name           folder name under out_dir (default: the file's stem)
//   tasks          [domain-task, ...]                       (required)
//   agents         [tdmpc2 | bmpc | ...]                    (required)
//   planners       planners used for training               (default [mppi])
//   eval_planners  planners evaluated at test time on each trained run's final checkpoint
//   seeds          [1, 2, 3] or a count N meaning 1..N      (required)
//   steps, eval_freq, eval_episodes, model_size             (run budget, as in config.yaml)
//   out_dir        root of the suite folder                 (default runs)
//   jobs           runs at a time, 0 = one per two cores    (default 0)
//   train_args     map of extra `key: value` passed to every `lucid train`
// Validation refuses unknown keys, wrong types and out-of-range values with a lucid::ConfigError
// naming the file, the line and the key (or the override that set it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lucid::suite {

struct SuiteConfig {
  std::string name;
  std::vector<std::string> tasks, agents, planners{"mppi"}, eval_planners;
  std::vector<std::int64_t> seeds;
  std::int64_t steps = 100000, eval_freq = 10000, eval_episodes = 10, model_size = 5;
  std::filesystem::path out_dir = "runs";
  int jobs = 0;
  std::map<std::string, std::string> train_args;  // ordered so that commands are reproducible
  std::filesystem::path source;                   // the file it was read from

  std::filesystem::path suite_dir() const { return out_dir / name; }
  // Effective parallelism: jobs, or one per two hardware threads (at least 1).
  int parallel_jobs() const;
};

// Reads, applies overrides, validates. Throws lucid::ConfigError (file:line: key ...).
SuiteConfig load_suite(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});
// Same, from text (`origin` names it in messages).
SuiteConfig parse_suite(const std::string& yaml_text, const std::string& origin,
                        const std::vector<std::string>& overrides = {});
// The resolved suite as YAML (written to <suite_dir>/suite.yaml).
std::string to_yaml(const SuiteConfig& cfg);

// One process the suite runs: a training run, or a test-time evaluation of a trained run.
struct Job {
  enum class Kind { kTrain, kTest } kind = Kind::kTrain;
  std::string task, agent, planner, test_planner;
  std::int64_t seed = 0;
  std::filesystem::path run_dir;  // the training run folder (for both kinds)
  std::filesystem::path dir;      // where this job writes: run_dir, or run_dir/test_<planner>
  std::size_t train_index = 0;    // for a test job: index of the training job it evaluates
  std::string label() const;      // "cartpole-swingup tdmpc2-mppi seed 1" (+ " test dream-mpc")
};

// Seed-major order (every task's seed 1 before any seed 2), so a suite stopped early still
// covers every task; test jobs follow all training jobs. A test-time planner equal to the
// training planner is skipped: the training run's own final evaluation measures it.
std::vector<Job> expand_jobs(const SuiteConfig& cfg);

}  // namespace lucid::suite
