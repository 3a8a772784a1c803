// MPPI — TD-MPC2's sampling planner (facts/tdmpc2.md §1.6), batched over B observations.
//
// Per observation: num_pi_trajs action sequences rolled out with the policy prior (fixed across
// iterations), num_samples - num_pi_trajs Gaussian sequences clamp(mean + std N(0,1), -1, 1);
// every sequence of every observation goes through the model in one batch of B * num_samples
// rows per horizon step. Value = sum_t gamma^t r_t + gamma^H mean(Q of 2 random heads)(z_H,
// pi(z_H)) (only those 2 heads are evaluated). The num_elites best refit mean and std with
// weights exp(temperature (v - v_max)); std is reset to max_std every call, mean warm-starts from
// the previous call's final mean shifted by one step. The action is the first step of one elite
// drawn by Gumbel-max in proportion to its weight, plus std[0] N(0,1) noise when training.
//
// Buffers: everything for max_batch observations is allocated in allocate(); plan() allocates
// nothing (tensor views are rebuilt only when B changes).
#pragma once

#include <vector>

#include "lucid/planners/planner.h"

namespace lucid::planners {

class Mppi final : public Planner {
 public:
  explicit Mppi(const PlannerConfig& config);
  std::string name() const override { return "mppi"; }
  void allocate(int max_batch) override;
  void reset() override;
  Tensor plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) override;

  int iterations() const;
  // Final MPPI mean of the last plan() call, (B, horizon, action_dim) row-major: the warm start.
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& std_dev() const { return std_; }
  // Elite value mean per iteration of the last call for batch row 0 (diagnostics and tests).
  const std::vector<float>& elite_value_trace() const { return elite_trace_; }

 private:
  void make_views(int batch);
  void estimate_value(const models::WorldModel& model, int batch, Rng& rng);

  PlannerConfig cfg_;
  int max_batch_ = 0;
  int view_batch_ = -1;
  bool warm_ = false;  // prev_mean_ holds a previous call's mean

  // Full-size buffers (rows = max_batch * num_samples unless noted).
  Tensor z0_;                      // (max_batch, L)
  Tensor z_start_, z_a_, z_b_;     // (rows, L)
  Tensor actions_;                 // (H, rows, A), sample-major within each observation
  Tensor pi_z_a_, pi_z_b_;         // (max_batch * P, L)
  Tensor pi_actions_;              // (H, max_batch * P, A)
  Tensor pi_eps_;                  // (max_batch * P, A)
  Tensor reward_, q_;              // (rows, 1)
  Tensor term_action_, term_eps_;  // (rows, A)
  Tensor out_;                     // (max_batch, A)
  // Views of the above for the current batch size.
  struct Views {
    Tensor obs_z0, z_start, z_a, z_b, pi_z_a, pi_z_b, pi_eps, reward, q, term_action, term_eps, out;
    std::vector<Tensor> actions, pi_actions;  // per step
  } v_;

  std::vector<float> value_;                   // rows
  std::vector<float> noise_;                   // rows * H * A
  std::vector<float> mean_, std_, prev_mean_;  // (max_batch, H, A)
  std::vector<int> order_;                     // num_samples
  std::vector<int> elite_;                     // (max_batch, K)
  std::vector<float> score_;                   // (max_batch, K)
  std::vector<float> elite_trace_;
};

}  // namespace lucid::planners
