// MPPI on a toy world model with a known optimum (as mujoco_mpc's planner tests).
//
// Toy model: latent z = [last action (A), step counter]; obs (1) = the start counter.
// next(z, a) = [a, t + 1]; reward(z, a) = -sum_j (a_j - c_j(t))^2; Q = 0; the policy is a tanh
// Gaussian with mean 0 and log_std 0. The optimal plan is a_t = c(t), step by step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lucid/error.h"
#include "lucid/planners/mppi.h"
#include "lucid/planners/planner.h"

namespace lucid::planners {
namespace {

constexpr int kA = 2;
float target(int t, int j) {
  static const float kC[3][kA] = {{-0.6f, 0.4f}, {0.6f, -0.3f}, {0.f, 0.2f}};
  return kC[std::clamp(t, 0, 2)][j];
}

class ToyModel final : public models::WorldModel {
 public:
  int observation_dim() const override { return 1; }
  int action_dim() const override { return kA; }
  int latent_dim() const override { return kA + 1; }
  int num_values() const override { return 2; }
  bool value_uses_action() const override { return true; }
  void encode_into(const Tensor& obs, const Tensor& z) const override {
    for (std::int64_t b = 0; b < obs.size(0); ++b) {
      for (int j = 0; j < kA; ++j) z.data()[b * 3 + j] = 0.f;
      z.data()[b * 3 + kA] = obs.data()[b];
    }
  }
  void next_into(const Tensor& z, const Tensor& a, const Tensor& zn) const override {
    for (std::int64_t b = 0; b < z.size(0); ++b) {
      for (int j = 0; j < kA; ++j) zn.data()[b * 3 + j] = a.data()[b * kA + j];
      zn.data()[b * 3 + kA] = z.data()[b * 3 + kA] + 1.f;
    }
  }
  void reward_into(const Tensor& z, const Tensor& a, const Tensor& r) const override {
    const std::int64_t n = z.size(0);
    if (record_ && recorded_.empty() && n == record_rows_) recorded_.assign(a.data(), a.data() + n * kA);
    for (std::int64_t b = 0; b < n; ++b) {
      const int t = static_cast<int>(z.data()[b * 3 + kA]);
      float s = 0.f;
      for (int j = 0; j < kA; ++j)
        s += (a.data()[b * kA + j] - target(t, j)) * (a.data()[b * kA + j] - target(t, j));
      r.data()[b] = -s;
    }
  }
  void value_into(const Tensor&, const Tensor&, std::span<const int> heads, const Tensor& v) const override {
    EXPECT_EQ(heads.size(), 2u);  // MPPI evaluates exactly two heads
    v.fill(0.f);
  }
  void value_ensemble_into(const Tensor&, const Tensor&, const Tensor& vs) const override { vs.fill(0.f); }
  void policy_into(const Tensor&, const Tensor& mean, const Tensor& log_std) const override {
    mean.fill(0.f);
    log_std.fill(0.f);
  }
  void policy_action_into(const Tensor&, const Tensor& eps, const Tensor& action) const override {
    for (std::int64_t i = 0; i < action.numel(); ++i)
      action.data()[i] = eps.defined() ? std::tanh(eps.data()[i]) : 0.f;
  }

