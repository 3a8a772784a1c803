// The local scheduler behind `lucid suite`: fork/exec one process per job, at most `jobs` at a
// time, each holding its folder's lock; reap them; print progress. Internal to apps/suite.
#pragma once

#include <iosfwd>
#include <vector>

#include "suite/suite.h"

namespace lucid::suite {

struct SchedulerOptions {
  int jobs = 1;
  CommandBuilder command;
  std::ostream* out = nullptr;
  double poll_s = 0.5;
  double progress_s = 30.0;
};

// Runs every job that is not finished; returns the number of jobs that did not finish.
int run_jobs(const SuiteConfig& cfg, const std::vector<Job>& jobs, const SchedulerOptions& options);

// "1h05m", "3m20s", "45s"; "?" for a negative or non-finite duration.
std::string format_duration(double seconds);

}  // namespace lucid::suite
