// TD-MPC2 agent behaviour around the update: the discount heuristic, the percentile scale, acting,
// and state()/load_state() giving a bit-identical continuation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/error.h"
#include "lucid/kernels/threading.h"
#include "random_batch.h"

namespace lucid::agents {
namespace {

TEST(Tdmpc2Discount, FollowsTheHeuristic) {
  EXPECT_FLOAT_EQ(tdmpc2_discount(500), 0.99f);     // DMControl
  EXPECT_FLOAT_EQ(tdmpc2_discount(100), 0.95f);     // Meta-World: (20 - 1) / 20
  EXPECT_FLOAT_EQ(tdmpc2_discount(10000), 0.995f);  // clipped above
  EXPECT_THROW(tdmpc2_discount(0), ConfigError);
}

TEST(Tdmpc2Scale, PercentileSpreadInterpolatesLikeTorch) {
  std::vector<float> v;
  for (int i = 20; i >= 1; --i) v.push_back(static_cast<float>(i));
  // positions 0.95 and 18.05 of the sorted 1..20: 1.95 and 19.05.
  EXPECT_NEAR(percentile_spread(v), 19.05f - 1.95f, 1e-5f);
  std::vector<float> one{3.f};
  EXPECT_EQ(percentile_spread(one), 0.f);
}

Tdmpc2AgentConfig small_config(std::uint64_t seed) {
  Tdmpc2AgentConfig c;
  c.obs_dim = 5;
  c.action_dim = 2;
  c.model_size = 1;
  c.batch_size = 8;
  c.seed = seed;
  c.planner.num_samples = 64;
  c.planner.num_elites = 8;
  c.planner.num_pi_trajs = 4;
  return c;
}

Batch make_batch(const Tdmpc2AgentConfig& c, Rng& rng) { return lucid::testing::random_update_batch(c, rng); }

TEST(Tdmpc2Agent, ActsInBoundsAndRejectsBadObservations) {
  Tdmpc2Agent agent(small_config(1));
  const std::vector<float> obs{0.1f, -0.2f, 0.3f, 0.f, 1.f};
  for (bool eval : {true, false}) {
    const auto a = agent.act(obs, eval);
    ASSERT_EQ(a.size(), 2u);
    for (float v : a) EXPECT_LE(std::fabs(v), 1.f);
  }
  EXPECT_THROW(agent.act(std::vector<float>{1.f, 2.f}, true), ShapeError);
  EXPECT_THROW(agent.act(std::vector<float>{0.f, 0.f, NAN, 0.f, 0.f}, true), ShapeError);
}

TEST(Tdmpc2Agent, UpdatesReduceTheModelLossOnAFixedBatch) {
  const auto cfg = small_config(2);
  Tdmpc2Agent agent(cfg);
  Rng data(9);
  const Batch batch = make_batch(cfg, data);
  UpdateNoise noise;
  agent.draw_noise(noise);
  const float first = agent.update_batch(batch, noise).at("total_loss");
  float last = first;
  for (int i = 0; i < 30; ++i) {
    agent.draw_noise(noise);
    last = agent.update_batch(batch, noise).at("total_loss");
  }
  EXPECT_LT(last, 0.7f * first);
}

TEST(Tdmpc2Agent, StateRoundTripContinuesBitIdentically) {
  const auto cfg = small_config(3);
  Tdmpc2Agent a(cfg);
  Rng data(4);
  const Batch batch = make_batch(cfg, data);
  UpdateNoise noise;
  for (int i = 0; i < 2; ++i) {
    a.draw_noise(noise);
    a.update_batch(batch, noise);
  }
  Tdmpc2Agent b(small_config(99));  // different seed: everything must come from the state
  b.load_state(a.state());
  for (int i = 0; i < 2; ++i) {
    UpdateNoise na, nb;
    a.draw_noise(na);
    b.draw_noise(nb);
    const auto ia = a.update_batch(batch, na);
    const auto ib = b.update_batch(batch, nb);
    EXPECT_EQ(ia.at("total_loss"), ib.at("total_loss"));
    EXPECT_EQ(ia.at("pi_loss"), ib.at("pi_loss"));
  }
  const auto pa = a.model().params(), pb = b.model().params();
  ASSERT_EQ(pa.size(), pb.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) differ += pa[i] != pb[i];
  EXPECT_EQ(differ, 0u);
  const std::vector<float> obs{0.5f, 0.1f, -0.3f, 0.2f, 0.f};
  EXPECT_EQ(a.act(obs, false), b.act(obs, false));

  AgentState broken = a.state();
  broken.tensors[0].data.pop_back();
  EXPECT_THROW(b.load_state(broken), IoError);
}

// The update runs whole networks and blocks of rows as jobs over the threads in no fixed order
// (kernels::parallel_jobs): on two threads it must still be deterministic (two runs bit for bit)
// and compute the one-thread update up to float summation order: the same gradients element by
// element, the same losses, and parameters that moved to the same place. The parameters are
// compared as a whole, not element by element, because Adam divides each gradient by its own
// running size: a gradient that is pure cancellation noise (seen: -1.8e-9 on one thread,
// -5.8e-11 on two, against a largest gradient of 0.12, on an AVX2 machine) still takes a step
// of about lr, in whichever direction the noise points.
TEST(Tdmpc2Agent, TwoThreadUpdatesAreDeterministicAndEqualOneThread) {
  auto cfg = small_config(5);
  cfg.batch_size = 64;  // rows enough for every kernel to split over two threads
  Rng data(6);
  const Batch batch = make_batch(cfg, data);
  struct Run {
    std::vector<float> grads;  // of the first update, before any optimizer step
    std::vector<UpdateInfo> info;
    std::vector<float> init, params;
  };
  auto run = [&](int threads) {
    kernels::set_num_threads(threads);
    Run r;
    {
      Tdmpc2Agent pieces(cfg);
      UpdateNoise noise;
      pieces.draw_noise(noise);
      pieces.compute_targets(batch, noise);
      pieces.model_loss_backward(batch, noise);
      pieces.pi_loss_backward(noise, true);
      r.grads.assign(pieces.model().grads().begin(), pieces.model().grads().end());
    }
    Tdmpc2Agent agent(cfg);
    r.init.assign(agent.model().params().begin(), agent.model().params().end());
    UpdateNoise noise;
    for (int i = 0; i < 3; ++i) {
      agent.draw_noise(noise);
      r.info.push_back(agent.update_batch(batch, noise));
    }
    r.params.assign(agent.model().params().begin(), agent.model().params().end());
    return r;
  };
  const Run one = run(1), two = run(2), again = run(2);
  kernels::set_num_threads(1);
  EXPECT_EQ(two.grads, again.grads) << "two-thread gradients differ between runs";
  EXPECT_EQ(two.params, again.params) << "two-thread updates differ between runs";
  for (std::size_t u = 0; u < one.info.size(); ++u)
    for (const char* key :
         {"total_loss", "consistency_loss", "reward_loss", "value_loss", "pi_loss", "grad_norm"}) {
      EXPECT_EQ(two.info[u].at(key), again.info[u].at(key)) << key << " of update " << u;
      EXPECT_NEAR(two.info[u].at(key), one.info[u].at(key), 1e-4 * std::fabs(one.info[u].at(key)) + 1e-6)
          << key << " of update " << u;
    }

  // Gradients: 1e-4 relative, plus a floor for those near zero at 1e-6 of the largest (measured:
  // the worst element uses 6% of this).
  ASSERT_EQ(one.grads.size(), two.grads.size());
  float largest = 0.f;
  for (float g : one.grads) largest = std::max(largest, std::fabs(g));
  ASSERT_GT(largest, 0.f);
  for (std::size_t i = 0; i < one.grads.size(); ++i)
    ASSERT_NEAR(two.grads[i], one.grads[i], 1e-4f * std::fabs(one.grads[i]) + 1e-6f * largest)
        << "gradient " << i;

  // Parameters after three updates: the distance between the two runs' parameters is tiny next
  // to how far the update moved them (measured: 8e-5 of it).
  ASSERT_EQ(one.params.size(), two.params.size());
  double apart = 0, moved = 0;
  for (std::size_t i = 0; i < one.params.size(); ++i) {
    apart += std::pow(double{two.params[i]} - one.params[i], 2);
    moved += std::pow(double{one.params[i]} - one.init[i], 2);
  }
  ASSERT_GT(moved, 0.0);
  EXPECT_LT(std::sqrt(apart), 1e-3 * std::sqrt(moved));
}

}  // namespace
}  // namespace lucid::agents
