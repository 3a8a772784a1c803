// The online trainer: TD-MPC2's loop (trainer/online_trainer.py semantics) with lucid's progress
// line, resumable checkpoints and run folder.
//
// Per agent step: evaluate when step % eval_freq == 0 (at the next episode boundary), act
// (uniform random actions until seed_steps, then the agent), step the env (action repeat inside
// the env), and update — seed_steps updates at once when step == seed_steps (pretraining on the
// seed data), one per step after. Episodes enter the replay buffer when they end.
//
// Checkpoints are written at episode boundaries, every checkpoint_freq agent steps and at the
// end: agent state, replay buffer and the trainer's counters in one safetensors file written to
// a temporary file and renamed. Stopping: the first SIGINT/SIGTERM lets the episode in progress
// finish (its logging and any evaluation due included) and checkpoints that boundary, so a stop
// loses nothing; a second one stops at once, keeping the last checkpoint (so does the pretraining
// burst, which ends at no boundary). A run started again with the same run folder resumes from its
// last checkpoint and continues bit-identically; CSV rows logged after that checkpoint are dropped
// first, because the resumed run logs them again (a killed run loses what followed its last one).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "lucid/agents/agent.h"

namespace lucid::agents {

struct TrainerOptions {
  std::string task = "cartpole-swingup";
  std::uint64_t seed = 1;
  std::int64_t steps = 100000;     // agent steps
  std::int64_t seed_steps = 2500;  // random-action steps, then as many pretraining updates
  std::int64_t eval_freq = 10000;
  int eval_episodes = 10;
  int action_repeat = 2;
  int episode_length = 500;  // agent steps per episode
  std::int64_t checkpoint_freq = 10000;
  std::int64_t buffer_size = 1000000;  // capacity = min(buffer_size, steps), as TD-MPC2
  int horizon = 3;                     // sampled sub-trajectories hold horizon + 1 observations
  std::filesystem::path run_dir;
  std::filesystem::path dmc_xml;      // empty: lucid's own models (or $LUCID_DMC_XML)
  std::string config_yaml;            // written to <run>/config.yaml
  nlohmann::json summary;             // task, agent, planner, seed, model_size, ... copied into summary.json
  double progress_interval_s = 10.0;  // a progress line at least this often during long phases
};

using AgentFactory = std::function<std::unique_ptr<Agent>(int obs_dim, int action_dim)>;

// Trains until options.steps; returns 0 when finished (also when it already was), 130 when
// stopped by SIGINT/SIGTERM (checkpointed at the episode boundary, or at once on a second signal).
int train(const TrainerOptions& options, const AgentFactory& make_agent);

}  // namespace lucid::agents
