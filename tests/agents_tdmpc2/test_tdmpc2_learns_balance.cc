// CI-sized end-to-end learning: TD-MPC2 with a small model and a small MPPI learns
// cartpole-balance through the real trainer (real MuJoCo, replay buffer, pretraining burst, one
// update per step), well above what uniform random actions score.
//
// Small: enc 64, mlp 128, latent 64, 2 Q heads, batch 128, MPPI with 128 samples / 16 elites /
// 8 policy trajectories; one thread; 6,000 agent steps (1,000 of them seeding), two seeds one after
// the other, about 4-5 minutes each alone. The same run from the CLI:
//   lucid train task=cartpole-balance agent=tdmpc2 model_size=1 enc_dim=64 mlp_dim=128 latent_dim=64
//     num_q=2 batch_size=128 num_samples=128 num_elites=16 num_pi_trajs=8 seed=<s> steps=6000
//     seed_steps=1000 eval_freq=1000 eval_episodes=2 threads=1
// Measured with it, seeds 1-5 (evals at 4k / 5k / 6k steps, 2 episodes each, and their mean):
//   seed 1: 527 599 607 -> 577      seed 4: 514 512 471 -> 499
//   seed 2: 569 642 614 -> 608      seed 5: 287 564 638 -> 496
//   seed 3: 594 413 337 -> 448
// then after kernel changes that moved the floats (same seeds, a different trajectory each time):
// seed 1: 315 429 660 -> 468; with an explicit AVX-512 LayerNorm row (tried, slower, dropped):
// seed 1: 371 400 365 -> 379, seed 2: 559 387 633 -> 526, seed 3: 402 547 572 -> 507; and this
// test's seed 2 on the build that added it: 553 533 557 -> 548 (seed 1: 468 as above).
// Learners: 506 +- 66 per run over these ten. Uniform random actions: 317-341 per 50-episode seed
// (std 57 per episode), so an agent that learned nothing averages about 330 +- 23 over 6 episodes;
// the untrained agents scored 191-455 on 2. Learning at this budget is not monotone (seed 3 fell
// from 594 to 337), hence the mean of the last three evaluations, and one run is not enough: seed 1
// alone fell 1.9 standard deviations below the learners after a float-level change. So the bar is
// on the mean of two seeds (learners: 506 +- 46): 75 above the random mean of 100 episodes sits
// 2.1 standard deviations below that and 4.9 above a pair of non-learners (330 +- 16), so a change
// that stops learning fails it, and about one in 50 float-level reshuffles of a healthy agent may
// too (each run is deterministic per machine and build, so that is not run-to-run flake).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "lucid/agents/evaluation.h"
#include "lucid/agents/random_agent.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/agents/trainer.h"
#include "lucid/envs/registry.h"
#include "lucid/kernels/threading.h"

namespace lucid::agents {
namespace {

constexpr std::int64_t kSteps = 6000;
constexpr std::int64_t kSeedSteps = 1000;
constexpr double kMarginOverRandom = 75.0;  // see the header
constexpr std::array<std::uint64_t, 2> kSeeds = {1, 2};

// Mean return per step of a run's eval.csv (step,episode,return,...).
std::map<std::int64_t, double> eval_means(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  std::map<std::int64_t, std::pair<double, int>> acc;
  while (std::getline(in, line)) {
    std::stringstream f(line);
    std::string step, episode, ret;
    std::getline(f, step, ',');
    std::getline(f, episode, ',');
    std::getline(f, ret, ',');
    auto& [sum, n] = acc[std::stoll(step)];
    sum += std::stod(ret);
    ++n;
  }
  std::map<std::int64_t, double> out;
  for (const auto& [step, sn] : acc) out[step] = sn.first / sn.second;
  return out;
}

// Mean return of uniform random actions over 100 episodes (the 2 seeding episodes of a run are too
// few: they ranged 224-380 across seeds).
double random_baseline(const std::string& task, std::uint64_t seed) {
  envs::EnvOptions env_options;
  env_options.seed = seed;
  env_options.action_repeat = 2;
  env_options.max_episode_steps = 500;
  std::unique_ptr<envs::Env> env = envs::make_env(task, env_options);
  RandomAgent agent(env->action_dim(), seed);
  EvalOptions eval;
  eval.episodes = 100;
  eval.seed = seed;
  double mean = 0;
  for (const EpisodeResult& r : evaluate(agent, *env, eval)) mean += r.ret / eval.episodes;
  return mean;
}

// Mean of the evaluations at the last three thousand steps of one seed's run (each printed).
double trained_return(std::uint64_t seed) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("lucid_learns_balance_" + std::to_string(::getpid()) + "_" + std::to_string(seed));
  std::filesystem::remove_all(dir);
  TrainerOptions o;
  o.task = "cartpole-balance";
  o.seed = seed;
  o.steps = kSteps;
  o.seed_steps = kSeedSteps;
  o.eval_freq = 1000;  // as measured: evaluations also draw from the agent's generator
  o.eval_episodes = 2;
  o.checkpoint_freq = kSteps;
  o.run_dir = dir;
  o.progress_interval_s = 30.0;
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = train(o, [seed](int obs_dim, int action_dim) {
    Tdmpc2AgentConfig c;
    c.obs_dim = obs_dim;
    c.action_dim = action_dim;
    c.model_size = 1;
    c.architecture = {.enc_dim = 64, .mlp_dim = 128, .latent_dim = 64, .num_q = 2};
    c.batch_size = 128;
    c.seed = seed;
    c.planner.num_samples = 128;
    c.planner.num_elites = 16;
    c.planner.num_pi_trajs = 8;
    return std::make_unique<Tdmpc2Agent>(c);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rc, 0) << "seed " << seed;
  const auto evals = eval_means(dir / "eval.csv");
  for (std::int64_t step : {std::int64_t{0}, kSteps - 2000, kSteps - 1000, kSteps})
    if (!evals.count(step)) {
      ADD_FAILURE() << "seed " << seed << ": no evaluation at step " << step;
      return 0.0;
    }
  const double trained = (evals.at(kSteps - 2000) + evals.at(kSteps - 1000) + evals.at(kSteps)) / 3.0;
  std::printf(
      "[learns-balance] seed %llu: untrained %.1f, evals %.1f %.1f %.1f at %lld-%lld steps (mean %.1f), "
      "%.0f s\n",
      static_cast<unsigned long long>(seed), evals.at(0), evals.at(kSteps - 2000), evals.at(kSteps - 1000),
      evals.at(kSteps), static_cast<long long>(kSteps - 2000), static_cast<long long>(kSteps), trained,
      seconds);
  std::filesystem::remove_all(dir);
  return trained;
}

TEST(Tdmpc2LearnsBalance, SmallModelBeatsRandomActionsWithinAFewMinutes) {
  const int saved_threads = kernels::num_threads();
  kernels::set_num_threads(1);
  double trained = 0;
  for (const std::uint64_t seed : kSeeds)
    trained += trained_return(seed) / static_cast<double>(kSeeds.size());
  kernels::set_num_threads(saved_threads);
  const double random_mean = random_baseline("cartpole-balance", 101);
  std::printf("[learns-balance] random %.1f, seeds' mean %.1f, bar %.1f\n", random_mean, trained,
              random_mean + kMarginOverRandom);
  EXPECT_GT(trained, random_mean + kMarginOverRandom);
}

}  // namespace
}  // namespace lucid::agents
