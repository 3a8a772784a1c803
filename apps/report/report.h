// `lucid report <run or suite folder>`: tables, aggregate metrics and figures for a set of runs.
//
// Reads every run folder at or below `folder` (live or killed runs included, see run_data.h) and
// writes into options.out_dir (default <folder>/report/), each file temp + rename:
//   per_task.csv / per_task.json   mean ± std over seeds of the evaluation return at each eval step
//   final_scores.csv               one row per run: final return and normalized score
//   aggregates.csv / aggregates.json  median, IQM, mean, optimality gap with stratified bootstrap CIs
//   score_distribution.csv         fraction of runs with normalized score > tau, with CIs
//   curves_<task>.svg, aggregates.svg, score_distribution.svg, index.html
//   <figure>.png beside each SVG when `rsvg-convert` (Debian librsvg2-bin) is installed: an
//   optional tool, never a build dependency; without it the report says so and writes SVG only
// Aggregates use finished runs of DMC tasks (normalized score = return / 1000) unless
// include_unfinished is set; tasks of other domains appear in the tables only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "report/metrics.h"
#include "report/run_data.h"

namespace lucid::report {

struct ReportOptions {
  std::filesystem::path out_dir;         // empty: <folder>/report
  std::filesystem::path reference_file;  // empty: the bundled apps/data/reference_scores.csv
  bool references = true;                // draw published TD-MPC2/BMPC scores beside the curves
  bool include_unfinished = false;       // aggregate over runs that are not finished yet
  int bootstrap_reps = 2000;
  double confidence = 0.95;
  std::uint64_t seed = 0;       // bootstrap seed
  int tau_points = 51;          // score-distribution grid on [0, 1]
  bool png = true;              // also <figure>.png, when rsvg-convert is on PATH
  std::ostream* log = nullptr;  // progress/summary lines; nullptr: std::cout
};

// One (task, method) learning curve: statistics over seeds at each evaluation step.
struct CurvePoint {
  std::int64_t step = 0;
  double mean = 0, std = 0;  // std over seeds (sample std, ddof = 1; 0 for one seed)
  int seeds = 0;
};
struct TaskCurve {
  std::string task, method;
  std::vector<CurvePoint> points;
  bool test_time = false;  // a test-time evaluation: one point at the end of training
};

// What the report computed, for callers (the CLI, tests) that want numbers rather than files.
struct ReportResult {
  std::vector<RunData> runs;
  std::vector<TaskCurve> curves;
  struct MethodAggregate {
    std::string method;
    AggregateMetrics metrics;
    std::vector<std::string> tasks;
    std::vector<Interval> distribution;  // one per tau
  };
  std::vector<MethodAggregate> aggregates;
  std::vector<double> taus;
  std::vector<std::filesystem::path> files;  // everything written
};

std::vector<TaskCurve> build_curves(const std::vector<RunData>& runs);
ReportResult build_report(const std::filesystem::path& folder, const ReportOptions& options);

// Builds and writes the report. Returns 0 on success, 1 when no run folder was found.
// Throws lucid::Error on unreadable inputs or unwritable outputs.
int run_report(const std::filesystem::path& folder, const ReportOptions& options = {});

}  // namespace lucid::report
