// `lucid suite`: run a benchmark suite as separate `lucid train` / `lucid eval` processes,
// N at a time, resumable, with live progress; or list it (--dry-run); or emit it as a Slurm job
// array (--emit slurm).
//
// Resume contract: a job whose folder holds summary.json with "status": "finished" is never run
// again. Any other job is (re)launched in the same folder, whose files are never deleted, so
// the trainer continues from its last checkpoint and keeps the evaluations already in eval.csv.
// While a job runs, its process holds an exclusive flock on <job dir>/.lock (the descriptor is
// inherited across exec), so a second suite started on the same folder — or a restarted suite
// whose killed predecessor's children are still exiting — waits instead of launching a twin.
// Children get PR_SET_PDEATHSIG(SIGTERM): killing the suite, even with SIGKILL, stops its runs.
#pragma once

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "suite/suite_config.h"

namespace lucid::suite {

// argv of the process that runs one job (argv[0] is looked up on PATH when it has no '/').
using CommandBuilder = std::function<std::vector<std::string>(const Job&, const SuiteConfig&)>;

// `lucid train task=.. agent=.. planner=.. seed=.. steps=.. eval_freq=.. eval_episodes=..
//  model_size=.. run_dir=<abs run folder> [train_args...]` and, for test jobs,
// `lucid eval run_dir=<abs run folder> planner=<p> episodes=<eval_episodes> seed=..
//  eval_dir=<abs test folder>`.
CommandBuilder default_command(const std::filesystem::path& lucid_exe);

struct SuiteOptions {
  std::filesystem::path config;        // suite YAML
  std::vector<std::string> overrides;  // key=value
  bool dry_run = false;                // list jobs and their state, run nothing
  std::string emit;                    // "" or "slurm"
  std::filesystem::path emit_path;     // where --emit writes (default <suite_dir>/slurm.sh)
  std::filesystem::path lucid_exe = "lucid";
  CommandBuilder command;       // empty: default_command(lucid_exe)
  std::ostream* out = nullptr;  // progress and listings; nullptr: std::cout
  double poll_s = 0.5;          // how often finished children are reaped
  double progress_s = 30.0;     // how often the progress block is printed
};

// Returns 0 when every job is finished (or the listing/emission succeeded), 1 when some job
// failed. Throws lucid::ConfigError for a malformed suite.
int run_suite(const SuiteOptions& options);

// Job state as read from its folder, used by the listing, the scheduler and the tests.
enum class JobState { kNew, kPartial, kFinished };
JobState job_state(const Job& job);

// The Slurm array script (one training run per array index, followed by its test-time
// evaluations; finished jobs are skipped exactly as the local scheduler skips them).
std::string slurm_script(const SuiteConfig& cfg, const std::vector<Job>& jobs, const CommandBuilder& command);

// POSIX shell quoting of one argument ('...' with embedded quotes escaped).
std::string shell_quote(const std::string& arg);

}  // namespace lucid::suite
