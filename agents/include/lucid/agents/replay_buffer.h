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
//
// Extra per-step fields (BMPC's expert action distributions): add_field(name, width, fill)
// registers a float row of `width` values per OBSERVATION (T+1 rows per episode: the planner's
// distribution at the state it planned from). New episodes get `fill` in every row (BMPC: mean 0,
// std 1 for seed data, whose actions were not planned); the owner writes real values later by
// slot: (global id of a sampled row's first observation, step t) — Batch::start names the slots,
// so lazy reanalyze writes back exactly where it sampled. sample() copies each field into
// Batch::fields[f], (H+1, B, width). Fields travel through state() as "buffer/field/<name>"
// records; a checkpoint without them (written before the field existed) loads with `fill`. A
// field record loaded before its field is registered (the trainer restores the buffer before the
// agent's first update registers it) is kept per episode and adopted by add_field.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
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
  std::vector<Tensor> fields;  // per registered field: (H+1, B, width)
};

class ReplayBuffer {
 public:
  ReplayBuffer(int obs_dim, int action_dim, std::int64_t capacity, int horizon);

  // obs: (T+1) * obs_dim, action: T * action_dim, reward: T.
  void add_episode(std::span<const float> obs, std::span<const float> action, std::span<const float> reward);
  const Batch& sample(int batch_size, Rng& rng);

  std::int64_t num_transitions() const;
  std::int64_t num_episodes() const;
  // Global id the next added episode's first observation will get (ids count transitions).
  std::int64_t next_id() const { return next_id_; }

  // ---- extra per-observation fields (see the header comment) ----
  // Returns the field's index. fill.size() is the width.
  int add_field(const std::string& name, std::span<const float> fill);
  int num_fields() const { return static_cast<int>(fields_.size()); }
  int field_index(const std::string& name) const;  // -1 when not registered
  int field_width(int field) const;
  // Row of `field` at observation t of the sub-trajectory starting at global id `start` (t may be
  // up to H, the last observation of an episode included); throws for a slot no longer stored.
  std::span<float> field_row(int field, std::int64_t start, int t);
  // Stored episodes in insertion order: their first ids, lengths, observations ((T+1) x obs_dim)
  // and field rows ((T+1) x width), for an owner that fills fields of newly added episodes.
  struct EpisodeView {
    std::int64_t first_id = 0, length = 0;
    std::span<const float> obs;
  };
  EpisodeView episode(std::int64_t i) const;
  std::span<float> episode_field(std::int64_t i, int field);
  int obs_dim() const { return obs_dim_; }
  int action_dim() const { return action_dim_; }
  int horizon() const { return horizon_; }

  AgentState state() const;  // everything, so a resumed run samples exactly the same batches
  void load_state(const AgentState& state);

 private:
  struct Field;
  void drop_oldest_episode();
  static std::vector<float> filled(const Field& f, std::int64_t rows);

  int obs_dim_, action_dim_, horizon_;
  std::int64_t capacity_;
  // Episodes in insertion order; each stores its own arrays (episodes are at most a few thousand
  // transitions, so per-episode vectors cost nothing and make dropping the oldest trivial).
  struct Episode {
    std::vector<float> obs, action, reward;
    std::vector<std::vector<float>> fields;  // per field: (length + 1) x width
    std::int64_t length = 0;                 // transitions
    std::int64_t first_id = 0;               // global id of its first transition
  };
  std::vector<Episode> episodes_;
  std::int64_t next_id_ = 0;
  std::int64_t transitions_ = 0;
  Batch batch_;
  std::vector<std::int64_t> cumulative_starts_;  // prefix sums of valid starts per episode
  struct Field {
    std::string name;
    std::vector<float> fill;  // one row
  };
  std::vector<Field> fields_;
  // Field records of a loaded checkpoint whose field was not registered yet: name -> first id -> rows.
  std::map<std::string, std::map<std::int64_t, std::vector<float>>> pending_fields_;
};

}  // namespace lucid::agents
