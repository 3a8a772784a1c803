// CEM — the cross-entropy method of PlaNet / TD-MPC, batched over B observations.
//
// Per observation and call: a diagonal Gaussian over the (H, A) action sequence, its mean warm-
// started from the previous call's mean shifted one step (zeros after reset()), its std starting
// at max_std. Each of `iterations` rounds samples num_samples sequences clamp(mean + std N(0,1),
// -1, 1), scores them with J = sum_{t<H} gamma^t R(z_t, a_t) + gamma^H V(z_H) (V = the mean of
// all value heads at the policy's mean action; V models their V heads), and refits mean and std
// on the num_elites best with weights exp(temperature (J - J_max)) (temperature 0: PlaNet's
// uniform refit), std clamped to [min_std, max_std]. The action is the refitted mean's first step,
// plus std N(0, 1) exploration noise when not evaluating, clamped to [-1, 1].
//
// Works with any WorldModel through its *_into queries. Buffers are sized in allocate(); plan()
// allocates nothing (views are rebuilt only when the batch size changes).
#pragma once

#include <vector>

#include "lucid/planners/planner.h"

namespace lucid::planners {

class Cem final : public Planner {
 public:
  explicit Cem(const PlannerConfig& config);
  std::string name() const override { return "cem"; }
  void allocate(int max_batch) override;
  void reset() override { warm_ = false; }
  Tensor plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) override;

  // Mean J of observation 0's elites after each iteration of the last call.
  const std::vector<float>& elite_value_trace() const { return trace_; }
  // Refitted mean of the last call, (B, H, A): the warm start.
  const std::vector<float>& mean() const { return mean_; }

 private:
  void make_views(int batch);
  void evaluate(const models::WorldModel& model, int batch);

  PlannerConfig cfg_;
  int max_batch_ = 0, view_batch_ = -1;
  bool warm_ = false;
  Tensor z0_, z_start_, z_a_, z_b_, actions_, reward_, value_t_, term_action_, out_;
  struct Views {
    Tensor z0, z_start, z_a, z_b, reward, value, term_action, out;
    std::vector<Tensor> actions;
  } v_;
  std::vector<float> value_, noise_, mean_, std_, prev_mean_, weight_, trace_;
  std::vector<int> order_;
};

}  // namespace lucid::planners
