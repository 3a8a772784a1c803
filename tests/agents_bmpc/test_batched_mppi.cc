// BatchedMppi: planning B states in one call equals B single-state calls that use the same
// random streams (first call and a warm-started second call), and the expert distribution is
// the selected elite's first action with the final first-step std.
#include <gtest/gtest.h>

#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/kernels/threading.h"
#include "lucid/models/bmpc/model.h"
#include "lucid/planners/batched_mppi.h"
#include "lucid_test.h"

namespace lucid::planners {
namespace {

models::bmpc::BmpcModel random_model() {
  models::bmpc::BmpcConfig c = models::bmpc::bmpc_preset(1, 6, 2);
  c.enc_dim = 32, c.mlp_dim = 48, c.latent_dim = 16, c.simnorm_dim = 4;
  models::bmpc::BmpcModel m(c);
  Rng rng(21, 1);
  m.init(rng);
  auto p = m.params();
  std::vector<float> noise(p.size());
  rng.normal(noise.data(), noise.size());
  for (std::size_t i = 0; i < p.size(); ++i) p[i] += 0.2f * noise[i];
  m.bump_weights_version();
  return m;
}

PlannerConfig small_config() {
  PlannerConfig pc;
  pc.action_dim = 2, pc.latent_dim = 16, pc.num_samples = 48, pc.num_elites = 8, pc.num_pi_trajs = 6;
  pc.iterations = 3;
  return pc;
}

TEST(BatchedMppi, BatchEqualsPerStateCallsWithTheSameStreams) {
  const models::bmpc::BmpcModel model = random_model();
  const int B = 4, A = 2;
  std::vector<float> obs_v(B * 6);
  Rng orng(3, 0);
  orng.normal(obs_v.data(), obs_v.size());
  const Tensor obs = Tensor::from(obs_v, Shape{B, 6});

  BatchedMppi batched(small_config());
  batched.allocate(B);
  std::vector<Rng> streams;
  for (int b = 0; b < B; ++b) streams.emplace_back(99, b);
  std::vector<std::vector<float>> act(2), mean(2), sd(2);
  for (int call = 0; call < 2; ++call) {
    const Tensor a = batched.plan_batch(model, obs, streams, /*eval=*/false, /*t0=*/call == 0);
    act[call].assign(a.data(), a.data() + B * A);
    mean[call].assign(batched.expert_mean().begin(), batched.expert_mean().end());
    sd[call].assign(batched.expert_std().begin(), batched.expert_std().end());
  }

  for (int b = 0; b < B; ++b) {
    BatchedMppi single(small_config());
    single.allocate(1);
    Rng stream(99, b);
    const Tensor ob = obs.view_rows(b, b + 1);
    for (int call = 0; call < 2; ++call) {
      const Tensor a = single.plan_batch(model, ob, std::span<Rng>(&stream, 1), false, call == 0);
      EXPECT_TRUE(lucid::testing::all_close(a.data(), act[call].data() + b * A, A, 1e-5, 1e-5))
          << "state " << b << " call " << call;
      EXPECT_TRUE(
          lucid::testing::all_close(single.expert_mean().data(), mean[call].data() + b * A, A, 1e-5, 1e-5));
      EXPECT_TRUE(
          lucid::testing::all_close(single.expert_std().data(), sd[call].data() + b * A, A, 1e-5, 1e-5));
    }
  }
  // The states differ, so do their plans (the test would pass trivially otherwise).
  EXPECT_NE(mean[0][0], mean[0][A]);
}

// Rows are split into per-state chunks that the threads share; every row's arithmetic must be the
// same however they are shared, so 1 and 2 threads plan bit for bit alike: one state (its rows
// sliced across the threads), three states (two slices each) and five (one chunk each).
TEST(BatchedMppi, TwoThreadsPlanBitForBitWhatOneThreadPlans) {
  const models::bmpc::BmpcModel model = random_model();
  const int saved_threads = kernels::num_threads();
  for (const int B : {1, 3, 5}) {
    std::vector<float> obs_v(B * 6);
    Rng orng(7, static_cast<std::uint64_t>(B));
    orng.normal(obs_v.data(), obs_v.size());
    const Tensor obs = Tensor::from(obs_v, Shape{B, 6});
    std::vector<std::vector<float>> act(2), mean(2);
    for (const int threads : {1, 2}) {
      kernels::set_num_threads(threads);
      BatchedMppi planner(small_config());
      planner.allocate(B);
      std::vector<Rng> streams;
      for (int b = 0; b < B; ++b) streams.emplace_back(5, b);
      for (int call = 0; call < 2; ++call) {  // the second call is warm-started
        const Tensor a = planner.plan_batch(model, obs, streams, /*eval=*/false, /*t0=*/call == 0);
        act[threads - 1].insert(act[threads - 1].end(), a.data(), a.data() + B * 2);
        mean[threads - 1].insert(mean[threads - 1].end(), planner.expert_mean().begin(),
                                 planner.expert_mean().end());
      }
    }
    EXPECT_EQ(act[0], act[1]) << B << " states";
    EXPECT_EQ(mean[0], mean[1]) << B << " states";
  }
  kernels::set_num_threads(saved_threads);
}

TEST(BatchedMppi, ExpertIsWithinBoundsAndEvalAddsNoNoise) {
  const models::bmpc::BmpcModel model = random_model();
  const PlannerConfig pc = small_config();
  BatchedMppi p(pc);
  p.allocate(1);
  const Tensor obs = Tensor::from(std::vector<float>{0.1f, 0.2f, 0.3f, -0.1f, 0.f, 1.f}, Shape{1, 6});
  Rng rng(5, 0);
  const Tensor a = p.plan_batch(model, obs, std::span<Rng>(&rng, 1), /*eval=*/true, true);
  for (int j = 0; j < 2; ++j) {
    EXPECT_EQ(a.data()[j], p.expert_mean()[j]);  // eval: the elite's action itself
    EXPECT_GE(p.expert_std()[j], pc.min_std);
    EXPECT_LE(p.expert_std()[j], pc.max_std);
    EXPECT_LE(std::abs(p.expert_mean()[j]), 1.f);
  }
}

}  // namespace
}  // namespace lucid::planners
