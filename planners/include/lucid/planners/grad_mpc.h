// Grad-MPC and Policy+Grad-MPC ("Gradient-based Planning with World Models", Jyothir S V et al.
// 2023; seeds/001: Algorithm 1, §6, appendix A.7 and Table 5), batched over B observations.
//
// Grad-MPC (Algorithm 1): C = num_samples candidate sequences drawn from N(0, 1) every call (no
// warm start), `iterations` gradient-ascent steps a += mpc_lr * dR/da on the summed predicted
// reward R = sum_{t<H} R(z_t, a_t) (undiscounted, no terminal value), then the best candidate
// by R of the final sequences gives its first action. Paper defaults (A.7): H 12, 40 iterations,
// 1000 candidates, action learning rate 0.1.
// Policy+Grad-MPC (§6, Eq. (6), Table 5): C = num_pi_trajs candidates initialised from the policy
// prior rolled out through the dynamics (candidate 0 its mean, the rest sampled), the objective
// value based: sum_{t<H} gamma^t R + gamma^H V(z_H) (Q of the mean policy action, all heads, for
// a Q model). Table 5 defaults: horizon 1, one candidate.
// Both: the gradient is clipped to global norm grad_clip_norm per observation and the actions
// are projected back into [-1, 1] after each step (the model never saw actions outside it).
//
// Buffers: sized in allocate(); the model's ActionGradient is made and reserved on the first
// plan() with that model, after which plan() allocates nothing.
#pragma once

#include <memory>
#include <vector>

#include "lucid/models/action_gradient.h"
#include "lucid/planners/planner.h"

namespace lucid::planners {

class GradMpc final : public Planner {
 public:
  enum class Init { kGaussian, kPolicy };
  GradMpc(const PlannerConfig& config, Init init);
  std::string name() const override { return init_ == Init::kPolicy ? "policy-grad-mpc" : "grad-mpc"; }
  void allocate(int max_batch) override;
  void reset() override {}
  Tensor plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) override;

  int num_candidates() const { return init_ == Init::kPolicy ? cfg_.num_pi_trajs : cfg_.num_samples; }
  // Mean over candidates of observation 0's objective, before each step and after the last one.
  const std::vector<float>& value_trace() const { return trace_; }
  // Final (projected) candidates of the last call, (H, B * C, A).
  const std::vector<float>& candidates() const { return actions_; }

 private:
  PlannerConfig cfg_;
  Init init_;
  int max_batch_ = 0, view_batch_ = -1;
  const models::WorldModel* grad_model_ = nullptr;
  std::unique_ptr<models::ActionGradient> grad_;
  Tensor z0_, z_rows_, out_;
  struct Views {
    Tensor z0, z_rows, out;
  } v_;
  std::vector<float> actions_, grad_buf_, eps_, value_, trace_;
};

}  // namespace lucid::planners
