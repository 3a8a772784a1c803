// A random TD-MPC2 update batch for agent tests: observations and rewards N(0, 1), actions
// U(-1, 1), shaped (H + 1, B, obs), (H, B, A), (H, B, 1) from the agent config. Drawn from `rng`
// in that order, so two tests that share a seed see the same batch.
#pragma once

#include <cstdint>

#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/engine/rng.h"

namespace lucid::testing {

inline agents::Batch random_update_batch(const agents::Tdmpc2AgentConfig& c, Rng& rng) {
  agents::Batch b;
  const int H = c.horizon, B = c.batch_size;
  b.obs = Tensor::zeros(Shape{H + 1, B, c.obs_dim});
  b.action = Tensor::zeros(Shape{H, B, c.action_dim});
  b.reward = Tensor::zeros(Shape{H, B, 1});
  rng.normal(b.obs.data(), b.obs.numel());
  rng.uniform(b.action.data(), b.action.numel());
  for (std::int64_t i = 0; i < b.action.numel(); ++i) b.action.data()[i] = 2.f * b.action.data()[i] - 1.f;
  rng.normal(b.reward.data(), b.reward.numel());
  return b;
}

}  // namespace lucid::testing
