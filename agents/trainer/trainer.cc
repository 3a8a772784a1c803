// The online trainer loop, its progress line and its checkpoints (see trainer.h).
#include "lucid/agents/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <numeric>
#include <vector>

#include "lucid/agents/evaluation.h"
#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/run_checkpoint.h"
#include "lucid/agents/run_writer.h"
#include "lucid/engine/rng.h"
#include "lucid/envs/registry.h"
#include "lucid/error.h"

namespace lucid::agents {
namespace {

std::atomic<int> g_stops{0};
extern "C" void on_stop_signal(int) { g_stops.fetch_add(1); }

// Installs SIGINT/SIGTERM handlers for the lifetime of a training run, restoring the old ones,
// and counts the signals: one asks to stop at the next episode boundary, two to stop now.
class StopSignals {
 public:
  StopSignals() {
    g_stops.store(0);
    old_int_ = std::signal(SIGINT, on_stop_signal);
    old_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  bool requested() const { return g_stops.load() >= 1; }
  bool now() const { return g_stops.load() >= 2; }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

using Clock = std::chrono::steady_clock;

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  char buf[32];
  const auto s = static_cast<long long>(seconds);
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  else
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  return buf;
}

// Trainer counters that go into every checkpoint.
struct Progress {
  std::int64_t step = 0;
  std::int64_t episode = 0;
  std::int64_t last_checkpoint = -1;
  bool eval_pending = false;
  double wall_time_s = 0.0;  // accumulated over all sessions of this run
  double last_train_return = NAN;
  double last_eval_return = NAN;
  std::int64_t last_eval_step = -1;
  bool pretrained = false;  // the burst of seed_steps updates has run
};

const char* kCheckpointName = "latest.safetensors";

void save_checkpoint(const RunWriter& run, const Progress& p, const Agent& agent, const ReplayBuffer& buffer,
                     const Rng& rng) {
  std::filesystem::create_directories(run.checkpoint_dir());
  write_run_checkpoint(run.checkpoint_dir() / kCheckpointName, agent, buffer,
                       {{"step", std::to_string(p.step)},
                        {"episode", std::to_string(p.episode)},
                        {"eval_pending", p.eval_pending ? "1" : "0"},
                        {"wall_time_s", std::to_string(p.wall_time_s)},
                        {"last_train_return", std::to_string(p.last_train_return)},
                        {"last_eval_return", std::to_string(p.last_eval_return)},
                        {"last_eval_step", std::to_string(p.last_eval_step)},
                        {"rng_offset", std::to_string(rng.offset())},
                        {"pretrained", p.pretrained ? "1" : "0"}});
}

std::string need(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  LUCID_CHECK_AS(it != meta.end(), IoError) << "checkpoint has no value 'trainer/" << key << "'";
  return it->second;
}

Progress load_checkpoint(const RunWriter& run, Agent& agent, ReplayBuffer& buffer, Rng& rng) {
  const RunCheckpoint c = read_run_checkpoint(run.checkpoint_dir() / kCheckpointName);
  LUCID_CHECK_AS(c.agent_name == agent.name(), IoError)
      << "checkpoint in " << run.dir().string() << " belongs to agent '" << c.agent_name << "', not '"
      << agent.name() << "'";
  agent.load_state(c.agent);
  buffer.load_state(c.buffer);
  Progress p;
  p.step = std::stoll(need(c.trainer, "step"));
  p.episode = std::stoll(need(c.trainer, "episode"));
  p.last_checkpoint = p.step;
  p.eval_pending = need(c.trainer, "eval_pending") == "1";
  p.wall_time_s = std::stod(need(c.trainer, "wall_time_s"));
  p.last_train_return = std::stod(need(c.trainer, "last_train_return"));
  p.last_eval_return = std::stod(need(c.trainer, "last_eval_return"));
  p.last_eval_step = std::stoll(need(c.trainer, "last_eval_step"));
  rng.set_offset(std::stoull(need(c.trainer, "rng_offset")));
  p.pretrained = need(c.trainer, "pretrained") == "1";
  return p;
}

}  // namespace

int train(const TrainerOptions& o, const AgentFactory& make_agent) {
  LUCID_CHECK_AS(o.steps > 0 && o.eval_freq > 0 && o.eval_episodes > 0 && o.episode_length > 0, ConfigError)
      << "steps, eval_freq, eval_episodes and episode_length must be positive";
  LUCID_CHECK_AS(!o.run_dir.empty(), ConfigError) << "no run folder given";

  envs::EnvOptions env_options;
  env_options.seed = o.seed;
  env_options.action_repeat = o.action_repeat;
  env_options.max_episode_steps = o.episode_length;
  env_options.dmc_xml_dir = o.dmc_xml;
  std::unique_ptr<envs::Env> env = envs::make_env(o.task, env_options);
  envs::EnvOptions eval_options = env_options;
  eval_options.seed = o.seed + 0x9E3779B97F4A7C15ull;  // a separate stream: eval never shifts training
  std::unique_ptr<envs::Env> eval_env = envs::make_env(o.task, eval_options);

  const int obs_dim = env->observation_dim(), action_dim = env->action_dim();
  std::unique_ptr<Agent> agent = make_agent(obs_dim, action_dim);
  ReplayBuffer buffer(obs_dim, action_dim, std::min(o.buffer_size, o.steps), o.horizon);
  Rng rng(o.seed, /*stream=*/11);  // random actions of the seeding phase

  RunWriter run(o.run_dir);
  nlohmann::json summary = o.summary;
  summary["status"] = "running";
  summary["steps"] = o.steps;

  // The run stops at the first episode boundary at or after o.steps (the replay buffer and the
  // checkpoints hold whole episodes), so with DMC's fixed-length episodes it ends at `planned`.
  const std::int64_t planned = (o.steps + o.episode_length - 1) / o.episode_length * o.episode_length;
  summary["planned_steps"] = planned;

  Progress p;
  const bool resuming = std::filesystem::exists(run.checkpoint_dir() / kCheckpointName);
  if (resuming) {
    const nlohmann::json old = run.read_summary();
    if (old.value("status", "") == "finished") {
      std::fprintf(stderr, "[train] %s already finished (%s); nothing to do\n", o.run_dir.c_str(),
                   (o.run_dir / "summary.json").c_str());
      return 0;
    }
    p = load_checkpoint(run, *agent, buffer, rng);
    run.truncate_after(p.step);
    std::fprintf(stderr, "[train] resuming %s from its checkpoint at step %lld\n", o.run_dir.c_str(),
                 static_cast<long long>(p.step));
  } else {
    run.truncate_after(-1);  // a folder without a checkpoint starts over: no stale rows
    run.write_config(o.config_yaml);
  }

  if (planned != o.steps)
    std::fprintf(stderr,
                 "[train] steps=%lld is not a whole number of %d-step episodes: the run ends with the "
                 "episode in progress, at step %lld\n",
                 static_cast<long long>(o.steps), o.episode_length, static_cast<long long>(planned));

  StopSignals stop;
  const auto session_start = Clock::now();
  const double wall_before = p.wall_time_s;
  const std::int64_t step_at_start = p.step;
  auto wall_now = [&] {
    return wall_before + std::chrono::duration<double>(Clock::now() - session_start).count();
  };
  auto steps_per_s = [&] {
    const double dt = std::chrono::duration<double>(Clock::now() - session_start).count();
    return dt > 0 ? static_cast<double>(p.step - step_at_start) / dt : 0.0;
  };
  auto write_summary = [&](const char* status) {
    summary["status"] = status;
    summary["last_step"] = p.step;
    summary["wall_time_s"] = wall_now();
    summary["steps_per_s"] = steps_per_s();
    summary["final_eval_return"] =
        std::isnan(p.last_eval_return) ? nlohmann::json() : nlohmann::json(p.last_eval_return);
    run.write_summary(summary);
  };
  auto progress_line = [&](const char* phase) {
    const double sps = steps_per_s();
    char eval[64] = "-", ret[32] = "-";
    if (!std::isnan(p.last_train_return)) std::snprintf(ret, sizeof ret, "%.1f", p.last_train_return);
    if (p.last_eval_step >= 0)
      std::snprintf(eval, sizeof eval, "%.1f @%lld", p.last_eval_return,
                    static_cast<long long>(p.last_eval_step));
    std::fprintf(stderr,
                 "[%s] %s %s seed %llu | step %lld/%lld (%.1f%%) | ep %lld return %s | eval %s | %.1f "
                 "steps/s | ETA %s\n",
                 phase, o.task.c_str(), agent->name().c_str(), static_cast<unsigned long long>(o.seed),
                 static_cast<long long>(p.step), static_cast<long long>(planned),
                 100.0 * static_cast<double>(p.step) / static_cast<double>(planned),
                 static_cast<long long>(p.episode), ret, eval, sps,
                 format_duration(
                     sps > 0 ? static_cast<double>(std::max<std::int64_t>(planned - p.step, 0)) / sps : NAN)
                     .c_str());
  };
  auto interrupted = [&] {
    std::fprintf(stderr,
                 "[train] interrupted at step %lld; the checkpoint of step %lld is kept — run the same "
                 "command to resume\n",
                 static_cast<long long>(p.step),
                 static_cast<long long>(std::max<std::int64_t>(p.last_checkpoint, 0)));
    return 130;
  };
  bool stop_announced = false;
  auto announce_stop = [&] {  // once, when the first signal is seen mid-episode
    if (stop_announced) return;
    stop_announced = true;
    std::fprintf(stderr,
                 "[train] stop requested at step %lld: finishing this episode to checkpoint it; interrupt "
                 "again to stop now (keeping the checkpoint of step %lld)\n",
                 static_cast<long long>(p.step),
                 static_cast<long long>(std::max<std::int64_t>(p.last_checkpoint, 0)));
  };

  std::vector<float> ep_obs, ep_act, ep_rew, obs;
  bool done = true;
  // A checkpoint is taken at an episode boundary after that boundary's bookkeeping (buffer,
  // logs, evaluation); a resumed run starts right after it, at the reset of the next episode.
  bool at_resume_point = resuming;
  auto last_progress = Clock::now();
  for (;;) {
    if (stop.now()) return interrupted();
    if (stop.requested() && !done) announce_stop();
    if (p.step % o.eval_freq == 0 && !at_resume_point) p.eval_pending = true;
    if (done) {
      const bool finished = p.step >= o.steps;
      if (!at_resume_point) {
        if (p.step > 0 && !ep_rew.empty()) {
          buffer.add_episode(ep_obs, ep_act, ep_rew);
          p.last_train_return = std::accumulate(ep_rew.begin(), ep_rew.end(), 0.0);
          ++p.episode;
          run.log_train(p.step, p.episode, p.last_train_return, static_cast<std::int64_t>(ep_rew.size()),
                        steps_per_s(), wall_now());
        }
        if (p.eval_pending) {
          EvalOptions eo;
          eo.episodes = o.eval_episodes;
          eo.seed = static_cast<std::uint64_t>(p.step) * 1000u;
          eo.should_stop = [&] { return stop.now(); };
          const auto results = evaluate(*agent, *eval_env, eo);
          if (stop.now()) return interrupted();  // a partial evaluation is not logged
          double total = 0;
          for (std::size_t i = 0; i < results.size(); ++i) {
            run.log_eval(p.step, static_cast<std::int64_t>(i), results[i].ret, results[i].length, wall_now());
            total += results[i].ret;
          }
          p.last_eval_return = total / static_cast<double>(results.size());
          p.last_eval_step = p.step;
          p.eval_pending = false;
          progress_line("eval");
        }
        if (p.step > 0) progress_line("train");
        const bool stopping = stop.requested() && !finished;
        if (finished || stopping ||
            (p.step > 0 && p.step - std::max<std::int64_t>(p.last_checkpoint, 0) >= o.checkpoint_freq)) {
          p.wall_time_s = wall_now();
          save_checkpoint(run, p, *agent, buffer, rng);
          p.last_checkpoint = p.step;
        }
        if (stopping) {
          write_summary("running");
          std::fprintf(stderr,
                       "[train] stopped at step %lld, an episode boundary, and checkpointed there — run the "
                       "same command to resume\n",
                       static_cast<long long>(p.step));
          return 130;
        }
      }
      at_resume_point = false;
      write_summary(finished ? "finished" : "running");
      if (finished) break;
      obs = env->reset(static_cast<std::uint64_t>(p.episode));
      agent->reset();
      ep_obs.assign(obs.begin(), obs.end());
      ep_act.clear();
      ep_rew.clear();
    }

    std::vector<float> action;
    if (p.step > o.seed_steps) {
      action = agent->act(obs, /*eval=*/false);
    } else {
      action.resize(action_dim);
      rng.uniform(action.data(), action.size());
      for (float& v : action) v = 2.f * v - 1.f;
    }
    envs::StepResult s = env->step(action);
    ep_act.insert(ep_act.end(), action.begin(), action.end());
    ep_rew.push_back(static_cast<float>(s.reward));
    ep_obs.insert(ep_obs.end(), s.obs.begin(), s.obs.end());
    obs = std::move(s.obs);
    done = s.terminated || s.truncated || s.diverged;
    if (s.diverged)
      std::fprintf(stderr, "[train] physics diverged at step %lld; episode ended\n",
                   static_cast<long long>(p.step));

    if (p.step >= o.seed_steps && buffer.num_episodes() > 0) {
      // The first update round is the pretraining burst on the seed data. TD-MPC2 runs it at
      // step == seed_steps, which is an episode boundary there (2500 = 5 episodes); with other
      // seed_steps it runs at the first step the buffer holds a whole episode.
      const std::int64_t updates = p.pretrained ? 1 : std::max<std::int64_t>(o.seed_steps, 1);
      p.pretrained = true;
      if (updates > 1)
        std::fprintf(stderr, "[train] pretraining: %lld updates on the seed data\n",
                     static_cast<long long>(updates));
      for (std::int64_t i = 0; i < updates; ++i) {
        // The pretraining burst ends at no episode boundary: any stop ends it at once.
        if (updates > 1 ? stop.requested() : stop.now()) return interrupted();
        agent->update(buffer);
        if (updates > 1 &&
            std::chrono::duration<double>(Clock::now() - last_progress).count() > o.progress_interval_s) {
          std::fprintf(stderr, "[pretrain] update %lld/%lld\n", static_cast<long long>(i + 1),
                       static_cast<long long>(updates));
          last_progress = Clock::now();
        }
      }
    }
    ++p.step;
    if (std::chrono::duration<double>(Clock::now() - last_progress).count() > o.progress_interval_s) {
      progress_line("train");
      last_progress = Clock::now();
    }
  }
  std::fprintf(stderr, "[train] finished %lld steps in %s; results in %s\n", static_cast<long long>(p.step),
               format_duration(wall_now()).c_str(), o.run_dir.c_str());
  return 0;
}

}  // namespace lucid::agents
