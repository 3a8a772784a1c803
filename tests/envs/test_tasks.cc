// Every registered task: sizes (facts §3), reward in [0, 1] at every control step of a full
// random episode, finite observations, the 1000-step time limit, determinism for a seed.
// Parameterised over task_names(), so a newly registered task is covered without an edit here.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dmc/random.h"
#include "locomotion_checks.h"
#include "task_support.h"

namespace lucid::envs {
namespace {

using testing::make_dmc_env;
using testing::task_specs;

class TaskTest : public ::testing::TestWithParam<std::string> {};

std::vector<float> random_action(dmc::Random& rng, int dim) {
  std::vector<float> a(static_cast<std::size_t>(dim));
  for (float& x : a) x = static_cast<float>(rng.uniform(-1.0, 1.0));
  return a;
}

TEST_P(TaskTest, SizesMatchTheSpec) {
  const auto it = task_specs().find(GetParam());
  ASSERT_NE(it, task_specs().end()) << GetParam() << " has no entry in task_support.h";
  auto env = make_dmc_env(GetParam());
  EXPECT_EQ(env->observation_dim(), it->second.obs_dim);
  EXPECT_EQ(env->action_dim(), it->second.action_dim);
  EXPECT_EQ(env->n_sub_steps(), it->second.n_sub_steps);
  EXPECT_EQ(env->reset(0).size(), static_cast<std::size_t>(it->second.obs_dim));
  EXPECT_EQ(env->action_low(), std::vector<float>(it->second.action_dim, -1.f));
  EXPECT_EQ(env->action_high(), std::vector<float>(it->second.action_dim, 1.f));
}

TEST_P(TaskTest, FullRandomEpisodeHasUnitRewardsAndEndsAtTheTimeLimit) {
  auto env = make_env(GetParam());
  dmc::Random rng(11, 0);
  std::vector<float> obs = env->reset(11);
  for (float x : obs) ASSERT_TRUE(std::isfinite(x));
  for (int t = 1; t <= dmc::kTimeLimitSteps; ++t) {
    const StepResult r = env->step(random_action(rng, env->action_dim()));
    ASSERT_FALSE(r.diverged) << GetParam() << " step " << t;
    ASSERT_GE(r.reward, 0.0) << t;
    ASSERT_LE(r.reward, 1.0) << t;
    ASSERT_EQ(r.obs.size(), static_cast<std::size_t>(env->observation_dim()));
    for (float x : r.obs) ASSERT_TRUE(std::isfinite(x)) << t;
    ASSERT_EQ(r.truncated, t == dmc::kTimeLimitSteps) << t;
    ASSERT_FALSE(r.terminated);
  }
}

TEST_P(TaskTest, SameSeedSameEpisode) {
  auto a = make_env(GetParam());
  auto b = make_env(GetParam());
  ASSERT_EQ(a->reset(123), b->reset(123));
  dmc::Random rng(5, 0);
  for (int t = 0; t < 50; ++t) {
    const std::vector<float> act = random_action(rng, a->action_dim());
    const StepResult ra = a->step(act), rb = b->step(act);
    ASSERT_EQ(ra.obs, rb.obs) << t;
    ASSERT_EQ(ra.reward, rb.reward) << t;
  }
  // and another seed starts elsewhere
  EXPECT_NE(a->reset(123), a->reset(124));
}

INSTANTIATE_TEST_SUITE_P(Dmc, TaskTest, ::testing::ValuesIn(task_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace lucid::envs
