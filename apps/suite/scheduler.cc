// Local process scheduler for `lucid suite`; see suite.h for the resume and locking contract.
//
// Why processes and not threads: a run is a whole `lucid train` with its own BLAS/OpenMP threads,
// memory and crash domain; a run that aborts takes nothing else down, and a killed suite leaves
// every finished run's files intact.
#include "suite/scheduler.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "lucid/error.h"
#include "report/files.h"
#include "report/run_data.h"

namespace lucid::suite {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

enum class Slot { kPending, kRunning, kDone, kFailed };

struct Active {
  std::size_t job = 0;
  pid_t pid = -1;
  Clock::time_point start;
};

enum class Launch { kStarted, kBusy, kFinished };

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Takes the job folder's lock, then forks; the child keeps the locked descriptor across exec so
// the lock lives exactly as long as the job's process.
Launch launch(const Job& job, const SuiteConfig& cfg, const CommandBuilder& command, pid_t& pid_out) {
  fs::create_directories(job.dir);
  const fs::path lock_path = job.dir / ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  LUCID_CHECK_AS(lock_fd >= 0, IoError) << "cannot open " << lock_path << ": " << std::strerror(errno);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return Launch::kBusy;
  }
  // Another process may have finished the job between our scan and the lock.
  if (job_state(job) == JobState::kFinished) {
    ::close(lock_fd);
    return Launch::kFinished;
  }
  const std::vector<std::string> args = command(job, cfg);
  LUCID_CHECK(!args.empty()) << "the command builder returned no argv for " << job.label();
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  const fs::path log_path = job.dir / "suite.log";
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  LUCID_CHECK_AS(log_fd >= 0, IoError) << "cannot open " << log_path << ": " << std::strerror(errno);
  {
    std::string head = "=== lucid suite launches:";
    for (const auto& a : args) {
      head += ' ';  // appended separately: `" " + str` trips GCC 12's -Wrestrict false positive
      head += shell_quote(a);
    }
    head += "\n";
    [[maybe_unused]] auto n = ::write(log_fd, head.data(), head.size());
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(lock_fd);
    ::close(log_fd);
    LUCID_FAIL(Error) << "fork failed for " << job.label() << ": " << std::strerror(err);
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the suite died before prctl took effect
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::fcntl(lock_fd, F_SETFD, 0);  // keep the lock across exec
    ::execvp(argv[0], argv.data());
    const char msg[] = "lucid suite: exec failed\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(lock_fd);  // the child holds the lock now
  ::close(log_fd);
  pid_out = pid;
  return Launch::kStarted;
}

// A run folder as far as it can be read: progress must never stop the suite, and a summary.json
// that is not JSON (a disk-full write, a hand edit) reads as "nothing known yet".
report::RunData read_run_quietly(const fs::path& dir) {
  try {
    return report::read_run(dir);
  } catch (const Error&) {
    report::RunData r;
    r.dir = dir;
    return r;
  }
}

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::string progress_line(const Job& job, const SuiteConfig& cfg, const Active& a, double& rate_out,
                          std::int64_t& remaining_out) {
  const report::RunData r = read_run_quietly(job.dir);
  std::ostringstream os;
  os << "  " << job.label() << ": ";
  rate_out = 0;
  remaining_out = 0;
  if (job.kind == Job::Kind::kTest) {
    int episodes = 0;
    for (const auto& e : r.evals) episodes += e.episodes;
    os << "test-time evaluation, " << episodes << "/" << cfg.eval_episodes << " episodes, "
       << format_duration(seconds_since(a.start)) << " elapsed";
    return os.str();
  }
  const std::int64_t total = r.steps > 0 ? r.steps : cfg.steps;
  const std::int64_t step = std::min(r.last_step, total);
  remaining_out = total - step;
  rate_out = r.steps_per_s;
  os << "step " << step << "/" << total << " (" << (total ? 100 * step / total : 0) << "%), ";
  if (r.steps_per_s > 0)
    os << fixed1(r.steps_per_s) << " steps/s, ETA " << format_duration(remaining_out / r.steps_per_s);
  else
    os << "starting (" << format_duration(seconds_since(a.start)) << ")";
  if (!r.evals.empty())
    os << ", last eval " << fixed1(r.evals.back().mean_return) << " @" << r.evals.back().step;
  else if (r.final_eval_return)
    os << ", last eval " << fixed1(*r.final_eval_return);
  return os.str();
}

}  // namespace

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = static_cast<long long>(std::llround(s));
  char buf[48];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", t);
  return buf;
}

