// Reading run folders written by `lucid train` / `lucid eval` (layout in apps/README.md).
//
// A run folder holds config.yaml, eval.csv (one row per evaluation episode), train.csv (one row
// per training episode) and summary.json. Runs that are still going (or were killed) are read as
// far as they got: a missing file is an empty series, and a half-written last CSV line is
// skipped, so `lucid report` can be pointed at a live suite. A test-time evaluation of a trained
// run (another planner on the final checkpoint) lives in <run>/test_<planner>/ with the same
// eval.csv and summary.json, and is read as its own method.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lucid::report {

// One evaluation: the mean return over the episodes logged at that step.
struct EvalPoint {
  std::int64_t step = 0;
  double mean_return = 0;
  int episodes = 0;
};

struct TrainPoint {
  std::int64_t step = 0;
  double episode_return = 0;
  double steps_per_s = 0;
  double wall_time_s = 0;
};

struct RunData {
  std::filesystem::path dir;
  std::string task, agent, planner;  // planner = the planner used to train
  std::string test_planner;          // non-empty for a test-time evaluation folder
  std::int64_t seed = 0;
  std::int64_t steps = 0;  // step budget (0 when unknown)
  std::string status;      // "finished", "running", or "" when no summary yet
  std::int64_t last_step = 0;
  double steps_per_s = 0;
  double wall_time_s = 0;
  std::optional<double> final_eval_return;
  std::vector<EvalPoint> evals;   // sorted by step
  std::vector<TrainPoint> train;  // in file order

  bool finished() const { return status == "finished"; }
  // What the report compares: "tdmpc2-mppi" (agent-training planner), or, for a test-time
  // evaluation with another planner, "bmpc-mppi / test dream-mpc".
  std::string method() const;
  // Score used by aggregates: summary.json's final_eval_return, else the last evaluation.
  std::optional<double> final_return() const;
};

// Reads one run folder. Never throws for missing or partial files; throws lucid::IoError only
// when summary.json exists but is not JSON.
RunData read_run(const std::filesystem::path& dir);

// Every run folder at or below `root` (a run folder itself, a suite folder, or any parent),
// test-time evaluation folders included, sorted by (task, method, seed).
std::vector<RunData> discover_runs(const std::filesystem::path& root);

// eval.csv rows (`step,episode,return,...`) grouped per step; malformed lines are skipped.
std::vector<EvalPoint> parse_eval_csv(const std::string& text);
std::vector<TrainPoint> parse_train_csv(const std::string& text);

}  // namespace lucid::report
