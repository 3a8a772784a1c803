// ReplayBuffer: samples never cross an episode boundary, every valid start is reachable, the
// oldest episodes are dropped at capacity, and state() round-trips exactly.
#include <gtest/gtest.h>

#include <set>

#include "lucid/agents/replay_buffer.h"
#include "lucid/error.h"

namespace lucid::agents {
namespace {

// An episode whose observation t of episode e is (e*1000 + t) in every component, action t is
// (e*1000 + t + 0.5) and reward t is (e*1000 + t + 0.25): any sample can be traced back.
void add(ReplayBuffer& b, int episode, int length, int obs_dim = 3, int action_dim = 2) {
  std::vector<float> obs, act, rew;
  for (int t = 0; t <= length; ++t)
    for (int k = 0; k < obs_dim; ++k) obs.push_back(static_cast<float>(episode * 1000 + t));
  for (int t = 0; t < length; ++t) {
    for (int k = 0; k < action_dim; ++k) act.push_back(static_cast<float>(episode * 1000 + t) + 0.5f);
    rew.push_back(static_cast<float>(episode * 1000 + t) + 0.25f);
  }
  b.add_episode(obs, act, rew);
}

TEST(ReplayBuffer, SamplesStayInsideOneEpisode) {
  ReplayBuffer b(3, 2, 100000, /*horizon=*/3);
  add(b, 1, 10);
  add(b, 2, 4);  // exactly one valid start (t = 0 or 1: 4 - 3 + 1 = 2 starts)
  add(b, 3, 7);
  Rng rng(5);
  std::set<int> starts_seen;
  for (int rep = 0; rep < 200; ++rep) {
    const Batch& s = b.sample(16, rng);
    ASSERT_EQ(s.obs.shape(), Shape({4, 16, 3}));
    ASSERT_EQ(s.action.shape(), Shape({3, 16, 2}));
    ASSERT_EQ(s.reward.shape(), Shape({3, 16, 1}));
    const float* o = s.obs.data();
    const float* a = s.action.data();
    const float* r = s.reward.data();
    for (int i = 0; i < 16; ++i) {
      const int first = static_cast<int>(o[i * 3]);
      const int episode = first / 1000, t0 = first % 1000;
      starts_seen.insert(first);
      const int length = episode == 1 ? 10 : episode == 2 ? 4 : 7;
      ASSERT_LE(t0 + 3, length) << "sample runs past the end of episode " << episode;
      for (int t = 0; t <= 3; ++t) EXPECT_EQ(o[(t * 16 + i) * 3 + 2], static_cast<float>(first + t));
      for (int t = 0; t < 3; ++t) {
        EXPECT_EQ(a[(t * 16 + i) * 2 + 1], static_cast<float>(first + t) + 0.5f);
        EXPECT_EQ(r[t * 16 + i], static_cast<float>(first + t) + 0.25f);
      }
    }
  }
  // Valid starts: 8 in episode 1, 2 in episode 2, 5 in episode 3 — all reached.
  EXPECT_EQ(starts_seen.size(), 15u);
}

TEST(ReplayBuffer, DropsOldestEpisodesAtCapacity) {
  ReplayBuffer b(3, 2, /*capacity=*/20, 3);
  add(b, 1, 10);
  add(b, 2, 10);
  EXPECT_EQ(b.num_transitions(), 20);
  add(b, 3, 10);
  EXPECT_EQ(b.num_transitions(), 20);
  EXPECT_EQ(b.num_episodes(), 2);
  Rng rng(1);
  const Batch& s = b.sample(64, rng);
  for (int i = 0; i < 64; ++i) EXPECT_GE(s.obs.data()[i * 3], 2000.f) << "episode 1 should be gone";
}

TEST(ReplayBuffer, StateRoundTripSamplesIdentically) {
  ReplayBuffer a(3, 2, 1000, 3);
  add(a, 1, 9);
  add(a, 2, 5);
  ReplayBuffer b(3, 2, 1000, 3);
  b.load_state(a.state());
  EXPECT_EQ(b.num_transitions(), a.num_transitions());
  Rng ra(9), rb(9);
  const auto va = a.sample(32, ra).obs.to_vector();
  const auto vb = b.sample(32, rb).obs.to_vector();
  EXPECT_EQ(va, vb);
  EXPECT_EQ(a.sample(8, ra).start, b.sample(8, rb).start);
}

TEST(ReplayBuffer, RefusesMismatchedStateAndBadEpisodes) {
  ReplayBuffer a(3, 2, 1000, 3);
  add(a, 1, 9);
  ReplayBuffer wrong_dims(4, 2, 1000, 3);
  EXPECT_THROW(wrong_dims.load_state(a.state()), IoError);
  AgentState missing = a.state();
  missing.tensors.pop_back();
  ReplayBuffer c(3, 2, 1000, 3);
  EXPECT_THROW(c.load_state(missing), IoError);
  std::vector<float> obs(3 * 5), act(2 * 3), rew(5);  // 5 rewards need 6 observations
  EXPECT_THROW(a.add_episode(obs, act, rew), ShapeError);
  ReplayBuffer empty(3, 2, 1000, 3);
  Rng rng(1);
  EXPECT_THROW(empty.sample(4, rng), Error);
}

}  // namespace
}  // namespace lucid::agents