  mutable bool record_ = false;
  int record_rows_ = 0;                  // batch size of the reward call to record
  mutable std::vector<float> recorded_;  // actions of the first such reward call after record_ was set
};

PlannerConfig toy_config() {
  PlannerConfig c;
  c.action_dim = kA;
  c.latent_dim = kA + 1;
  c.discount = 1.f;
  return c;
}

TEST(Mppi, FindsTheKnownOptimumAndImprovesOverIterations) {
  ToyModel model;
  Mppi mppi(toy_config());
  mppi.allocate(2);
  Rng rng(7);
  const Tensor obs = Tensor::from({0.f, 0.f}, Shape{2, 1});
  const Tensor a = mppi.plan(model, obs, rng, /*eval=*/true);
  ASSERT_EQ(a.shape(), (Shape{2, kA}));
  for (int b = 0; b < 2; ++b)
    for (int j = 0; j < kA; ++j) EXPECT_NEAR(a.data()[b * kA + j], target(0, j), 0.1f);
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 3; ++t)
      for (int j = 0; j < kA; ++j) EXPECT_NEAR(mppi.mean()[(b * 3 + t) * kA + j], target(t, j), 0.05f);
  const auto& trace = mppi.elite_value_trace();
  ASSERT_EQ(trace.size(), 6u);
  EXPECT_GT(trace.back(), trace.front());
  EXPECT_GT(trace.back(), -0.02f);  // the optimum is 0
}

// Median of dim 0 of the Gaussian samples at step 0 of the first iteration: clamping to [-1, 1] does not
// move the median, so it estimates the mean MPPI started from. MPPI rolls the policy rows out once
// per call and the Gaussian rows (num_samples - num_pi_trajs of them, batch 1) in each iteration.
int gaussian_rows() { return toy_config().num_samples - toy_config().num_pi_trajs; }
float first_iteration_median(const ToyModel& m) {
  std::vector<float> xs;
  for (int s = 0; s < gaussian_rows(); ++s) xs.push_back(m.recorded_[s * kA]);
  std::nth_element(xs.begin(), xs.begin() + xs.size() / 2, xs.end());
  return xs[xs.size() / 2];
}

TEST(Mppi, WarmStartShiftsThePreviousMeanAndResetDropsIt) {
  ToyModel model;
  Mppi mppi(toy_config());
  mppi.allocate(1);
  Rng rng(3);
  const Tensor obs = Tensor::from({0.f}, Shape{1, 1});
  mppi.plan(model, obs, rng, false);
  const float prev_t1 = mppi.mean()[1 * kA];  // final mean, step 1, dim 0 (about 0.6)
  ASSERT_NEAR(prev_t1, target(1, 0), 0.05f);
  model.record_ = true;
  model.record_rows_ = gaussian_rows();
  mppi.plan(model, obs, rng, false);
  EXPECT_NEAR(first_iteration_median(model), prev_t1, 0.3f);  // shifted: step 1 became step 0
  mppi.reset();
  model.recorded_.clear();
  mppi.plan(model, obs, rng, false);
  EXPECT_NEAR(first_iteration_median(model), 0.f, 0.3f);  // cold start from 0
}

TEST(Mppi, TrainingNoiseStaysInBoundsAndBadInputThrows) {
  ToyModel model;
  Mppi mppi(toy_config());
  mppi.allocate(1);
  Rng rng(5);
  const Tensor a = mppi.plan(model, Tensor::from({0.f}, Shape{1, 1}), rng, false);
  for (int j = 0; j < kA; ++j) EXPECT_LE(std::fabs(a.data()[j]), 1.f);
  EXPECT_THROW(mppi.plan(model, Tensor::zeros(Shape{3, 1}), rng, false), ShapeError);
  PlannerConfig bad = toy_config();
  bad.num_elites = 0;
  EXPECT_THROW(Mppi{bad}, ConfigError);
}

TEST(Mppi, IterationsGrowForLargeActionSpaces) {
  PlannerConfig c = toy_config();
  c.action_dim = 21;
  EXPECT_EQ(Mppi(c).iterations(), 8);
  EXPECT_EQ(Mppi(toy_config()).iterations(), 6);
}

TEST(PlannerFactory, KnowsMppiAndPolicyAndRejectsOthers) {
  EXPECT_EQ(make_planner(toy_config())->name(), "mppi");
  PlannerConfig c = toy_config();
  c.name = "policy";
  auto p = make_planner(c);
  EXPECT_EQ(p->name(), "policy");
  p->allocate(1);
  ToyModel model;
  Rng rng(1);
  const Tensor a = p->plan(model, Tensor::from({0.f}, Shape{1, 1}), rng, true);
  EXPECT_EQ(a.data()[0], 0.f);  // eval: tanh(mean) = 0
  c.name = "nope";
  EXPECT_THROW(make_planner(c), ConfigError);
}

}  // namespace
}  // namespace lucid::planners
