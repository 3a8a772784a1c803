// WorldModel — what a planner needs from a learned latent model, and nothing more (DESIGN.md).
//
// All tensors are fp32, contiguous and batched along the leading dim B:
//   obs (B, observation_dim)  z (B, latent_dim)  a (B, action_dim)  r, v (B, 1)
//   value_ensemble (num_values, B, 1)    policy mean / log_std (B, action_dim)
// Each query has two forms. `encode(obs) -> z` allocates its result and reads naturally; the
// `*_into` form writes (=) into a caller-owned tensor of the right shape, so a planner that sized
// its buffers once in allocate() runs without allocating. Models keep per-call scratch inside
// (grown on first use to the largest batch seen), so queries are const but not thread-safe,
// unless concurrent_queries() says the threads of one OpenMP team may query at once (each on
// its own rows): then a planner splits its batch over the team instead of splitting every GEMM.
//
// Values: TD-MPC2 learns Q(z, a) heads, BMPC learns V(z) heads; value_uses_action() says which,
// and V models ignore `a`. `heads` picks which ensemble members to average (empty = all), which is
// how TD-MPC2's "two random heads" is expressed without evaluating the other heads at all.
#pragma once

#include <span>

#include "lucid/engine/tensor.h"

namespace lucid::models {

struct PolicyOutput {
  Tensor mean;     // (B, action_dim), before any squashing
  Tensor log_std;  // (B, action_dim), already mapped into the model's [log_std_min, log_std_max]
};

class WorldModel {
 public:
  virtual ~WorldModel() = default;

  virtual int observation_dim() const = 0;
  virtual int action_dim() const = 0;
  virtual int latent_dim() const = 0;
  virtual int num_values() const = 0;
  virtual bool value_uses_action() const = 0;
  // True when the threads of one OpenMP parallel region may call the queries below concurrently.
  virtual bool concurrent_queries() const { return false; }

  // ---- writing forms (no allocation once the model's scratch has grown to the batch) ----
  virtual void encode_into(const Tensor& obs, const Tensor& z) const = 0;
  virtual void next_into(const Tensor& z, const Tensor& a, const Tensor& z_next) const = 0;
  virtual void reward_into(const Tensor& z, const Tensor& a, const Tensor& r) const = 0;
  // Reward and next latent of n rows that all start from one latent: z_shared (1, L), z (n, L)
  // holding that latent on every row, a (n, A). The values of reward_into + next_into on (z, a);
  // a model may use z_shared to compute the latent's share of its first layers once (TD-MPC2:
  // the first step of every planning rollout then costs about a tenth less).
  virtual void step_from_shared_into(const Tensor& z_shared, const Tensor& z, const Tensor& a,
                                     const Tensor& r, const Tensor& z_next) const {
    (void)z_shared;
    reward_into(z, a, r);
    next_into(z, a, z_next);
  }
  // Mean of the decoded values of `heads` (empty: all heads).
  virtual void value_into(const Tensor& z, const Tensor& a, std::span<const int> heads,
                          const Tensor& v) const = 0;
  virtual void value_ensemble_into(const Tensor& z, const Tensor& a, const Tensor& vs) const = 0;
  virtual void policy_into(const Tensor& z, const Tensor& mean, const Tensor& log_std) const = 0;
  // An action of the policy prior: eps (B, action_dim) of N(0, 1) draws gives a sample, an
  // undefined eps gives the deterministic (mean) action. The model applies its own squashing
  // (TD-MPC2: tanh; BMPC: clamp), so planners need not know it.
  virtual void policy_action_into(const Tensor& z, const Tensor& eps, const Tensor& action) const = 0;

  // ---- allocating forms, for tests and one-off queries ----
  Tensor encode(const Tensor& obs) const;
  Tensor next(const Tensor& z, const Tensor& a) const;
  Tensor reward(const Tensor& z, const Tensor& a) const;
  Tensor value(const Tensor& z, const Tensor& a, std::span<const int> heads = {}) const;
  Tensor value_ensemble(const Tensor& z, const Tensor& a) const;
  PolicyOutput policy(const Tensor& z) const;
};

}  // namespace lucid::models
