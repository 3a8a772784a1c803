// Evaluation: run an agent for whole episodes without exploration noise (TD-MPC2's eval_mode) and
// collect per-episode returns; optionally record the first episode as video frames.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "lucid/agents/agent.h"
#include "lucid/envs/env.h"

namespace lucid::agents {

struct EpisodeResult {
  double ret = 0.0;
  std::int64_t length = 0;   // agent steps
  bool diverged = false;     // the physics diverged and ended the episode early
  double act_seconds = 0.0;  // time spent in agent.act() (planning), for ms-per-plan-call reports
};

// Called with every rendered frame of the recorded episode.
using FrameSink = std::function<void(const envs::Image&)>;

struct EvalOptions {
  int episodes = 10;
  std::uint64_t seed = 0;  // episode i is reset with seed + i
  int video_width = 256, video_height = 256;
  FrameSink frames;  // set: the first episode is rendered frame by frame
  // Polled every step; when it returns true the evaluation stops and returns what it has (the
  // trainer passes its SIGINT/SIGTERM flag, so a stop request is served within one step).
  std::function<bool()> should_stop;
};

std::vector<EpisodeResult> evaluate(Agent& agent, envs::Env& env, const EvalOptions& options);

}  // namespace lucid::agents
