// BMPC end to end through the online trainer (a few seconds): the experts of every planned step
// reach the replay buffer through the trainer's episode bookkeeping and are in the run checkpoint,
// and the checkpointed agent loads for evaluation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "lucid/agents/bmpc_agent.h"
#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/run_checkpoint.h"
#include "lucid/agents/trainer.h"

namespace lucid::agents {
namespace {

BmpcAgentConfig tiny(int obs_dim, int action_dim) {
  BmpcAgentConfig c;
  c.obs_dim = obs_dim, c.action_dim = action_dim, c.model_size = 1, c.batch_size = 8, c.horizon = 3;
  c.episode_length = 20;
  c.reanalyze_batch_size = 2;
  c.planner = planners::planner_defaults("mppi");
  c.planner.num_samples = 32, c.planner.num_elites = 4, c.planner.num_pi_trajs = 4, c.planner.iterations = 2;
  return c;
}

TEST(BmpcTrain, ExpertsOfPlannedStepsReachTheCheckpointedBuffer) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("lucid_bmpc_train_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  TrainerOptions o;
  o.task = "cartpole-swingup";
  o.seed = 2;
  o.steps = 100;
  o.seed_steps = 40;  // the agent plans from step 41 on
  o.eval_freq = 1000;
  o.eval_episodes = 1;
  o.episode_length = 20;
  o.checkpoint_freq = 1000;
  o.run_dir = dir;
  o.config_yaml = "agent: bmpc\n";
  o.summary = {{"task", o.task}, {"agent", "bmpc"}, {"seed", o.seed}};
  o.progress_interval_s = 1e9;
  int obs_dim = 0, action_dim = 0;
  ASSERT_EQ(train(o,
                  [&](int od, int ad) {
                    obs_dim = od, action_dim = ad;
                    return std::make_unique<BmpcAgent>(tiny(od, ad));
                  }),
            0);

  const RunCheckpoint ck = read_run_checkpoint(dir / "checkpoints" / "latest.safetensors");
  EXPECT_EQ(ck.agent_name, "bmpc");
  ReplayBuffer buffer(obs_dim, action_dim, 1000, 3);
  buffer.load_state(ck.buffer);
  BmpcAgent agent(tiny(obs_dim, action_dim));
  agent.load_state(ck.agent);
  // The last episode entered the buffer after the last update: its experts are still queued in
  // the agent's state, and the next sync (a resumed run's first update) writes them.
  EXPECT_EQ(agent.queued_experts(), 20u);
  agent.sync_experts(buffer);  // also adopts the checkpoint's expert rows
  EXPECT_EQ(agent.queued_experts(), 0u);
  const int f = buffer.field_index("expert");
  ASSERT_EQ(buffer.num_episodes(), 5);
  const int W = 2 * action_dim;
  for (std::int64_t e = 2; e < 5; ++e) {
    const auto rows = buffer.episode_field(e, f);
    // Episode 2 spans steps 40..59: its first step was still random (step 40 <= seed_steps).
    for (std::int64_t t = e == 2 ? 1 : 0; t < 20; ++t) {
      bool is_fill = true;
      for (int j = 0; j < action_dim; ++j)
        is_fill = is_fill && rows[t * W + j] == 0.f && rows[t * W + action_dim + j] == 1.f;
      EXPECT_FALSE(is_fill) << "episode " << e << " step " << t << " lost its expert";
    }
  }
  const auto a = agent.act(std::vector<float>(obs_dim, 0.f), /*eval=*/true);
  EXPECT_EQ(static_cast<int>(a.size()), action_dim);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lucid::agents