int run_jobs(const SuiteConfig& cfg, const std::vector<Job>& jobs, const SchedulerOptions& o) {
  std::ostream& out = o.out ? *o.out : std::cout;
  LUCID_CHECK(o.command) << "no command builder";
  const int max_active = std::max(1, o.jobs);
  std::vector<Slot> slot(jobs.size(), Slot::kPending);
  std::vector<bool> busy_noted(jobs.size(), false);
  std::size_t already = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    if (job_state(jobs[i]) == JobState::kFinished) slot[i] = Slot::kDone, ++already;
  out << "suite " << cfg.name << ": " << jobs.size() << " jobs, " << already << " already finished, running "
      << max_active << " at a time in " << cfg.suite_dir().string() << "\n"
      << std::flush;

  std::vector<Active> active;
  const auto t0 = Clock::now();
  auto last_progress = Clock::now();
  for (;;) {
    // Reap finished children.
    for (std::size_t k = 0; k < active.size();) {
      int status = 0;
      const pid_t r = ::waitpid(active[k].pid, &status, WNOHANG);
      if (r == 0) {
        ++k;
        continue;
      }
      const Job& job = jobs[active[k].job];
      const double took = seconds_since(active[k].start);
      if (job_state(job) == JobState::kFinished) {
        slot[active[k].job] = Slot::kDone;
        const auto run = read_run_quietly(job.dir);
        out << "done   " << job.label() << " in " << format_duration(took);
        if (auto f = run.final_return()) out << ", final eval return " << fixed1(*f);
        out << "\n";
      } else {
        slot[active[k].job] = Slot::kFailed;
        out << "FAILED " << job.label() << ": " << (r < 0 ? std::string("lost child") : exit_text(status))
            << " without a finished summary.json; log: " << (job.dir / "suite.log").string() << "\n";
      }
      active.erase(active.begin() + static_cast<std::ptrdiff_t>(k));
    }

    // Launch what is ready.
    for (std::size_t i = 0; i < jobs.size() && static_cast<int>(active.size()) < max_active; ++i) {
      if (slot[i] != Slot::kPending) continue;
      const Job& job = jobs[i];
      if (job.kind == Job::Kind::kTest) {
        const Slot dep = slot[job.train_index];
        if (dep == Slot::kFailed) {
          slot[i] = Slot::kFailed;
          out << "SKIP   " << job.label() << ": its training run failed\n";
          continue;
        }
        if (dep != Slot::kDone) continue;
      }
      pid_t pid = -1;
      // Read before the launch: a fast child may have written its first files by the time we print.
      const bool resumed = job_state(job) == JobState::kPartial;
      switch (launch(job, cfg, o.command, pid)) {
        case Launch::kStarted:
          slot[i] = Slot::kRunning;
          active.push_back({i, pid, Clock::now()});
          out << (resumed ? "resume " : "start  ") << job.label() << " -> " << job.dir.string() << "\n";
          break;
        case Launch::kFinished:
          slot[i] = Slot::kDone;
          break;
        case Launch::kBusy:
          if (!busy_noted[i]) {
            out << "wait   " << job.label() << ": another process holds " << (job.dir / ".lock").string()
                << "\n";
            busy_noted[i] = true;
          }
          break;
      }
    }
    out << std::flush;

    std::size_t done = 0, failed = 0, pending = 0;
    for (Slot s : slot)
      done += s == Slot::kDone, failed += s == Slot::kFailed, pending += s == Slot::kPending;
    if (active.empty() && pending == 0) {
      out << "suite " << cfg.name << ": " << done << "/" << jobs.size() << " finished, " << failed
          << " failed, in " << format_duration(seconds_since(t0)) << "\n"
          << std::flush;
      return static_cast<int>(failed);
    }
    // Jobs locked by another process stay pending: keep polling until their holders exit.

    if (seconds_since(last_progress) >= o.progress_s && !active.empty()) {
      last_progress = Clock::now();
      double total_rate = 0;
      std::int64_t remaining = 0;
      std::ostringstream block;
      for (const auto& a : active) {
        double rate = 0;
        std::int64_t rem = 0;
        block << progress_line(jobs[a.job], cfg, a, rate, rem) << "\n";
        total_rate += rate;
        remaining += rem;
      }
      for (std::size_t i = 0; i < jobs.size(); ++i)
        if (slot[i] == Slot::kPending && jobs[i].kind == Job::Kind::kTrain) {
          const auto r = read_run_quietly(jobs[i].dir);
          remaining += std::max<std::int64_t>(0, cfg.steps - std::min(r.last_step, cfg.steps));
        }
      out << "progress " << cfg.name << ": " << done << "/" << jobs.size() << " finished, " << active.size()
          << " running, " << pending << " pending, " << failed << " failed; overall ETA "
          << (total_rate > 0 ? format_duration(remaining / total_rate) : std::string("?"))
          << " (training steps only)\n"
          << block.str() << std::flush;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(o.poll_s));
  }
}

}  // namespace lucid::suite
