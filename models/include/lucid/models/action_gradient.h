// ActionGradient — the one differentiable query that gradient planners need from a world model:
// roll out R candidate action sequences, score them, and return dJ/d(actions) for the ACTIONS ONLY.
//
// Objective per candidate row n (facts/dream_mpc.md §1.3, Eq. (6)):
//   z_0 = z0[n];  z_{t+1} = d(z_t, a_t)
//   J_n = sum_{t<H} gamma^t R(z_t, a_t)
//       + [terminal_value] gamma^H V_heads(z_H)          V_heads(z) = mean over `heads` of Q(z, pi(z)),
//                                                       pi(z) = the policy action with terminal_eps,
//                                                       or of V(z) for models whose values ignore a
//       - lambda * ( sum_{t<H} u(z_{t+1}, a_t) + u(z_H, pi(z_H)) )   u = mean_k Q_k * std_k Q_k (Bessel)
// The uncertainty term u changes J but carries no gradient (the official code computes it under
// no_grad), so grad = d/dA [ sum gamma^t R + gamma^H V ].
//
// Shapes (row-major, fp32): z0 (rows, latent_dim); actions and grad (horizon, rows, action_dim);
// value (rows); terminal_eps (rows, action_dim) or nullptr for the mean policy action.
// Memory contract: value and grad are written (=); nothing else outside the implementation's
// scratch is touched. reserve(rows, horizon) sizes every scratch buffer; after it, evaluate()
// with rows and horizon within those bounds allocates nothing. Not thread-safe (scratch inside).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "lucid/models/world_model.h"

namespace lucid::models {

struct RolloutObjective {
  int horizon = 1;
  float discount = 1.f;
  bool terminal_value = false;
  std::span<const int> heads;           // terminal value heads (empty: all)
  const float* terminal_eps = nullptr;  // (rows, action_dim) policy noise at z_H, or nullptr
  float uncertainty_coef = 0.f;         // lambda; 0 skips the ensemble pass entirely
  // Device implementations only: the terminal mean's weight of every head (num_values floats in
  // device memory, read when the kernels run, so a captured CUDA graph sees a new head pair);
  // when set, `heads` is ignored. The CPU implementations reject it.
  const float* head_weights = nullptr;
};

class ActionGradient {
 public:
  virtual ~ActionGradient() = default;
  virtual void reserve(int rows, int horizon) = 0;
  // grad may be nullptr: forward only (value of each candidate).
  virtual void evaluate(const float* z0, const float* actions, int rows, const RolloutObjective& objective,
                        float* value, float* grad) = 0;
  // The policy prior rolled out through the dynamics, the candidates' usual seed: for t < horizon,
  // a_t = pi(z_t) with noise eps_t (the model's own squashing), z_{t+1} = d(z_t, a_t) (the last
  // step's dynamics is skipped). eps (horizon, rows, A) or nullptr for the mean actions; writes
  // actions (horizon, rows, A) (=). Forward only, same reserve() bounds as evaluate().
  virtual void policy_rollout(const float* z0, const float* eps, int rows, int horizon, float* actions) = 0;
  // FLOPs of the GEMMs run since construction (2 m n k each): what plan-bench reports.
  virtual std::uint64_t gemm_flops() const = 0;
};

// A model that brings its own differentiable rollout (toy models in tests, future model families)
// implements this beside WorldModel.
class ActionGradientSource {
 public:
  virtual ~ActionGradientSource() = default;
  virtual std::unique_ptr<ActionGradient> make_action_gradient() const = 0;
};

// The differentiable rollout of `model`: the fused TD-MPC2 implementation for a Tdmpc2Model, else
// the model's own if it is an ActionGradientSource. The result refers to `model`, which must
// outlive it. Throws lucid::Error for a model with neither.
std::unique_ptr<ActionGradient> make_action_gradient(const WorldModel& model);

}  // namespace lucid::models
