// The BMPC agent: experts reach the buffer at the observations they were planned from (seed data
// keeps N(0, 1)); pretraining leaves the policy alone; lazy reanalyze writes back only to the
// sampled slots (and the current batch); state round trip; acting with Dream-MPC.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "lucid/agents/bmpc_agent.h"
#include "lucid/agents/replay_buffer.h"
#include "lucid_test.h"

namespace lucid::agents {
namespace {

constexpr int kObs = 5, kAct = 2, kH = 3;

BmpcAgentConfig small_config(const std::string& planner = "mppi") {
  BmpcAgentConfig c;
  c.obs_dim = kObs, c.action_dim = kAct, c.model_size = 1, c.batch_size = 8, c.horizon = kH;
  c.reanalyze_batch_size = 2;
  c.episode_length = 50;
  c.planner = planners::planner_defaults(planner);
  c.planner.num_samples = 32, c.planner.num_elites = 4, c.planner.num_pi_trajs = 4, c.planner.iterations = 2;
  return c;
}

std::vector<float> random_obs(Rng& rng, int n) {
  std::vector<float> v(static_cast<std::size_t>(n) * kObs);
  rng.normal(v.data(), v.size());
  return v;
}

// A seed episode: random observations and actions, no planning.
void add_seed_episode(ReplayBuffer& b, Rng& rng, int length) {
  std::vector<float> act(static_cast<std::size_t>(length) * kAct, 0.1f), rew(length, 0.5f);
  b.add_episode(random_obs(rng, length + 1), act, rew);
}

std::vector<float> pi_params(BmpcAgent& a) {
  const auto& l = a.model().layout();
  const auto p = std::as_const(a.model()).params();
  return {p.begin() + static_cast<std::ptrdiff_t>(l.pi.begin()),
          p.begin() + static_cast<std::ptrdiff_t>(l.pi.end())};
}

TEST(BmpcAgent, ExpertsReachTheBufferWherePlannedAndPretrainingSkipsThePolicy) {
  BmpcAgent agent(small_config());
  ReplayBuffer buffer(kObs, kAct, 10000, kH);
  Rng rng(1, 0);
  add_seed_episode(buffer, rng, 10);
  const std::vector<float> pi0 = pi_params(agent);
  agent.update(buffer);  // no training act yet: pretraining, model only
  EXPECT_EQ(pi_params(agent), pi0);

  // One training episode of 8 planned steps, an evaluation act in between (not an expert).
  agent.reset();
  const int T = 8;
  std::vector<float> obs = random_obs(rng, T + 1), act, rew(T, 0.f), experts;
  for (int t = 0; t < T; ++t) {
    const std::vector<float> o(obs.begin() + t * kObs, obs.begin() + (t + 1) * kObs);
    const auto a = agent.act(o, /*eval=*/false);
    act.insert(act.end(), a.begin(), a.end());
    experts.insert(experts.end(), agent.last_expert().begin(), agent.last_expert().end());
    if (t == 3) agent.act(o, /*eval=*/true);
  }
  buffer.add_episode(obs, act, rew);
  agent.reset();  // the next episode starts and plans once before the update
  agent.act(std::vector<float>(kObs, 0.25f), false);
  const UpdateInfo info = agent.update(buffer);
  EXPECT_TRUE(std::isfinite(info.at("pi_loss")));
  EXPECT_NE(pi_params(agent), pi0);
  EXPECT_EQ(agent.queued_experts(), 1u);  // the running episode's

  const int f = buffer.field_index("expert");
  ASSERT_GE(f, 0);
  const auto seed_rows = buffer.episode_field(0, f);
  for (std::size_t i = 0; i < seed_rows.size(); ++i) EXPECT_EQ(seed_rows[i], (i % 4) < 2 ? 0.f : 1.f);
  const auto rows = buffer.episode_field(1, f);
  for (int t = 0; t < T; ++t)
    for (int k = 0; k < 2 * kAct; ++k) EXPECT_EQ(rows[t * 2 * kAct + k], experts[t * 2 * kAct + k]) << t;
  for (int k = 0; k < 2 * kAct; ++k)
    EXPECT_EQ(rows[T * 2 * kAct + k], k < kAct ? 0.f : 1.f);  // never planned
  for (int t = 0; t < T; ++t)
    for (int k = kAct; k < 2 * kAct; ++k) EXPECT_GE(rows[t * 2 * kAct + k], 0.05f);
}

TEST(BmpcAgent, ReanalyzeWritesBackOnlyToTheSampledSlots) {
  BmpcAgent agent(small_config());
  ReplayBuffer buffer(kObs, kAct, 10000, kH);
  Rng rng(2, 0);
  for (int e = 0; e < 3; ++e) add_seed_episode(buffer, rng, 12);
  const int f = agent.expert_field(buffer);
  constexpr float kSentinel = 5.f;
  for (std::int64_t e = 0; e < buffer.num_episodes(); ++e)
    for (float& v : buffer.episode_field(e, f)) v = kSentinel;
  Rng sample_rng(8, 0);
  const Batch& batch = buffer.sample(8, sample_rng);
  std::vector<float> expert(batch.fields[f].data(), batch.fields[f].data() + batch.fields[f].numel());
  EXPECT_EQ(agent.reanalyze(buffer, batch, expert), 2 * kH);

  // Slots (episode, observation index) that were re-planned: rows b < 2, steps t < H.
  std::set<std::pair<std::int64_t, std::int64_t>> planned;
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < kH; ++t)
      for (std::int64_t e = 0; e < buffer.num_episodes(); ++e) {
        const auto ep = buffer.episode(e);
        if (batch.start[b] >= ep.first_id && batch.start[b] < ep.first_id + ep.length)
          planned.insert({e, batch.start[b] - ep.first_id + t});
      }
  ASSERT_FALSE(planned.empty());
  const int W = 2 * kAct;
  for (std::int64_t e = 0; e < buffer.num_episodes(); ++e) {
    const auto rows = buffer.episode_field(e, f);
    for (std::int64_t k = 0; k <= buffer.episode(e).length; ++k) {
      const bool was_planned = planned.count({e, k}) > 0;
      for (int j = 0; j < W; ++j) {
        const float v = rows[k * W + j];
        if (was_planned) {
          EXPECT_NE(v, kSentinel) << "episode " << e << " obs " << k;
          EXPECT_LE(std::abs(v), j < kAct ? 1.f : 2.f);
        } else {
          EXPECT_EQ(v, kSentinel) << "episode " << e << " obs " << k;
        }
      }
    }
  }
  // The current batch carries the new experts (the buffer's too, unless both re-planned rows
  // cover that slot: then the buffer keeps the second plan); other rows keep what was sampled.
  const bool overlap = std::abs(batch.start[0] - batch.start[1]) < kH;
  for (int t = 0; t <= kH; ++t)
    for (int b = 0; b < 8; ++b)
      for (int j = 0; j < W; ++j) {
        const float v = expert[(t * 8 + b) * W + j];
        if (b < 2 && t < kH) {
          EXPECT_NE(v, kSentinel);
          if (!overlap || b == 1) {
            EXPECT_EQ(v, buffer.field_row(f, batch.start[b], t)[j]);
          }
        } else {
          EXPECT_EQ(v, kSentinel);
        }
      }
}

TEST(BmpcAgent, StateRoundTripContinuesIdentically) {
  BmpcAgentConfig c = small_config();
  c.reanalyze_interval = 2;
  BmpcAgent a(c), b(c);
  ReplayBuffer ba(kObs, kAct, 10000, kH), bb(kObs, kAct, 10000, kH);
  Rng r1(4, 0);
  add_seed_episode(ba, r1, 20);
  a.act(std::vector<float>(kObs, 0.1f), false);  // out of pretraining
  for (int i = 0; i < 3; ++i) a.update(ba);      // reanalyzes at updates 0 and 2: the buffer's experts change
  b.load_state(a.state());
  bb.load_state(ba.state());  // the expert field is adopted when b registers it
  const UpdateInfo ia = a.update(ba), ib = b.update(bb);
  EXPECT_EQ(ia.at("total_loss"), ib.at("total_loss"));
  EXPECT_EQ(ia.at("pi_loss"), ib.at("pi_loss"));
  EXPECT_EQ(ia.at("reanalyzed"), ib.at("reanalyzed"));
  EXPECT_EQ(std::as_const(a.model()).params()[123], std::as_const(b.model()).params()[123]);
}

TEST(BmpcAgent, ActsWithDreamMpcAndRecordsItsCandidateDistribution) {
  BmpcAgentConfig c = small_config("dream-mpc");
  BmpcAgent agent(c);
  agent.reset();
  for (int t = 0; t < 3; ++t) {
    const auto a = agent.act(std::vector<float>(kObs, 0.1f * t), false);
    for (float v : a) EXPECT_LE(std::abs(v), 1.f);
    const auto e = agent.last_expert();
    for (int j = 0; j < kAct; ++j) {
      EXPECT_LE(std::abs(e[j]), 1.f);
      EXPECT_GE(e[kAct + j], c.planner.min_std);
      EXPECT_LE(e[kAct + j], c.planner.max_std);
    }
  }
}

}  // namespace
}  // namespace lucid::agents
