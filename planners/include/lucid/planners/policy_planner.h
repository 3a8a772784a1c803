// PolicyPlanner — acts with the model's policy prior: a sample when training, the mean action
// (no noise) at evaluation (TD-MPC2 with mpc=false). Buffers are sized in allocate().
#pragma once

#include "lucid/planners/planner.h"

namespace lucid::planners {

class PolicyPlanner final : public Planner {
 public:
  explicit PolicyPlanner(const PlannerConfig& config) : cfg_(config) {}
  std::string name() const override { return "policy"; }
  void allocate(int max_batch) override;
  void reset() override {}
  Tensor plan(const models::WorldModel& model, const Tensor& obs, Rng& rng, bool eval) override;

 private:
  PlannerConfig cfg_;
  int max_batch_ = 0;
  Tensor z_, eps_, out_;
};

}  // namespace lucid::planners
