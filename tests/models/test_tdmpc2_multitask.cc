// TD-MPC2 multitask forward passes: the task embedding (max_norm 1), its place in every network's
// input and the action masks.
//
// The reference is a single-task model built from the multitask one by folding the task's
// (renormalised) embedding into each network's first-layer bias: b' = b + W[:, e-cols] e, W' = W
// without the e columns. Both must give the same encode / next / reward / Q / pi, and the fused
// action gradient (Dream-MPC) the same value and action gradient, for a task with every action
// dim valid. Masked tasks are checked against the official rules: the policy's padded dims are
// exactly 0 and padded action inputs change nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <span>
#include <vector>

#include "lucid/engine/rng.h"
#include "lucid/error.h"
#include "lucid/models/tdmpc2/action_gradient.h"
#include "lucid/models/tdmpc2/model.h"
#include "lucid_test.h"
#include "tdmpc2_fold.h"

namespace lucid::models::tdmpc2 {
namespace {

using fold_helpers::fold;
using fold_helpers::randomise;
using lucid::testing::all_close;

constexpr int kObs = 5, kAct = 3, kTasks = 3;

Tdmpc2Config multitask_config() {
  Tdmpc2Config c = tdmpc2_preset(1, kObs, kAct, kTasks);
  c.task_action_dims = {3, 2, 3};  // task 1 pads its last action dim
  return c;
}

std::vector<float> normal(std::size_t n, Rng& rng, float scale = 1.f) {
  std::vector<float> v(n);
  rng.normal(v.data(), n);
  for (float& x : v) x *= scale;
  return v;
}

TEST(Tdmpc2Multitask, ParamCountsUnchangedByForwardSupport) {
  // 80 tasks at 1M: the single-task count plus the table and task_dim more inputs per first layer.
  EXPECT_EQ(tdmpc2_layout(tdmpc2_preset(1, 24, 6)).layout.size(), 1214651u);
  const Tdmpc2Config c = tdmpc2_preset(1, 24, 6, 80);
  EXPECT_EQ(tdmpc2_layout(c).layout.size(), 1214651u + 80u * 96u + 96u * (256u + 384u * (3u + 2u)));
}

TEST(Tdmpc2Multitask, SetTaskRenormalisesLikeTorchMaxNorm) {
  Tdmpc2Model m(multitask_config());
  randomise(m, 1);
  const int td = m.config().task_dim;
  std::vector<float> before(td), after(td);
  m.task_embedding(2, before.data());
  double ss = 0;
  for (float v : before) ss += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(ss), 3.0 / (3.0 + 1e-7), 1e-5);  // what torch's lookup returns
  const float* row = m.params().data() + m.layout().task_emb + 2 * td;
  EXPECT_GT(std::fabs(row[0]), std::fabs(before[0]) * 2.f);  // stored row still has norm 3
  m.set_task(2);
  EXPECT_EQ(m.task(), 2);
  for (int j = 0; j < td; ++j) EXPECT_FLOAT_EQ(row[j], before[j]);  // written back in place
  m.task_embedding(2, after.data());
  EXPECT_TRUE(all_close(after.data(), before.data(), td, 0.0, 0.0));  // idempotent
  EXPECT_THROW(m.set_task(kTasks), Error);
  Tdmpc2Model single(tdmpc2_preset(1, kObs, kAct));
  EXPECT_NO_THROW(single.set_task(0));
  EXPECT_THROW(single.set_task(1), Error);
}

// Every query of a multitask model equals the folded single-task model's, for each task whose
// action dims are all valid (task 2 also checks the renormalised embedding).
TEST(Tdmpc2Multitask, ForwardEqualsFoldedSingleTaskModel) {
  Tdmpc2Model m(multitask_config());
  randomise(m, 2);
  Rng rng(5);
  const int B = 7, L = m.latent_dim();
  const std::vector<float> obs = normal(B * kObs, rng), a = normal(B * kAct, rng, 0.5f);
  const std::vector<float> eps = normal(B * kAct, rng);
  const int heads[2] = {0, 1};
  for (int task : {0, 2}) {
    SCOPED_TRACE(task);
    Tdmpc2Model s = fold(m, task);
    m.set_task(task);
    std::vector<float> z1(B * L), z2(B * L), n1(B * L), n2(B * L), r1(B), r2(B), q1(B), q2(B);
    std::vector<float> p1(B * kAct), p2(B * kAct);
    m.encode_raw(obs.data(), B, z1.data());
    s.encode_raw(obs.data(), B, z2.data());
    EXPECT_TRUE(all_close(z1.data(), z2.data(), z1.size(), 1e-6, 1e-4));
    m.next_raw(z2.data(), a.data(), B, n1.data());
    s.next_raw(z2.data(), a.data(), B, n2.data());
    EXPECT_TRUE(all_close(n1.data(), n2.data(), n1.size(), 1e-6, 1e-4));
    m.reward_raw(z2.data(), a.data(), B, r1.data());
    s.reward_raw(z2.data(), a.data(), B, r2.data());
    EXPECT_TRUE(all_close(r1.data(), r2.data(), B, 1e-5, 1e-4));
    for (bool target : {false, true}) {
      m.q_raw(z2.data(), a.data(), B, heads, target, q1.data());
      s.q_raw(z2.data(), a.data(), B, heads, target, q2.data());
      EXPECT_TRUE(all_close(q1.data(), q2.data(), B, 1e-5, 1e-4)) << "target " << target;
    }
    m.pi_action_raw(z2.data(), eps.data(), B, p1.data());
    s.pi_action_raw(z2.data(), eps.data(), B, p2.data());
    EXPECT_TRUE(all_close(p1.data(), p2.data(), p1.size(), 1e-6, 1e-4));
    // The Tensor queries, including the shared-prefix first planning step.
    const Tensor zt = Tensor::from(z2, Shape{B, L});
    const PolicyOutput po1 = m.policy(zt), po2 = s.policy(zt);
    EXPECT_TRUE(all_close(po1.mean.data(), po2.mean.data(), B * kAct, 1e-6, 1e-4));
    EXPECT_TRUE(all_close(po1.log_std.data(), po2.log_std.data(), B * kAct, 1e-5, 1e-4));
    Tensor zrep = Tensor::zeros(Shape{B, L});
    for (int r = 0; r < B; ++r)
      std::copy(z2.begin(), z2.begin() + L, zrep.data() + static_cast<std::size_t>(r) * L);
    const Tensor at = Tensor::from(a, Shape{B, kAct});
    Tensor rs = Tensor::zeros(Shape{B, 1}), zs = Tensor::zeros(Shape{B, L});
    m.step_from_shared_into(Tensor::from(std::vector<float>(z2.begin(), z2.begin() + L), Shape{1, L}), zrep,
                            at, rs, zs);
    const Tensor rr = s.reward(zrep, at), zz = s.next(zrep, at);
    EXPECT_TRUE(all_close(rs.data(), rr.data(), B, 1e-5, 1e-4));
    EXPECT_TRUE(all_close(zs.data(), zz.data(), static_cast<std::size_t>(B) * L, 1e-6, 1e-4));
  }
}

// Per-row task ids (mixed update batches) give each row what set_task(its task) gives it.
TEST(Tdmpc2Multitask, PerRowTasksEqualPerTaskQueries) {
  Tdmpc2Model m(multitask_config());
  randomise(m, 3);
  Rng rng(6);
  const int B = 6, L = m.latent_dim();
  const std::vector<int> tasks = {2, 0, 1, 1, 2, 0};
  const std::vector<float> obs = normal(B * kObs, rng), a = normal(B * kAct, rng, 0.5f);
  const std::vector<float> eps = normal(B * kAct, rng);
  std::vector<float> z(B * L), zn(B * L), r(B), q(B), p(B * kAct);
  m.encode_raw(obs.data(), B, z.data(), tasks.data());
  m.next_raw(z.data(), a.data(), B, zn.data(), tasks.data());
  m.reward_raw(z.data(), a.data(), B, r.data(), tasks.data());
  m.q_raw(z.data(), a.data(), B, {}, true, q.data(), tasks.data());
  m.pi_action_raw(z.data(), eps.data(), B, p.data(), tasks.data());
  for (int b = 0; b < B; ++b) {
    m.set_task(tasks[b]);
    std::vector<float> z1(L), zn1(L), p1(kAct);
    float r1 = 0.f, q1 = 0.f;
    m.encode_raw(obs.data() + b * kObs, 1, z1.data());
    m.next_raw(z.data() + b * L, a.data() + b * kAct, 1, zn1.data());
    m.reward_raw(z.data() + b * L, a.data() + b * kAct, 1, &r1);
    m.q_raw(z.data() + b * L, a.data() + b * kAct, 1, {}, true, &q1);
    m.pi_action_raw(z.data() + b * L, eps.data() + b * kAct, 1, p1.data());
    EXPECT_TRUE(all_close(z1.data(), z.data() + b * L, L, 1e-6, 1e-4)) << b;
    EXPECT_TRUE(all_close(zn1.data(), zn.data() + b * L, L, 1e-6, 1e-4)) << b;
    EXPECT_NEAR(r1, r[b], 1e-5 + 1e-4 * std::fabs(r[b])) << b;
    EXPECT_NEAR(q1, q[b], 1e-5 + 1e-4 * std::fabs(q[b])) << b;
    EXPECT_TRUE(all_close(p1.data(), p.data() + b * kAct, kAct, 1e-6, 1e-4)) << b;
  }
}

// Task 1 has 2 valid action dims of 3: the policy's padded dim is exactly 0 (mean, log_std and the
// sampled action), and whatever a caller puts in a padded action dim changes no prediction.
TEST(Tdmpc2Multitask, ActionMaskZeroesPaddedDims) {
  Tdmpc2Model m(multitask_config());
  randomise(m, 4);
  m.set_task(1);
  EXPECT_EQ(m.action_mask(1)[0], 1.f);
  EXPECT_EQ(m.action_mask(1)[2], 0.f);
  Rng rng(7);
  const int B = 5, L = m.latent_dim();
  const std::vector<float> z = normal(B * L, rng, 0.2f), eps = normal(B * kAct, rng);
  std::vector<float> act(B * kAct);
  m.pi_action_raw(z.data(), eps.data(), B, act.data());
  const PolicyOutput po = m.policy(Tensor::from(z, Shape{B, L}));
  for (int b = 0; b < B; ++b) {
    EXPECT_EQ(act[b * kAct + 2], 0.f);
    EXPECT_EQ(po.mean.data()[b * kAct + 2], 0.f);
    EXPECT_EQ(po.log_std.data()[b * kAct + 2], 0.f);
    EXPECT_NE(act[b * kAct + 0], 0.f);
  }
  std::vector<float> a1 = normal(B * kAct, rng, 0.5f), a2 = a1;
  for (int b = 0; b < B; ++b) a2[b * kAct + 2] += 0.7f;
  std::vector<float> n1(B * L), n2(B * L), r1(B), r2(B), q1(B), q2(B);
  m.next_raw(z.data(), a1.data(), B, n1.data());
  m.next_raw(z.data(), a2.data(), B, n2.data());
  m.reward_raw(z.data(), a1.data(), B, r1.data());
  m.reward_raw(z.data(), a2.data(), B, r2.data());
  m.q_raw(z.data(), a1.data(), B, {}, false, q1.data());
  m.q_raw(z.data(), a2.data(), B, {}, false, q2.data());
  EXPECT_TRUE(all_close(n1.data(), n2.data(), n1.size(), 0.0, 0.0));
  EXPECT_TRUE(all_close(r1.data(), r2.data(), B, 0.0, 0.0));
  EXPECT_TRUE(all_close(q1.data(), q2.data(), B, 0.0, 0.0));
  // A valid dim does matter (the check above can fail).
  a2 = a1;
  for (int b = 0; b < B; ++b) a2[b * kAct + 1] += 0.7f;
  m.reward_raw(z.data(), a2.data(), B, r2.data());
  EXPECT_FALSE(all_close(r1.data(), r2.data(), B, 1e-6, 0.0));
  // Other tasks keep all dims.
  m.set_task(0);
  m.pi_action_raw(z.data(), eps.data(), B, act.data());
  for (int b = 0; b < B; ++b) EXPECT_NE(act[b * kAct + 2], 0.f);
}

// Dream-MPC's fused action gradient on a multitask model: value and gradient equal the folded
// single-task model's for a full-width task; for a masked task, padded dims get zero gradient and
// the valid ones match central finite differences of the value.
TEST(Tdmpc2Multitask, ActionGradientPlansForTheModelsTask) {
  Tdmpc2Model m(multitask_config());
  randomise(m, 8);
  Rng rng(9);
  const int R = 4, H = 3, L = m.latent_dim();
  const std::vector<float> z0 = normal(R * L, rng, 0.3f), teps = normal(R * kAct, rng);
  std::vector<float> actions = normal(H * R * kAct, rng, 0.4f);
  for (float& x : actions) x = std::tanh(x);
  const int heads[2] = {0, 1};
  RolloutObjective obj;
  obj.horizon = H;
  obj.discount = 0.9f;
  obj.terminal_value = true;
  obj.heads = heads;
  obj.terminal_eps = teps.data();
  obj.uncertainty_coef = 0.5f;

  m.set_task(2);
  Tdmpc2Model s = fold(m, 2);
  Tdmpc2ActionGradient gm(m), gs(s);
  gm.reserve(R, H);
  gs.reserve(R, H);
  std::vector<float> v1(R), v2(R), g1(H * R * kAct), g2(H * R * kAct);
  gm.evaluate(z0.data(), actions.data(), R, obj, v1.data(), g1.data());
  gs.evaluate(z0.data(), actions.data(), R, obj, v2.data(), g2.data());
  EXPECT_TRUE(all_close(v1.data(), v2.data(), R, 1e-5, 1e-4));
  EXPECT_TRUE(all_close(g1.data(), g2.data(), g1.size(), 1e-5, 1e-3));
  std::vector<float> pa1(H * R * kAct), pa2(H * R * kAct);
  gm.policy_rollout(z0.data(), teps.data(), R, 1, pa1.data());
  gs.policy_rollout(z0.data(), teps.data(), R, 1, pa2.data());
  EXPECT_TRUE(all_close(pa1.data(), pa2.data(), R * kAct, 1e-6, 1e-4));

  m.set_task(1);
  Tdmpc2ActionGradient g(m);
  g.reserve(R, H);
  obj.uncertainty_coef = 0.f;
  g.evaluate(z0.data(), actions.data(), R, obj, v1.data(), g1.data());
  g.policy_rollout(z0.data(), teps.data(), R, H, pa1.data());
  for (int i = 0; i < H * R; ++i) {
    EXPECT_EQ(g1[i * kAct + 2], 0.f);
    EXPECT_EQ(pa1[i * kAct + 2], 0.f);
  }
  const float h = 1e-2f;
  for (int i = 0; i < H * R * kAct; i += 2) {
    if (i % kAct == 2) continue;
    auto ap = actions, am = actions;
    ap[i] += h;
    am[i] -= h;
    g.evaluate(z0.data(), ap.data(), R, obj, v2.data(), nullptr);
    const float vp = v2[(i / kAct) % R];
    g.evaluate(z0.data(), am.data(), R, obj, v2.data(), nullptr);
    const float vm = v2[(i / kAct) % R];
    const double fd = (static_cast<double>(vp) - vm) / (2.0 * h);
    EXPECT_NEAR(g1[i], fd, 2e-3 + 3e-2 * std::fabs(fd)) << i;
  }
}

}  // namespace
}  // namespace lucid::models::tdmpc2
