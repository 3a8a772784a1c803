// The NVTX ranges that docs/profiling.md promises for planners, models and agents: recording
// hooks stand in for NVTX (as the native backend registers them) and the test reads back the
// timeline an nsys report would show. One thread, so the timeline is one nested sequence.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "lucid/agents/replay_buffer.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/engine/profile.h"
#include "lucid/engine/rng.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid/planners/dream_mpc.h"
#include "lucid/planners/mppi.h"

namespace lucid {
namespace {

struct Event {
  std::string name;
  int depth;
};
std::vector<Event> g_events;
int g_depth = 0;

class RecordRanges : public ::testing::Test {
 protected:
  void SetUp() override {
    g_events.clear();
    g_depth = 0;
    saved_threads_ = kernels::num_threads();
    kernels::set_num_threads(1);
  }
  void TearDown() override {
    set_profile_hooks(nullptr);
    kernels::set_num_threads(saved_threads_);
  }
  static void record() {
    static const ProfileHooks hooks{[](const char* name) {
                                      g_events.push_back({name, g_depth++});
                                    },
                                    [] { --g_depth; }};
    set_profile_hooks(&hooks);
  }
  static void stop() {
    set_profile_hooks(nullptr);
    EXPECT_EQ(g_depth, 0) << "every pushed range was popped";
  }
  // The ranges opened directly under the caller (depth 0), in order.
  static std::vector<std::string> top_level() {
    std::vector<std::string> out;
    for (const Event& e : g_events)
      if (e.depth == 0) out.push_back(e.name);
    return out;
  }
  // How many times `inner` opens inside the k-th top-level range named `outer`.
  static int count_inside(const std::string& outer, int k, const std::string& inner) {
    int seen = -1, n = 0;
    bool in = false;
    for (const Event& e : g_events) {
      if (e.depth == 0)
        in = e.name == outer && ++seen == k;
      else if (in && e.name == inner)
        ++n;
    }
    return n;
  }

 private:
  int saved_threads_ = 1;
};

models::tdmpc2::Tdmpc2Config small_model() { return models::tdmpc2::tdmpc2_preset(1, 5, 2); }

planners::PlannerConfig small_planner(const models::tdmpc2::Tdmpc2Model& m) {
  planners::PlannerConfig p;
  p.action_dim = m.action_dim();
  p.latent_dim = m.latent_dim();
  p.num_samples = 32;
  p.num_elites = 4;
  p.num_pi_trajs = 4;
  return p;
}

TEST_F(RecordRanges, MppiOpensPriorRolloutEachIterationAndSelect) {
  models::tdmpc2::Tdmpc2Model model(small_model());
  Rng rng(1);
  model.init(rng);
  planners::Mppi mppi(small_planner(model));
  mppi.allocate(1);
  const Tensor obs = Tensor::zeros(Shape{1, 5});
  record();
  mppi.plan(model, obs, rng, /*eval=*/true);
  stop();
  std::vector<std::string> want = {"plan/prior_rollout"};
  want.insert(want.end(), mppi.iterations(), "plan/iteration");
  want.push_back("plan/select");
  EXPECT_EQ(top_level(), want);
  EXPECT_EQ(count_inside("plan/prior_rollout", 0, "model/encoder"), 1);
  EXPECT_GE(count_inside("plan/prior_rollout", 0, "model/policy"), 1);
  for (int it = 0; it < mppi.iterations(); ++it) {
    // Each iteration rolls the samples through the horizon and asks the terminal value once.
    EXPECT_GE(count_inside("plan/iteration", it, "model/dynamics"), 1) << it;
    EXPECT_EQ(count_inside("plan/iteration", it, "model/q_ensemble"), 1) << it;
  }
}

TEST_F(RecordRanges, DreamMpcOpensPriorRolloutItsGradientStepsAndSelect) {
  models::tdmpc2::Tdmpc2Model model(small_model());
  Rng rng(2);
  model.init(rng);
  planners::PlannerConfig cfg = small_planner(model);
  cfg.num_pi_trajs = 5;
  planners::DreamMpc dream(cfg);
  dream.allocate(1);
  const Tensor obs = Tensor::zeros(Shape{1, 5});
  record();
  dream.plan(model, obs, rng, /*eval=*/true);
  stop();
  std::vector<std::string> want = {"plan/prior_rollout"};
  want.insert(want.end(), dream.iterations(), "plan/iteration");
  want.push_back("plan/select");
  EXPECT_EQ(top_level(), want);
}

TEST_F(RecordRanges, Tdmpc2UpdateOpensEachPhase) {
  agents::Tdmpc2AgentConfig cfg;
  cfg.obs_dim = 5;
  cfg.action_dim = 2;
  cfg.model_size = 1;
  cfg.batch_size = 8;
  cfg.planner.num_samples = 32;
  cfg.planner.num_elites = 4;
  cfg.planner.num_pi_trajs = 4;
  agents::Tdmpc2Agent agent(cfg);
  agents::ReplayBuffer buffer(5, 2, 1000, cfg.horizon);
  const int T = 20;
  std::vector<float> obs((T + 1) * 5), act(T * 2), rew(T);
  Rng data(3);
  data.normal(obs.data(), obs.size());
  data.uniform(act.data(), act.size());
  data.uniform(rew.data(), rew.size());
  buffer.add_episode(obs, act, rew);
  record();
  agent.update(buffer);
  stop();
  EXPECT_EQ(top_level(), (std::vector<std::string>{"update/world_model", "update/optimizer", "update/policy",
                                                   "update/optimizer", "update/ema"}));
  EXPECT_EQ(count_inside("update/world_model", 0, "update/td_targets"), 1);
}

}  // namespace
}  // namespace lucid
