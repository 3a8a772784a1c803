// BMPC world model: the layout against counts derived from the TD-MPC2 facts, BMPC's policy
// parameterisation, the V heads (latent-only, zero at init, target copy), the action gradient
// against central finite differences, and Dream-MPC planning on a BMPC model.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/models/bmpc/model.h"
#include "lucid/planners/planner.h"
#include "lucid_test.h"

namespace lucid::models::bmpc {
namespace {

// A small model whose output layers are not zero, so values and gradients are non-trivial.
BmpcModel small_model(std::uint64_t seed) {
  BmpcConfig c = bmpc_preset(1, 7, 3);
  c.enc_dim = 24, c.mlp_dim = 32, c.latent_dim = 16, c.simnorm_dim = 4;
  BmpcModel m(c);
  Rng rng(seed, 1);
  m.init(rng);
  // Randomise every weight at a scale where LayerNorm/Mish/SimNorm are well away from flat.
  auto p = m.params();
  std::vector<float> noise(p.size());
  rng.normal(noise.data(), noise.size());
  for (std::size_t i = 0; i < p.size(); ++i) p[i] += 0.3f * noise[i];
  std::copy(p.begin() + static_cast<std::ptrdiff_t>(m.layout().v_begin()),
            p.begin() + static_cast<std::ptrdiff_t>(m.layout().v_end()), m.target_v().begin());
  m.bump_weights_version();
  return m;
}

TEST(BmpcModel, ParamCountsFollowFromTdmpc2Facts) {
  // facts/tdmpc2.md §1.2, obs 24 / act 6: TD-MPC2 5M = 4,960,618 with 5 Q heads of 582,245; a V head
  // drops the 6 action inputs of its first layer (6 x 512 weights): 579,173; BMPC has 2 of them.
  EXPECT_EQ(bmpc_layout(bmpc_preset(5, 24, 6)).layout.size(), 4960618u - 2911225u + 2u * 579173u);
  // 1M: TD-MPC2 1,214,651 already has 2 Q heads; each V head is 6 x 384 weights smaller.
  EXPECT_EQ(bmpc_layout(bmpc_preset(1, 24, 6)).layout.size(), 1214651u - 2u * 6u * 384u);
  const BmpcLayout l = bmpc_layout(bmpc_preset(5, 24, 6));
  ASSERT_EQ(l.v.size(), 2u);
  EXPECT_EQ(l.v[0].in_dim(), 512);
  EXPECT_EQ(l.v[0].out_dim(), 101);
  EXPECT_EQ(l.v[1].begin(), l.v[0].end());  // one contiguous V block for the target EMA
  EXPECT_EQ(l.pi.out_dim(), 12);
}

TEST(BmpcModel, PresetChangesOnlyWhatBmpcChanges) {
  const BmpcConfig c = bmpc_preset(5, 24, 6);
  EXPECT_EQ(c.num_q, 2);
  EXPECT_FLOAT_EQ(c.log_std_min, -3.f);
  EXPECT_FLOAT_EQ(c.log_std_max, 1.f);
  EXPECT_EQ(c.latent_dim, 512);
  EXPECT_THROW(bmpc_preset(7, 24, 6), ConfigError);
}

TEST(BmpcModel, InitialValuesAndRewardsAreZeroAndTargetMatches) {
  BmpcModel m(bmpc_preset(1, 5, 1));
  Rng rng(3, 1);
  m.init(rng);
  const Tensor obs = Tensor::from(std::vector<float>{0.1f, -0.2f, 0.3f, 0.4f, -0.5f}, Shape{1, 5});
  const Tensor z = m.encode(obs);
  const Tensor a = Tensor::from(std::vector<float>{0.5f}, Shape{1, 1});
  // Zero logits decode to the mean of the symmetric bins: 0 up to float rounding.
  EXPECT_NEAR(m.reward(z, a).data()[0], 0.f, 1e-6f);
  EXPECT_NEAR(m.value(z, a).data()[0], 0.f, 1e-6f);
  float v = 1.f;
  m.v_raw(z.data(), 1, {}, true, &v);
  EXPECT_NEAR(v, 0.f, 1e-6f);
  EXPECT_FALSE(m.value_uses_action());
  EXPECT_EQ(m.num_values(), 2);
  // SimNorm latent: every group of simnorm_dim sums to 1.
  for (int g = 0; g < 128 / 8; ++g) {
    float s = 0.f;
    for (int j = 0; j < 8; ++j) s += z.data()[g * 8 + j];
    EXPECT_NEAR(s, 1.f, 1e-5f);
  }
}

TEST(BmpcModel, PolicyIsClampedGaussianAroundTanhMean) {
  BmpcModel m = small_model(5);
  const int A = 3, L = 16, R = 4;
  std::vector<float> z(R * L), mean(R * A), log_std(R * A), eps(R * A), act(R * A), act0(R * A);
  Rng rng(9, 0);
  rng.uniform(z.data(), z.size());
  rng.normal(eps.data(), eps.size());
  for (float& e : eps) e *= 3.f;  // large noise, so some actions hit the clamp
  m.pi_dist_raw(z.data(), R, mean.data(), log_std.data());
  m.pi_action_raw(z.data(), eps.data(), R, act.data());
  m.pi_action_raw(z.data(), nullptr, R, act0.data());
  int clamped = 0;
  for (int i = 0; i < R * A; ++i) {
    EXPECT_GE(log_std[i], -3.f);
    EXPECT_LE(log_std[i], 1.f);
    EXPECT_LT(std::abs(mean[i]), 1.f);
    EXPECT_FLOAT_EQ(act0[i], mean[i]);
    const float expect = std::clamp(mean[i] + eps[i] * std::exp(log_std[i]), -1.f, 1.f);
    EXPECT_NEAR(act[i], expect, 1e-6f);
    clamped += std::abs(act[i]) == 1.f;
  }
  EXPECT_GT(clamped, 0);
}

TEST(BmpcModel, ValueIgnoresActionAndAveragesHeads) {
  BmpcModel m = small_model(6);
  const int R = 5;
  Tensor z = Tensor::empty(Shape{R, 16});
  Rng rng(2, 0);
  rng.uniform(z.data(), static_cast<std::size_t>(z.numel()));
  const Tensor a1 = Tensor::zeros(Shape{R, 3});
  Tensor a2 = Tensor::zeros(Shape{R, 3});
  for (int i = 0; i < R * 3; ++i) a2.data()[i] = 0.7f;
  const Tensor v1 = m.value(z, a1), v2 = m.value(z, a2), vs = m.value_ensemble(z, a1);
  for (int r = 0; r < R; ++r) {
    EXPECT_EQ(v1.data()[r], v2.data()[r]);
    EXPECT_NEAR(v1.data()[r], 0.5f * (vs.data()[r] + vs.data()[R + r]),
                1e-5f * (1.f + std::abs(v1.data()[r])));
  }
  EXPECT_NE(vs.data()[0], vs.data()[R]);  // two different heads
}

// Planning's first step: every row starts from one latent, whose share of the reward's and the
// dynamics' first layers is computed once; the same values as reward_into + next_into.
TEST(BmpcModel, StepFromSharedLatentEqualsRewardAndNext) {
  BmpcModel m = small_model(8);
  const int n = 9, L = 16, A = 3;
  Rng rng(4, 0);
  std::vector<float> z(L), a(static_cast<std::size_t>(n) * A);
  rng.uniform(z.data(), z.size());
  rng.normal(a.data(), a.size());
  const Tensor zs = Tensor::from(z, Shape{1, L}), at = Tensor::from(a, Shape{n, A});
  Tensor zr = Tensor::zeros(Shape{n, L});
  for (int r = 0; r < n; ++r) std::copy(z.begin(), z.end(), zr.data() + static_cast<std::size_t>(r) * L);
  Tensor r1 = Tensor::zeros(Shape{n, 1}), z1 = Tensor::zeros(Shape{n, L});
  m.step_from_shared_into(zs, zr, at, r1, z1);
  const Tensor r2 = m.reward(zr, at), z2 = m.next(zr, at);
  for (int i = 0; i < n; ++i)
    EXPECT_NEAR(r1.data()[i], r2.data()[i], 1e-4f * (1.f + std::fabs(r2.data()[i])));
  for (int i = 0; i < n * L; ++i) EXPECT_NEAR(z1.data()[i], z2.data()[i], 1e-5f);
  EXPECT_NE(r2.data()[0], r2.data()[1]);  // the actions matter, so the check is not vacuous
  EXPECT_THROW(m.step_from_shared_into(zr, zr, at, r1, z1), ShapeError);
}

// The threads of one OpenMP team may query at once, each on its own rows (concurrent_queries):
// every thread's values equal what one caller computes for the same rows.
TEST(BmpcModel, ConcurrentQueriesFromOneTeamEqualSerialOnes) {
  BmpcModel m = small_model(9);
  ASSERT_TRUE(m.concurrent_queries());
  const int n = 40, L = 16, A = 3, threads = 4;
  Rng rng(6, 0);
  std::vector<float> z(static_cast<std::size_t>(threads) * n * L),
      a(static_cast<std::size_t>(threads) * n * A);
  rng.uniform(z.data(), z.size());
  rng.normal(a.data(), a.size());
  std::vector<std::vector<float>> serial(threads), team(threads);
  auto query = [&](int t, std::vector<float>& out) {
    const Tensor zt =
        Tensor::from(std::vector<float>(z.begin() + t * n * L, z.begin() + (t + 1) * n * L), Shape{n, L});
    const Tensor at =
        Tensor::from(std::vector<float>(a.begin() + t * n * A, a.begin() + (t + 1) * n * A), Shape{n, A});
    Tensor r = Tensor::zeros(Shape{n, 1}), zn = Tensor::zeros(Shape{n, L}),
           vs = Tensor::zeros(Shape{2, n, 1});
    m.reward_into(zt, at, r);
    m.next_into(zt, at, zn);
    m.value_ensemble_into(zn, at, vs);
    out.assign(r.data(), r.data() + n);
    out.insert(out.end(), zn.data(), zn.data() + n * L);
    out.insert(out.end(), vs.data(), vs.data() + 2 * n);
  };
  for (int t = 0; t < threads; ++t) query(t, serial[t]);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) query(t, team[t]);
  for (int t = 0; t < threads; ++t) EXPECT_EQ(serial[t], team[t]) << "thread " << t;
}

// Dream-MPC's objective on a BMPC model: the analytic action gradient against central differences
// of the value (in float, so step and tolerance are moderate).
TEST(BmpcModel, ActionGradientMatchesFiniteDifferences) {
  BmpcModel m = small_model(7);
  auto g = m.make_action_gradient();
  const int R = 3, H = 3, A = 3, L = 16;
  g->reserve(R, H);
  std::vector<float> z0(R * L), act(H * R * A), grad(H * R * A), value(R), vp(R), vm(R);
  Rng rng(11, 0);
  for (int r = 0; r < R; ++r) {  // a SimNorm-like latent
    std::vector<float> obs(7);
    rng.normal(obs.data(), obs.size());
    m.encode_raw(obs.data(), 1, z0.data() + r * L);
  }
  rng.uniform(act.data(), act.size());
  for (float& a : act) a = 1.6f * a - 0.8f;
  RolloutObjective obj;
  obj.horizon = H;
  obj.discount = 0.9f;
  obj.terminal_value = true;
  obj.uncertainty_coef = 0.f;
  g->evaluate(z0.data(), act.data(), R, obj, value.data(), grad.data());
  const float h = 2e-3f;
  std::vector<float> fd(act.size());
  double max_abs = 0.0;
  for (std::size_t i = 0; i < act.size(); ++i) {
    const float keep = act[i];
    act[i] = keep + h;
    g->evaluate(z0.data(), act.data(), R, obj, vp.data(), nullptr);
    act[i] = keep - h;
    g->evaluate(z0.data(), act.data(), R, obj, vm.data(), nullptr);
    act[i] = keep;
    const int row = static_cast<int>((i / A) % R);
    fd[i] = (vp[row] - vm[row]) / (2.f * h);
    max_abs = std::max(max_abs, std::abs(static_cast<double>(fd[i])));
  }
  ASSERT_GT(max_abs, 1e-2);  // the objective really depends on the actions
  EXPECT_TRUE(lucid::testing::all_close(grad.data(), fd.data(), fd.size(), 2e-3 + 0.02 * max_abs, 0.03));

  // The uncertainty term changes J but not its gradient.
  std::vector<float> grad_u(grad.size()), value_u(R);
  obj.uncertainty_coef = 0.5f;
  g->evaluate(z0.data(), act.data(), R, obj, value_u.data(), grad_u.data());
  EXPECT_TRUE(lucid::testing::all_close(grad_u.data(), grad.data(), grad.size(), 1e-6, 1e-5));
  EXPECT_NE(value_u[0], value[0]);
}

TEST(BmpcModel, PlannersRunOnABmpcModel) {
  BmpcModel m = small_model(8);
  const Tensor obs = Tensor::from(std::vector<float>{0.1f, 0.2f, -0.3f, 0.f, 0.5f, 1.f, -1.f}, Shape{1, 7});
  for (const char* name : {"mppi", "dream-mpc", "policy"}) {
    planners::PlannerConfig pc = planners::planner_defaults(name);
    pc.action_dim = 3;
    pc.latent_dim = 16;
    pc.num_samples = 64, pc.num_elites = 8, pc.num_pi_trajs = std::min(pc.num_pi_trajs, 8);
    auto p = planners::make_planner(pc);
    p->allocate(1);
    Rng rng(1, 0);
    for (int step = 0; step < 2; ++step) {
      const Tensor a = p->plan(m, obs, rng, false);
      for (int j = 0; j < 3; ++j) {
        EXPECT_TRUE(std::isfinite(a.data()[j])) << name;
        EXPECT_LE(std::abs(a.data()[j]), 1.f) << name;
      }
    }
  }
}

}  // namespace
}  // namespace lucid::models::bmpc
