// EnvPool: parallel stepping gives exactly the results of the same envs stepped one by one, for
// several thread counts; env i draws from stream seed + i; errors reach the caller.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "dmc/random.h"
#include "lucid/envs/pool.h"
#include "lucid/error.h"

namespace lucid::envs {
namespace {

void check_matches_sequential(const std::string& task, int n_envs, int threads, int steps) {
  EnvOptions o;
  o.seed = 40;
  o.max_episode_steps = 60;  // an episode ends mid-run: the pool must reset it like a single env
  EnvPool pool(task, n_envs, o, threads);
  std::vector<std::unique_ptr<Env>> ref;
  for (int i = 0; i < n_envs; ++i) {
    EnvOptions oi = o;
    oi.seed = o.seed + i;
    ref.push_back(make_env(task, oi));
  }
  const int od = pool.observation_dim(), ad = pool.action_dim();
  std::vector<std::uint64_t> seeds(n_envs);
  for (int i = 0; i < n_envs; ++i) seeds[i] = 1000 + i;
  std::vector<float> obs(n_envs * od), acts(n_envs * ad);
  std::vector<double> rewards(n_envs);
  std::vector<EnvPool::Status> status(n_envs);
  pool.reset(seeds, obs);
  for (int i = 0; i < n_envs; ++i) {
    const std::vector<float> r = ref[i]->reset(seeds[i]);
    ASSERT_EQ(std::vector<float>(obs.begin() + i * od, obs.begin() + (i + 1) * od), r) << "env " << i;
  }
  dmc::Random rng(3, 0);
  for (int t = 0; t < steps; ++t) {
    for (float& a : acts) a = static_cast<float>(rng.uniform(-1.0, 1.0));
    pool.step(acts, obs, rewards, status);
    for (int i = 0; i < n_envs; ++i) {
      const StepResult r = ref[i]->step(std::span<const float>(acts).subspan(i * ad, ad));
      ASSERT_EQ(std::vector<float>(obs.begin() + i * od, obs.begin() + (i + 1) * od), r.obs) << "env " << i;
      ASSERT_EQ(rewards[i], r.reward);
      ASSERT_EQ(status[i].truncated, r.truncated);
      if (status[i].done()) {
        std::vector<float> o1(od);
        pool.reset_one(i, 7 + t, o1);
        ASSERT_EQ(o1, ref[i]->reset(7 + t));
      }
    }
  }
}

TEST(EnvPool, MatchesSequentialSteppingOnOneThread) { check_matches_sequential("finger-spin", 3, 1, 130); }
TEST(EnvPool, MatchesSequentialSteppingOnTwoThreads) { check_matches_sequential("finger-spin", 5, 2, 130); }
TEST(EnvPool, MatchesSequentialSteppingWithMoreThreadsThanCores) {
  check_matches_sequential("ball_in_cup-catch", 4, 4, 70);
}

TEST(EnvPool, EnvsDrawFromDistinctStreams) {
  EnvPool pool("cartpole-swingup", 3, {}, 2);
  std::vector<float> obs(3 * pool.observation_dim());
  pool.reset(std::vector<std::uint64_t>(3, 5), obs);  // same reset seed, different streams
  const int od = pool.observation_dim();
  EXPECT_NE(std::vector<float>(obs.begin(), obs.begin() + od),
            std::vector<float>(obs.begin() + od, obs.begin() + 2 * od));
}

TEST(EnvPool, BadInputReachesTheCaller) {
  EnvPool pool("cartpole-swingup", 4, {}, 2);
  std::vector<float> obs(4 * pool.observation_dim()), acts(4, 0.f);
  std::vector<double> rewards(4);
  std::vector<EnvPool::Status> status(4);
  EXPECT_THROW(pool.step(acts, obs, rewards, status), EnvError);  // not reset yet
  pool.reset(std::vector<std::uint64_t>{1, 2, 3, 4}, obs);
  acts[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(pool.step(acts, obs, rewards, status), EnvError);
  acts[2] = 0.f;
  EXPECT_NO_THROW(pool.step(acts, obs, rewards, status));  // workers survive a failed batch
  EXPECT_THROW(pool.step(std::vector<float>(3, 0.f), obs, rewards, status), EnvError);  // wrong size
  EXPECT_THROW(EnvPool("cartpole-swingup", 0), EnvError);
}

}  // namespace
}  // namespace lucid::envs
