// `lucid suite` entry point: load the suite, guard the suite folder against a changed budget,
// then list (--dry-run), emit (--emit slurm) or schedule the jobs.
#include "suite/suite.h"

#include <yaml-cpp/yaml.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lucid/error.h"
#include "report/files.h"
#include "report/run_data.h"
#include "suite/scheduler.h"

namespace lucid::suite {
namespace fs = std::filesystem;
namespace {

// A suite folder made with another budget would mix incomparable runs under one name, and its
// finished runs would wrongly count as done: refuse, naming the key that changed.
void check_existing_suite(const SuiteConfig& cfg) {
  const fs::path file = cfg.suite_dir() / "suite.yaml";
  const auto text = report::read_text(file);
  if (!text) return;
  YAML::Node old;
  try {
    old = YAML::Load(*text);
  } catch (const YAML::Exception&) {
    return;  // unreadable: it is rewritten below
  }
  const std::pair<const char*, std::int64_t> budget[] = {{"steps", cfg.steps},
                                                         {"eval_freq", cfg.eval_freq},
                                                         {"eval_episodes", cfg.eval_episodes},
                                                         {"model_size", cfg.model_size}};
  for (const auto& [key, now] : budget) {
    if (!old[key]) continue;
    const auto was = old[key].as<std::int64_t>();
    LUCID_CHECK_AS(was == now, ConfigError)
        << file.string() << ": this suite folder was made with " << key << "=" << was
        << ", the suite now says " << now << "; pick another name= or out_dir= for a different budget";
  }
  std::map<std::string, std::string> old_args;
  if (old["train_args"] && old["train_args"].IsMap())
    for (auto it = old["train_args"].begin(); it != old["train_args"].end(); ++it)
      old_args[it->first.Scalar()] = it->second.Scalar();
  LUCID_CHECK_AS(old_args == cfg.train_args, ConfigError)
      << file.string()
      << ": this suite folder was made with different train_args; pick another name= or out_dir=";
}

std::string state_text(const Job& job) {
  switch (job_state(job)) {
    case JobState::kFinished:
      return "finished (skip)";
    case JobState::kPartial: {
      try {
        return "resume (at step " + std::to_string(report::read_run(job.dir).last_step) + ")";
      } catch (const Error&) {
        return "resume (summary.json unreadable)";
      }
    }
    default:
      return "new";
  }
}

}  // namespace

std::string shell_quote(const std::string& a) {
  if (!a.empty() &&
      a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%") ==
          std::string::npos)
    return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CommandBuilder default_command(const fs::path& lucid_exe) {
  // A path with a folder in it is made absolute: jobs (and Slurm nodes) may not share our cwd.
  // A bare name ("lucid") is left to PATH lookup.
  const std::string exe =
      lucid_exe.has_parent_path() ? fs::absolute(lucid_exe).lexically_normal().string() : lucid_exe.string();
  return [exe](const Job& j, const SuiteConfig& c) {
    const std::string run_dir = fs::absolute(j.run_dir).lexically_normal().string();
    std::vector<std::string> a{exe};
    if (j.kind == Job::Kind::kTrain) {
      a.insert(a.end(), {"train", "task=" + j.task, "agent=" + j.agent, "planner=" + j.planner,
                         "seed=" + std::to_string(j.seed), "steps=" + std::to_string(c.steps),
                         "eval_freq=" + std::to_string(c.eval_freq),
                         "eval_episodes=" + std::to_string(c.eval_episodes),
                         "model_size=" + std::to_string(c.model_size), "run_dir=" + run_dir});
      for (const auto& [k, v] : c.train_args) a.push_back(k + "=" + v);
    } else {
      a.insert(a.end(), {"eval", "run_dir=" + run_dir, "planner=" + j.test_planner,
                         "episodes=" + std::to_string(c.eval_episodes), "seed=" + std::to_string(j.seed),
                         "eval_dir=" + fs::absolute(j.dir).lexically_normal().string()});
    }
    return a;
  };
}

JobState job_state(const Job& job) {
  const auto text = report::read_text(job.dir / "summary.json");
  if (text) {
    try {
      const auto j = nlohmann::json::parse(*text);
      if (j.value("status", std::string()) == "finished") return JobState::kFinished;
    } catch (const nlohmann::json::exception&) {
      // A corrupt summary is not a finished run: the job runs again.
    }
    return JobState::kPartial;
  }
  return fs::exists(job.dir / "eval.csv") || fs::exists(job.dir / "train.csv") ? JobState::kPartial
                                                                               : JobState::kNew;
}

std::string slurm_script(const SuiteConfig& cfg, const std::vector<Job>& jobs,
                         const CommandBuilder& command) {
  std::vector<std::size_t> train;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    if (jobs[i].kind == Job::Kind::kTrain) train.push_back(i);
  const fs::path suite_dir = fs::absolute(cfg.suite_dir()).lexically_normal();
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# Slurm job array for lucid suite '" << cfg.name << "' (from " << cfg.source.string() << ").\n"
    << "# One training run per array index, followed by its test-time evaluations; the folder layout is\n"
    << "# the local one (" << suite_dir.string() << "/<task>/<agent>-<planner>/seed_<k>), so\n"
    << "# `lucid report " << suite_dir.string() << "` works on the result and a resubmission skips\n"
    << "# every job whose summary.json says \"finished\".\n"
    << "#SBATCH --job-name=lucid-" << cfg.name << "\n"
    << "#SBATCH --array=0-" << (train.empty() ? 0 : train.size() - 1);
  if (cfg.jobs > 0) s << "%" << cfg.jobs;
  s << "\n#SBATCH --cpus-per-task=2\n"
    << "#SBATCH --output=" << (suite_dir / "slurm" / "%A_%a.out").string() << "\n"
    << "set -euo pipefail\n"
    << "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-2} OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-2}\n\n"
    << "run_job() {  # <job dir> <command...>: skip finished jobs, keep the suite's lock protocol\n"
    << "  local dir=$1; shift\n"
    << "  if grep -Eq '\"status\"[[:space:]]*:[[:space:]]*\"finished\"' \"$dir/summary.json\" 2>/dev/null; "
       "then\n"
    << "    echo \"finished: $dir\"; return 0\n"
    << "  fi\n"
    << "  mkdir -p \"$dir\"\n"
    << "  flock -n \"$dir/.lock\" \"$@\" >>\"$dir/suite.log\" 2>&1\n"
    << "}\n\n"
    << "case \"${SLURM_ARRAY_TASK_ID:?run this script with sbatch}\" in\n";
  for (std::size_t k = 0; k < train.size(); ++k) {
    s << "  " << k << ")  # " << jobs[train[k]].label() << "\n";
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (i != train[k] && !(jobs[i].kind == Job::Kind::kTest && jobs[i].train_index == train[k])) continue;
      s << "    run_job " << shell_quote(fs::absolute(jobs[i].dir).lexically_normal().string());
      for (const auto& a : command(jobs[i], cfg)) s << " " << shell_quote(a);
      s << "\n";
    }
    s << "    ;;\n";
  }
  s << "  *) echo \"no job for array index $SLURM_ARRAY_TASK_ID\" >&2; exit 1 ;;\nesac\n";
  return s.str();
}

int run_suite(const SuiteOptions& o) {
  std::ostream& out = o.out ? *o.out : std::cout;
  const SuiteConfig cfg = load_suite(o.config, o.overrides);
  const std::vector<Job> jobs = expand_jobs(cfg);
  const CommandBuilder command = o.command ? o.command : default_command(o.lucid_exe);

  if (o.dry_run) {
    out << "suite " << cfg.name << " (" << cfg.source.string() << "): " << jobs.size() << " jobs, "
        << cfg.parallel_jobs() << " at a time, folder " << cfg.suite_dir().string() << "\n";
    for (const auto& j : jobs) {
      out << "  [" << state_text(j) << "] " << j.label() << " -> " << j.dir.string() << "\n    ";
      for (const auto& a : command(j, cfg)) out << shell_quote(a) << " ";
      out << "\n";
    }
    return 0;
  }
  if (!o.emit.empty()) {
    LUCID_CHECK_AS(o.emit == "slurm", ConfigError)
        << "--emit: unknown target '" << o.emit << "' (known: slurm)";
    const fs::path path = o.emit_path.empty() ? cfg.suite_dir() / "slurm.sh" : o.emit_path;
    report::write_text_atomic(path, slurm_script(cfg, jobs, command));
    fs::create_directories(cfg.suite_dir() / "slurm");  // Slurm does not create --output folders
    fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
    report::write_text_atomic(cfg.suite_dir() / "suite.yaml", to_yaml(cfg));
    out << "wrote " << path.string() << " (" << jobs.size() << " jobs as a Slurm array); submit with: sbatch "
        << path.string() << "\n";
    return 0;
  }

  check_existing_suite(cfg);
  report::write_text_atomic(cfg.suite_dir() / "suite.yaml", to_yaml(cfg));
  SchedulerOptions so;
  so.jobs = cfg.parallel_jobs();
  so.command = command;
  so.out = &out;
  so.poll_s = o.poll_s;
  so.progress_s = o.progress_s;
  return run_jobs(cfg, jobs, so) == 0 ? 0 : 1;
}

}  // namespace lucid::suite
