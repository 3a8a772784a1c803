// `lucid suite`: suite-file validation (messages name line and key), job expansion, the dry-run
// listing, Slurm emission, and resume after SIGKILL with a /bin/sh stand-in for `lucid train`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "lucid/error.h"
#include "report/files.h"
#include "report/run_data.h"
#include "suite/scheduler.h"
#include "suite/suite.h"

namespace lucid::suite {
namespace fs = std::filesystem;
namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("lucid_suite_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// The ConfigError message for a suite text, or "" when it parses.
std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    parse_suite(yaml, "s.yaml", overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kValid =
    "tasks: [cartpole-swingup, reacher-easy]\n"
    "agents: [tdmpc2]\n"
    "seeds: [1, 2]\n"
    "steps: 2000\n"
    "eval_freq: 1000\n";

TEST(SuiteConfig, ParsesDefaultsAndOverrides) {
  const SuiteConfig c =
      parse_suite(kValid, "dir/my-suite.yaml",
                  {"steps=4000", "train_args.seed_steps=500", "eval_planners=[dream-mpc]", "seeds=3"});
  EXPECT_EQ(c.name, "my-suite");
  EXPECT_EQ(c.tasks, (std::vector<std::string>{"cartpole-swingup", "reacher-easy"}));
  EXPECT_EQ(c.planners, std::vector<std::string>{"mppi"});
  EXPECT_EQ(c.eval_planners, std::vector<std::string>{"dream-mpc"});
  EXPECT_EQ(c.seeds, (std::vector<std::int64_t>{1, 2, 3}));  // a count means 1..N
  EXPECT_EQ(c.steps, 4000);
  EXPECT_EQ(c.train_args.at("seed_steps"), "500");
  EXPECT_EQ(c.out_dir, fs::path("runs"));
  EXPECT_GE(c.parallel_jobs(), 1);
  // The resolved YAML reads back to the same suite.
  const SuiteConfig back = parse_suite(to_yaml(c), "resolved.yaml");
  EXPECT_EQ(back.name, c.name);
  EXPECT_EQ(back.seeds, c.seeds);
  EXPECT_EQ(back.eval_planners, c.eval_planners);
  EXPECT_EQ(back.train_args, c.train_args);
  // Comma lists work on the command line.
  EXPECT_EQ(parse_suite(kValid, "s.yaml", {"tasks=a-b,c-d"}).tasks, (std::vector<std::string>{"a-b", "c-d"}));
}

TEST(SuiteConfig, MalformedFilesNameLineAndKey) {
  struct Case {
    std::string yaml, line, key;
  };
  const std::vector<Case> cases = {
      {std::string(kValid) + "stepz: 5\n", "s.yaml:6", "'stepz'"},                             // unknown key
      {"tasks: [a-b]\nagents: [x]\nseeds: [1]\nsteps: abc\n", "s.yaml:4", "'steps'"},          // wrong type
      {"tasks: [a-b]\nagents: [x]\nseeds: [1]\nsteps: -5\n", "s.yaml:4", "'steps'"},           // out of range
      {"tasks: [a-b]\nagents: x\nseeds: [1, 1]\n", "s.yaml:3", "'seeds'"},                     // duplicate
      {"tasks: [a-b]\nagents: [x]\nseeds: [1]\nmodel_size: 7\n", "s.yaml:4", "'model_size'"},  // not a preset
      {"tasks: [a-b]\nagents: [x]\nseeds: [1]\nsteps: 10\neval_freq: 20\n", "s.yaml:5", "'eval_freq'"},
      {"tasks: {a: 1}\nagents: [x]\nseeds: [1]\n", "s.yaml:1", "'tasks'"},  // map, not list
      {"tasks: [a/b]\nagents: [x]\nseeds: [1]\n", "s.yaml:1", "'tasks'"},   // not a folder name
      {"tasks: [a-b]\nagents: [x]\nseeds: [1]\ntrain_args:\n  seed: 3\n", "s.yaml:5", "'train_args.seed'"},
      {"tasks: [a-b]\nagents: [x]\nseeds: [1]\njobs: [2]\n", "s.yaml:4", "'jobs'"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(c.yaml);
    EXPECT_NE(msg.find(c.line + ":"), std::string::npos) << "for:\n" << c.yaml << "got: " << msg;
    EXPECT_NE(msg.find(c.key), std::string::npos) << "for:\n" << c.yaml << "got: " << msg;
  }
  // YAML syntax errors carry line and column.
  EXPECT_NE(error_of("tasks: [a-b\nagents: [x]\n").find("s.yaml:"), std::string::npos);
  // A missing required key is named.
  EXPECT_NE(error_of("tasks: [a-b]\nseeds: [1]\n").find("missing required key 'agents'"), std::string::npos);
  // Overrides are named instead of a line.
  const std::string o = error_of(kValid, {"steps=lots"});
  EXPECT_NE(o.find("override 'steps=lots'"), std::string::npos) << o;
  EXPECT_NE(error_of(kValid, {"nope=1"}).find("unknown key 'nope'"), std::string::npos);
  EXPECT_NE(error_of(kValid, {"steps"}).find("expected key=value"), std::string::npos);
}

TEST(SuiteConfig, BundledSuitesAreValid) {
  const fs::path dir = fs::path(LUCID_SOURCE_DIR) / "apps" / "configs" / "suites";
  const SuiteConfig smoke = load_suite(dir / "smoke.yaml");
  EXPECT_LE(smoke.tasks.size(), 2u);
  const SuiteConfig easy = load_suite(dir / "dmc-easy.yaml");
  EXPECT_EQ(easy.tasks, (std::vector<std::string>{"cartpole-swingup", "reacher-easy", "finger-spin",
                                                  "walker-walk", "cheetah-run", "ball_in_cup-catch"}));
  EXPECT_EQ(easy.steps, 100000);
  const SuiteConfig dream = load_suite(dir / "dream-mpc-dmc.yaml");
  EXPECT_EQ(dream.tasks.size(), 8u);
  EXPECT_EQ(dream.seeds.size(), 3u);
  EXPECT_EQ(dream.eval_episodes, 10);
}

TEST(SuiteJobs, ExpandsSeedMajorWithTestJobsAfterTraining) {
  const SuiteConfig c = parse_suite(kValid, "s.yaml", {"eval_planners=[mppi, dream-mpc]", "out_dir=/tmp/x"});
  const auto jobs = expand_jobs(c);
  ASSERT_EQ(jobs.size(), 8u);  // 2 tasks x 2 seeds, plus one test job each (mppi == training planner)
  EXPECT_EQ(jobs[0].label(), "cartpole-swingup tdmpc2-mppi seed 1");
  EXPECT_EQ(jobs[1].label(), "reacher-easy tdmpc2-mppi seed 1");
  EXPECT_EQ(jobs[2].seed, 2);
  EXPECT_EQ(jobs[0].dir, fs::path("/tmp/x/s/cartpole-swingup/tdmpc2-mppi/seed_1"));
  EXPECT_EQ(jobs[4].kind, Job::Kind::kTest);
  EXPECT_EQ(jobs[4].test_planner, "dream-mpc");
  EXPECT_EQ(jobs[4].dir, jobs[0].dir / "test_dream-mpc");
  EXPECT_EQ(jobs[4].train_index, 0u);
  const auto argv = default_command("/usr/bin/lucid")(jobs[0], c);
  EXPECT_EQ(argv[0], "/usr/bin/lucid");
  EXPECT_EQ(argv[1], "train");
  EXPECT_NE(std::find(argv.begin(), argv.end(), "run_dir=/tmp/x/s/cartpole-swingup/tdmpc2-mppi/seed_1"),
            argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "steps=2000"), argv.end());
  EXPECT_EQ(default_command("lucid")(jobs[4], c)[1], "eval");
}

// A suite file in a temporary folder whose out_dir is that folder.
fs::path write_suite(const fs::path& root, const std::string& body) {
  const fs::path f = root / "t.yaml";
  std::ofstream(f) << body << "out_dir: " << root.string() << "\n";
  return f;
}

TEST(Suite, DurationsReadLikeClocks) {
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(200), "3m20s");
  EXPECT_EQ(format_duration(3900), "1h05m");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(Suite, DryRunListsJobsAndTheirState) {
  const fs::path root = fresh_dir("dry");
  const fs::path cfg = write_suite(root, kValid);
  const fs::path done = root / "t" / "reacher-easy" / "tdmpc2-mppi" / "seed_2";
  fs::create_directories(done);
  std::ofstream(done / "summary.json") << R"({"status": "finished"})";
  const fs::path part = root / "t" / "cartpole-swingup" / "tdmpc2-mppi" / "seed_2";
  fs::create_directories(part);
  std::ofstream(part / "summary.json") << R"({"status": "running", "last_step": 1000})";

  const fs::path corrupt = root / "t" / "reacher-easy" / "tdmpc2-mppi" / "seed_1";
  fs::create_directories(corrupt);
  std::ofstream(corrupt / "summary.json") << "{\"status\": \"fini";  // not JSON: not finished

  std::ostringstream out;
  SuiteOptions o;
  o.config = cfg;
  o.dry_run = true;
  o.lucid_exe = "/opt/lucid";
  o.out = &out;
  ASSERT_EQ(run_suite(o), 0);
  const std::string s = out.str();
  EXPECT_NE(s.find("4 jobs"), std::string::npos) << s;
  EXPECT_NE(s.find("[new] cartpole-swingup tdmpc2-mppi seed 1"), std::string::npos) << s;
  EXPECT_NE(s.find("[finished (skip)] reacher-easy tdmpc2-mppi seed 2"), std::string::npos) << s;
  EXPECT_NE(s.find("[resume (at step 1000)] cartpole-swingup tdmpc2-mppi seed 2"), std::string::npos) << s;
  EXPECT_NE(s.find("/opt/lucid train task=cartpole-swingup"), std::string::npos) << s;
  EXPECT_NE(s.find("[resume (summary.json unreadable)] reacher-easy tdmpc2-mppi seed 1"), std::string::npos)
      << s;
  EXPECT_FALSE(fs::exists(root / "t" / "cartpole-swingup" / "tdmpc2-mppi" / "seed_1"))
      << "dry run created folders";
  fs::remove_all(root);
}

TEST(Suite, EmitsSlurmArrayWithOneRunPerIndex) {
  const fs::path root = fresh_dir("slurm");
  const fs::path cfg = write_suite(root, std::string(kValid) + "eval_planners: [dream-mpc]\njobs: 3\n");
  std::ostringstream out;
  SuiteOptions o;
  o.config = cfg;
  o.emit = "slurm";
  o.lucid_exe = "/opt/lucid";
  o.out = &out;
  ASSERT_EQ(run_suite(o), 0);
  const fs::path script = root / "t" / "slurm.sh";
  ASSERT_TRUE(fs::exists(script));
  EXPECT_TRUE((fs::status(script).permissions() & fs::perms::owner_exec) != fs::perms::none);
  const std::string s = *report::read_text(script);
  EXPECT_EQ(s.rfind("#!/bin/bash\n", 0), 0u);
  EXPECT_NE(s.find("#SBATCH --array=0-3%3\n"), std::string::npos) << s;  // 4 training runs, 3 at a time
  EXPECT_NE(s.find("#SBATCH --job-name=lucid-t\n"), std::string::npos);
  EXPECT_TRUE(fs::is_directory(root / "t" / "slurm"));
  for (int k = 0; k < 4; ++k) EXPECT_NE(s.find("\n  " + std::to_string(k) + ")  # "), std::string::npos) << k;
  const std::string run0 = (root / "t" / "cartpole-swingup" / "tdmpc2-mppi" / "seed_1").string();
  EXPECT_NE(
      s.find("run_job " + run0 + " /opt/lucid train task=cartpole-swingup agent=tdmpc2 planner=mppi seed=1"),
      std::string::npos)
      << s;
  // Index 0 runs its test-time evaluation after training, in the same array task.
  const auto idx0 = s.find("\n  0)"), idx1 = s.find("\n  1)");
  const auto test0 = s.find("run_job " + run0 + "/test_dream-mpc /opt/lucid eval");
  EXPECT_TRUE(test0 > idx0 && test0 < idx1) << s;
  EXPECT_NE(s.find("\"finished\""), std::string::npos);  // finished jobs are skipped on resubmission
  EXPECT_TRUE(fs::exists(root / "t" / "suite.yaml"));
  // The script is valid bash.
  EXPECT_EQ(std::system(("bash -n " + script.string()).c_str()), 0);
  fs::remove_all(root);
}

// Stand-in trainer: $1 run dir, $2 steps, $3 eval_freq. It resumes from its "checkpoint" (the
// step it last reached), drops evaluation rows past that checkpoint (as a resuming trainer must),
// logs every launch, and writes summary.json temp + rename like lucid train.
const char* kFakeTrain = R"sh(
dir=$1; steps=$2; freq=$3
echo launch >> "$dir/launches.txt"
step=0
[ -f "$dir/ckpt" ] && step=$(cat "$dir/ckpt")
if [ -f "$dir/eval.csv" ]; then
  awk -F, -v s="$step" 'NR == 1 || $1 <= s' "$dir/eval.csv" > "$dir/eval.tmp" && mv "$dir/eval.tmp" "$dir/eval.csv"
else
  echo "step,episode,return,length,wall_time_s" > "$dir/eval.csv"
fi
while [ "$step" -lt "$steps" ]; do
  sleep 0.05
  step=$((step + freq))
  echo "$step,0,$step,500,0.1" >> "$dir/eval.csv"
  echo "$step" > "$dir/ckpt.tmp" && mv "$dir/ckpt.tmp" "$dir/ckpt"
  printf '{"status":"running","last_step":%d,"steps_per_s":20}' "$step" > "$dir/s.tmp" && mv "$dir/s.tmp" "$dir/summary.json"
done
printf '{"status":"finished","last_step":%d,"final_eval_return":%d}' "$step" "$step" > "$dir/s.tmp"
mv "$dir/s.tmp" "$dir/summary.json"
)sh";

const char* kFakeEval = R"sh(
dir=$1
echo launch >> "$dir/launches.txt"
echo "step,episode,return,length,wall_time_s" > "$dir/eval.csv"
echo "0,0,7,500,0.1" >> "$dir/eval.csv"
printf '{"status":"finished","final_eval_return":7}' > "$dir/s.tmp" && mv "$dir/s.tmp" "$dir/summary.json"
)sh";

CommandBuilder fake_command() {
  return [](const Job& j, const SuiteConfig& c) -> std::vector<std::string> {
    if (j.kind == Job::Kind::kTest) return {"/bin/sh", "-c", kFakeEval, "fake-eval", j.dir.string()};
    return {"/bin/sh",
            "-c",
            kFakeTrain,
            "fake-train",
            j.dir.string(),
            std::to_string(c.steps),
            std::to_string(c.eval_freq)};
  };
}

int count_lines(const fs::path& f) {
  std::ifstream in(f);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST(Suite, ResumeAfterSigkillRepeatsNoFinishedRunAndLosesNoEvaluation) {
  const fs::path root = fresh_dir("resume");
  const fs::path cfg =
      write_suite(root,
                  "tasks: [cartpole-swingup, reacher-easy]\nagents: [tdmpc2]\nseeds: [1, 2]\n"
                  "steps: 10\neval_freq: 1\neval_episodes: 1\njobs: 2\neval_planners: [dream-mpc]\n");
  SuiteOptions o;
  o.config = cfg;
  o.command = fake_command();
  o.poll_s = 0.02;
  o.progress_s = 0.2;
  const auto jobs = expand_jobs(load_suite(cfg));
  ASSERT_EQ(jobs.size(), 8u);

  // First attempt, in a child process that we SIGKILL once one run has finished and another
  // is part-way through.
  const pid_t suite = ::fork();
  ASSERT_GE(suite, 0);
  if (suite == 0) {
    std::ofstream log(root / "first.log");
    SuiteOptions c = o;
    c.out = &log;
    int rc = 3;
    try {
      rc = run_suite(c);
    } catch (...) {
    }
    log.flush();
    ::_exit(rc);
  }
  std::set<std::size_t> finished_before;
  bool partial_seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    finished_before.clear();
    partial_seen = false;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      const JobState st = job_state(jobs[i]);
      if (st == JobState::kFinished) finished_before.insert(i);
      if (st == JobState::kPartial) partial_seen = true;
    }
    if (!finished_before.empty() && partial_seen) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(finished_before.empty());
  ASSERT_TRUE(partial_seen);
  ::kill(suite, SIGKILL);
  int status = 0;
  ::waitpid(suite, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  // The killed suite's trainers get SIGTERM (PDEATHSIG) but may still be writing their last
  // files: wait until every job lock is free, so that the state read below is the state the
  // second suite starts from (otherwise a run finishing in between makes the counts race).
  const auto lock_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const fs::path lock = jobs[i].dir / ".lock";
    for (;;) {
      const int fd = ::open(lock.c_str(), O_RDONLY);
      if (fd < 0) break;  // never launched
      const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
      ::close(fd);
      if (free) break;
      ASSERT_LT(std::chrono::steady_clock::now(), lock_deadline) << "an orphaned run never exited: " << lock;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // Re-read after the kill: a run may have finished in the last instant.
  finished_before.clear();
  for (std::size_t i = 0; i < jobs.size(); ++i)
    if (job_state(jobs[i]) == JobState::kFinished) finished_before.insert(i);
  ASSERT_LT(finished_before.size(), jobs.size()) << "the suite finished before it could be killed";
  std::map<std::size_t, int> launches_before;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    launches_before[i] = count_lines(jobs[i].dir / "launches.txt");

  // Second attempt, to completion. Trainers orphaned by the kill get SIGTERM (PDEATHSIG); any
  // still holding a lock are waited for, not duplicated.
  std::ostringstream out;
  SuiteOptions again = o;
  again.out = &out;
  again.progress_s = 0;  // a progress block on every poll, so the checks below cannot miss one
  ASSERT_EQ(run_suite(again), 0) << out.str();
  EXPECT_NE(out.str().find(std::to_string(finished_before.size()) + " already finished"), std::string::npos)
      << out.str();
  // Progress: one line per active run with step/total, rate, ETA and last evaluation, plus an
  // overall ETA (the stand-in trainer reports 20 steps/s).
  EXPECT_NE(out.str().find("overall ETA"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("/10 ("), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("20.0 steps/s, ETA "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find(", last eval "), std::string::npos) << out.str();

  for (std::size_t i = 0; i < jobs.size(); ++i) {
    SCOPED_TRACE(jobs[i].label());
    EXPECT_EQ(job_state(jobs[i]), JobState::kFinished);
    const int launches = count_lines(jobs[i].dir / "launches.txt");
    if (finished_before.count(i)) {
      EXPECT_EQ(launches, 1) << "a finished run was launched again";
    } else {
      EXPECT_EQ(launches, launches_before[i] + 1) << "an unfinished run was not relaunched exactly once";
    }
    if (jobs[i].kind == Job::Kind::kTrain) {
      // Every evaluation 1..10 is present exactly once: none lost, none repeated.
      const auto evals = report::parse_eval_csv(*report::read_text(jobs[i].dir / "eval.csv"));
      ASSERT_EQ(evals.size(), 10u);
      for (std::size_t k = 0; k < evals.size(); ++k) {
        EXPECT_EQ(evals[k].step, static_cast<std::int64_t>(k + 1));
        EXPECT_EQ(evals[k].episodes, 1);
      }
    }
    EXPECT_TRUE(fs::exists(jobs[i].dir / "suite.log"));
  }
  // A third run has nothing left to do.
  std::ostringstream third;
  SuiteOptions once_more = o;
  once_more.out = &third;
  ASSERT_EQ(run_suite(once_more), 0);
  EXPECT_NE(third.str().find("8 already finished"), std::string::npos) << third.str();
  fs::remove_all(root);
}

TEST(Suite, WaitsForAJobLockedByAnotherProcessInsteadOfDuplicatingIt) {
  const fs::path root = fresh_dir("lock");
  const fs::path cfg = write_suite(root,
                                   "tasks: [cartpole-swingup]\nagents: [tdmpc2]\nseeds: [1]\nsteps: 2\n"
                                   "eval_freq: 1\njobs: 1\n");
  const auto jobs = expand_jobs(load_suite(cfg));
  fs::create_directories(jobs[0].dir);
  // Another "suite" holds the run: an independent open file description on the lock file.
  const int fd = ::open((jobs[0].dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  std::ostringstream out;
  SuiteOptions o;
  o.config = cfg;
  o.command = fake_command();
  o.poll_s = 0.02;
  o.out = &out;
  int rc = -1;
  std::thread t([&] { rc = run_suite(o); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(fs::exists(jobs[0].dir / "launches.txt")) << "launched while another process held the lock";
  ::close(fd);  // the holder exits
  t.join();
  EXPECT_EQ(rc, 0) << out.str();
  EXPECT_NE(out.str().find("wait   cartpole-swingup"), std::string::npos) << out.str();
  EXPECT_EQ(count_lines(jobs[0].dir / "launches.txt"), 1);
  fs::remove_all(root);
}

TEST(Suite, FailedRunIsReportedAndItsTestJobSkipped) {
  const fs::path root = fresh_dir("fail");
  const fs::path cfg = write_suite(root,
                                   "tasks: [cartpole-swingup]\nagents: [tdmpc2]\nseeds: [1]\nsteps: 2\n"
                                   "eval_freq: 1\njobs: 1\neval_planners: [dream-mpc]\n");
  std::ostringstream out;
  SuiteOptions o;
  o.config = cfg;
  o.command = [](const Job&, const SuiteConfig&) -> std::vector<std::string> {
    return {"/bin/sh", "-c", "echo boom >&2; exit 3"};
  };
  o.poll_s = 0.02;
  o.out = &out;
  EXPECT_EQ(run_suite(o), 1);
  EXPECT_NE(out.str().find("FAILED cartpole-swingup tdmpc2-mppi seed 1: exit code 3"), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("SKIP   cartpole-swingup tdmpc2-mppi seed 1 test dream-mpc"), std::string::npos);
  const auto log =
      report::read_text(root / "t" / "cartpole-swingup" / "tdmpc2-mppi" / "seed_1" / "suite.log");
  ASSERT_TRUE(log.has_value());
  EXPECT_NE(log->find("boom"), std::string::npos);
  fs::remove_all(root);
}

TEST(Suite, RefusesAFolderMadeWithAnotherBudget) {
  const fs::path root = fresh_dir("budget");
  const fs::path cfg = write_suite(root,
                                   "tasks: [cartpole-swingup]\nagents: [tdmpc2]\nseeds: [1]\nsteps: 2\n"
                                   "eval_freq: 1\njobs: 1\n");
  SuiteOptions o;
  o.config = cfg;
  o.command = fake_command();
  o.poll_s = 0.02;
  std::ostringstream out;
  o.out = &out;
  ASSERT_EQ(run_suite(o), 0);
  o.overrides = {"steps=4"};
  try {
    run_suite(o);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("steps=2"), std::string::npos) << e.what();
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace lucid::suite
