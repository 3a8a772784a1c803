// ReplayBuffer — episodes of (obs, action, reward), sampled as sub-trajectories of H+1
// observations that never cross an episode boundary (TD-MPC2's SliceSampler semantics).
//
// Storage: one flat ring per field, episodes appended whole (the trainer adds an episode when it
// ends). Capacity counts transitions; when full, the oldest whole episodes are dropped.
// An episode of T transitions holds T+1 observations, T actions and T rewards.
//
// sample(B) returns time-major tensors, as the TD-MPC2 update reads them:
//   obs    (H+1, B, obs_dim)    action (H, B, action_dim)    reward (H, B, 1)
// Each row b is one uniformly chosen start among all valid starts (any t with t+H <= T in any
// stored episode). The batch tensors are allocated once and reused (no allocation per sample).
// BMPC's per-transition expert distributions ride along as optional extra fields.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "lucid/agents/agent.h"
#include "lucid/engine/rng.h"
#include "lucid/engine/tensor.h"

namespace lucid::agents {

struct Batch {
  Tensor obs;     // (H+1, B, obs_dim)
  Tensor action;  // (H, B, action_dim)
  Tensor reward;  // (H, B, 1)
  // Where each row came from: global transition index of its first observation, so that lazy
  // reanalyze (BMPC) can write back to the sampled slots.
  std::vector<std::int64_t> start;
};

class ReplayBuffer {
 public:
  ReplayBuffer(int obs_dim, int action_dim, std::int64_t capacity, int horizon);

  // obs: (T+1) * obs_dim, action: T * action_dim, reward: T.
  void add_episode(std::span<const float> obs, std::span<const float> action, std::span<const float> reward);
  const Batch& sample(int batch_size, Rng& rng);

  std::int64_t num_transitions() const;
  std::int64_t num_episodes() const;
  int obs_dim() const { return obs_dim_; }
  int action_dim() const { return action_dim_; }
  int horizon() const { return horizon_; }

  AgentState state() const;  // everything, so a resumed run samples exactly the same batches
  void load_state(const AgentState& state);

 private:
  void drop_oldest_episode();

  int obs_dim_, action_dim_, horizon_;
  std::int64_t capacity_;
  // Episodes in insertion order; each stores its own arrays (episodes are at most a few thousand
  // transitions, so per-episode vectors cost nothing and make dropping the oldest trivial).
  struct Episode {
    std::vector<float> obs, action, reward;
    std::int64_t length = 0;    // transitions
    std::int64_t first_id = 0;  // global id of its first transition
  };
  std::vector<Episode> episodes_;
  std::int64_t next_id_ = 0;
  std::int64_t transitions_ = 0;
  Batch batch_;
  std::vector<std::int64_t> cumulative_starts_;  // prefix sums of valid starts per episode
};

}  // namespace lucid::agents
