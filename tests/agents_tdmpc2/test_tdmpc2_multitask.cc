// TD-MPC2 multitask update and planning (facts/tdmpc2.md §1.2-1.6).
//
// Update: the world-model loss and the policy loss reach the task embedding, checked by central
// finite differences of each loss on a tiny model along random directions of each task's row
// (targets held fixed, as the update's no-grad targets are); each row's TD target uses its task's
// discount; the policy's padded action dims get no gradient; update_batch trains the rows in the
// batch, leaves the others alone and resumes bit-identically from state().
// Planning: MPPI and Dream-MPC on a multitask model for one task equal planning with the
// single-task model that folds that task's embedding into the first-layer biases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "../models/tdmpc2_fold.h"
#include "lucid/agents/tdmpc2_agent.h"
#include "lucid/error.h"
#include "lucid/planners/planner.h"

namespace lucid::agents {
namespace {

using models::tdmpc2::fold_helpers::fold;
using models::tdmpc2::fold_helpers::randomise;

constexpr int kTasks = 3;

Tdmpc2AgentConfig mt_config() {
  Tdmpc2AgentConfig c;
  c.obs_dim = 5;
  c.action_dim = 3;
  c.model_size = 1;
  c.batch_size = 4;
  c.horizon = 2;
  c.seed = 3;
  c.num_tasks = kTasks;
  c.task_action_dims = {3, 2, 3};            // task 1 pads its last action dim
  c.task_episode_lengths = {500, 100, 500};  // discounts 0.99, 0.95, 0.99
  c.planner.num_samples = 64;
  c.planner.num_elites = 8;
  c.planner.num_pi_trajs = 4;
  return c;
}

Batch make_batch(const Tdmpc2AgentConfig& c, std::uint64_t seed) {
  Rng rng(seed);
  Batch b;
  const int H = c.horizon, B = c.batch_size;
  b.obs = Tensor::zeros(Shape{H + 1, B, c.obs_dim});
  b.action = Tensor::zeros(Shape{H, B, c.action_dim});
  b.reward = Tensor::zeros(Shape{H, B, 1});
  rng.normal(b.obs.data(), b.obs.numel());
  rng.normal(b.action.data(), b.action.numel());
  for (std::int64_t i = 0; i < b.action.numel(); ++i) b.action.data()[i] = std::tanh(b.action.data()[i]);
  rng.normal(b.reward.data(), b.reward.numel());
  return b;
}

std::span<const float> emb_grad(Tdmpc2Agent& a) {
  return std::span<const float>(a.model().grads()).subspan(a.model().layout().task_emb);
}

// Central difference of loss() along unit direction v over params [offset, offset + v.size()).
template <typename Loss>
double directional_fd(Tdmpc2Agent& agent, std::size_t offset, const std::vector<float>& v, float h,
                      Loss loss) {
  std::span<float> p = agent.model().params();
  std::vector<float> saved(p.begin() + static_cast<std::ptrdiff_t>(offset),
                           p.begin() + static_cast<std::ptrdiff_t>(offset + v.size()));
  for (std::size_t i = 0; i < v.size(); ++i) p[offset + i] = saved[i] + h * v[i];
  const double lp = loss();
  p = agent.model().params();
  for (std::size_t i = 0; i < v.size(); ++i) p[offset + i] = saved[i] - h * v[i];
  const double lm = loss();
  p = agent.model().params();
  std::copy(saved.begin(), saved.end(), p.begin() + static_cast<std::ptrdiff_t>(offset));
  return (lp - lm) / (2.0 * h);
}

// A unit direction: the gradient's own (the derivative along it is the gradient's norm, the
// largest signal over float rounding) plus a random part so that a wrong sign or scale in any
// component shows.
std::vector<float> unit_direction(std::span<const float> g, std::uint64_t seed) {
  Rng rng(seed);
  const std::size_t n = g.size();
  std::vector<float> v(n);
  rng.normal(v.data(), n);
  double gn = 0;
  for (float x : g) gn += static_cast<double>(x) * x;
  gn = std::sqrt(gn);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(0.3 * v[i] / std::sqrt(static_cast<double>(n)) + (gn > 0 ? g[i] / gn : 0.0));
  double ss = 0;
  for (float x : v) ss += static_cast<double>(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(ss));
  return v;
}

double dot(std::span<const float> a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < b.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST(Tdmpc2Multitask, ModelLossGradientReachesTheTaskEmbedding) {
  const Tdmpc2AgentConfig cfg = mt_config();
  Tdmpc2Agent agent(cfg);
  randomise(agent.model(), 11, -1);
  UpdateNoise noise;
  agent.draw_noise(noise);
  const Batch batch = make_batch(cfg, 12);
  const std::vector<int> tasks = {0, 1, 1, 0};  // task 2 is not in the batch
  agent.compute_targets(batch, noise, tasks);
  agent.model_loss_backward(batch, noise);
  const int td = agent.model().config().task_dim;
  const std::vector<float> g(emb_grad(agent).begin(), emb_grad(agent).end());
  for (int j = 0; j < td; ++j) EXPECT_EQ(g[2 * td + j], 0.f);
  const std::size_t emb = agent.model().layout().task_emb;
  for (int task : {0, 1}) {
    const std::vector<float> v = unit_direction(std::span<const float>(g).subspan(task * td, td), 20 + task);
    const double analytic = dot(std::span<const float>(g).subspan(task * td), v);
    const double fd = directional_fd(agent, emb + static_cast<std::size_t>(task) * td, v, 1e-2f,
                                     [&] { return agent.model_loss_backward(batch, noise); });
    EXPECT_GT(std::fabs(analytic), 1e-3) << task;  // the check below is not vacuous
    EXPECT_NEAR(analytic, fd, 1e-5 + 5e-3 * std::fabs(fd)) << task;
    std::printf("model loss, task %d: analytic %.6g fd %.6g\n", task, analytic, fd);
  }
}

TEST(Tdmpc2Multitask, PolicyLossGradientReachesTheEmbeddingAndPi) {
  const Tdmpc2AgentConfig cfg = mt_config();
  Tdmpc2Agent agent(cfg);
  randomise(agent.model(), 13, -1);
  UpdateNoise noise;
  agent.draw_noise(noise);
  const Batch batch = make_batch(cfg, 14);
  const std::vector<int> tasks = {1, 0, 2, 1};
  agent.compute_targets(batch, noise, tasks);
  agent.model_loss_backward(batch, noise);
  auto& m = agent.model();
  std::fill(m.grads().begin(), m.grads().end(), 0.f);
  agent.pi_loss_backward(noise, false);
  const std::vector<float> g(m.grads().begin(), m.grads().end());
  const auto pi_loss = [&] { return agent.pi_loss_backward(noise, false); };
  const int td = m.config().task_dim;
  const std::size_t emb = m.layout().task_emb;
  for (int task = 0; task < kTasks; ++task) {
    const std::vector<float> v = unit_direction(
        std::span<const float>(g).subspan(emb + static_cast<std::size_t>(task) * td, td), 30 + task);
    const double analytic =
        dot(std::span<const float>(g).subspan(emb + static_cast<std::size_t>(task) * td), v);
    const double fd = directional_fd(agent, emb + static_cast<std::size_t>(task) * td, v, 1e-2f, pi_loss);
    EXPECT_GT(std::fabs(analytic), 1e-3) << task;
    EXPECT_NEAR(analytic, fd, 5e-6 + 2e-3 * std::fabs(fd)) << task;
    std::printf("pi loss, task %d: analytic %.6g fd %.6g\n", task, analytic, fd);
  }
  const auto& pi = m.layout().pi;
  const std::vector<float> v = unit_direction(std::span<const float>(g).subspan(pi.begin(), pi.size()), 40);
  const double analytic = dot(std::span<const float>(g).subspan(pi.begin()), v);
  const double fd = directional_fd(agent, pi.begin(), v, 1e-2f, pi_loss);
  EXPECT_GT(std::fabs(analytic), 1e-3);
  EXPECT_NEAR(analytic, fd, 5e-6 + 2e-3 * std::fabs(fd));
  std::printf("pi loss, pi block: analytic %.6g fd %.6g\n", analytic, fd);
}

// A batch of task 1 only: the policy outputs of its padded dim (mean row 2, log_std row A + 2 of
// pi's last layer) are masked, so they get exactly zero gradient; the valid ones do not.
TEST(Tdmpc2Multitask, PaddedPolicyOutputsGetNoGradient) {
  const Tdmpc2AgentConfig cfg = mt_config();
  Tdmpc2Agent agent(cfg);
  randomise(agent.model(), 15, -1);
  UpdateNoise noise;
  agent.draw_noise(noise);
  const Batch batch = make_batch(cfg, 16);
  const std::vector<int> tasks = {1, 1, 1, 1};
  agent.compute_targets(batch, noise, tasks);
  agent.model_loss_backward(batch, noise);
  auto& m = agent.model();
  std::fill(m.grads().begin(), m.grads().end(), 0.f);
  agent.pi_loss_backward(noise, false);
  const auto& last = m.layout().pi.layers().back();
  const float* g = m.grads().data() + m.layout().pi.begin();
  const int A = cfg.action_dim;
  auto row_norm = [&](int out) {
    double s = std::fabs(g[last.b + out]);
    for (int k = 0; k < last.in; ++k) s += std::fabs(g[last.w + static_cast<std::size_t>(out) * last.in + k]);
    return s;
  };
  EXPECT_EQ(row_norm(2), 0.0);
  EXPECT_EQ(row_norm(A + 2), 0.0);
  EXPECT_GT(row_norm(0), 0.0);
  EXPECT_GT(row_norm(A + 1), 0.0);
}

// td = r + gamma_task * min of the two target heads at (next_z, pi(next_z)), per row, with the
// model queried one task at a time.
TEST(Tdmpc2Multitask, TdTargetsUseEachTasksDiscount) {
  const Tdmpc2AgentConfig cfg = mt_config();
  Tdmpc2Agent agent(cfg);
  EXPECT_FLOAT_EQ(agent.task_discount(0), 0.99f);
  EXPECT_FLOAT_EQ(agent.task_discount(1), 0.95f);
  randomise(agent.model(), 17, 2);
  UpdateNoise noise;
  agent.draw_noise(noise);
  const Batch batch = make_batch(cfg, 18);
  const std::vector<int> tasks = {2, 1, 0, 1};
  agent.compute_targets(batch, noise, tasks);
  auto& m = agent.model();
  const int B = cfg.batch_size, O = cfg.obs_dim, A = cfg.action_dim, L = m.latent_dim();
  double spread = 0;
  for (int t = 0; t < cfg.horizon; ++t)
    for (int b = 0; b < B; ++b) {
      const int i = t * B + b;
      m.set_task(tasks[b]);
      std::vector<float> z(L), a(A);
      float q0 = 0.f, q1 = 0.f;
      m.encode_raw(batch.obs.data() + static_cast<std::size_t>(i + B) * O, 1, z.data());
      m.pi_action_raw(z.data(), noise.td_eps.data() + static_cast<std::size_t>(i) * A, 1, a.data());
      m.q_raw(z.data(), a.data(), 1, std::span<const int>(noise.td_heads, 1), true, &q0);
      m.q_raw(z.data(), a.data(), 1, std::span<const int>(noise.td_heads + 1, 1), true, &q1);
      const float expected = batch.reward.data()[i] + agent.task_discount(tasks[b]) * std::min(q0, q1);
      EXPECT_NEAR(agent.td_targets()[i], expected, 1e-4f * (1.f + std::fabs(expected))) << t << " " << b;
      spread = std::max(spread, std::fabs(static_cast<double>(std::min(q0, q1))));
    }
  EXPECT_GT(spread, 0.05);  // the values are large enough for 0.95 vs 0.99 to show
}

TEST(Tdmpc2Multitask, UpdateTrainsTheBatchRowsAndResumesBitIdentically) {
  const Tdmpc2AgentConfig cfg = mt_config();
  Tdmpc2Agent a(cfg);
  const Batch batch = make_batch(cfg, 19);
  const std::vector<int> tasks = {0, 1, 0, 1};
  const int td = a.model().config().task_dim;
  const std::size_t emb = a.model().layout().task_emb;
  const std::vector<float> before(a.model().params().begin() + static_cast<std::ptrdiff_t>(emb),
                                  a.model().params().end());
  UpdateNoise noise;
  a.draw_noise(noise);
  const UpdateInfo info = a.update_batch(batch, noise, tasks);
  EXPECT_TRUE(std::isfinite(info.at("total_loss")));
  const std::span<const float> after = std::span<const float>(a.model().params()).subspan(emb);
  for (int task = 0; task < kTasks; ++task) {
    bool moved = false;
    for (int j = 0; j < td; ++j) moved |= after[task * td + j] != before[task * td + j];
    EXPECT_EQ(moved, task != 2) << task;  // Adam's first step moves exactly the rows with a gradient
  }
  // The policy loss's embedding gradient is kept for the next model update (official quirk).
  double carry = 0;
  for (float v : emb_grad(a)) carry += std::fabs(v);
  EXPECT_GT(carry, 0.0);

  Tdmpc2Agent b(cfg);
  b.load_state(a.state());
  UpdateNoise n2;
  a.draw_noise(n2);
  b.draw_noise(noise);
  ASSERT_EQ(n2.td_eps, noise.td_eps);
  a.update_batch(batch, n2, tasks);
  b.update_batch(batch, noise, tasks);
  ASSERT_EQ(a.model().params().size(), b.model().params().size());
  EXPECT_EQ(std::memcmp(a.model().params().data(), b.model().params().data(),
                        sizeof(float) * a.model().params().size()),
            0);

  EXPECT_THROW(a.update_batch(batch, n2, std::vector<int>{0, 1}), ShapeError);
  ReplayBuffer buffer(cfg.obs_dim, cfg.action_dim, 100, cfg.horizon);
  EXPECT_THROW(a.update(buffer), Error);
}

TEST(Tdmpc2Multitask, ActsForItsTaskWithPaddedDimsZero) {
  Tdmpc2Agent agent(mt_config());
  randomise(agent.model(), 21, 2);
  const std::vector<float> obs{0.1f, -0.2f, 0.3f, 0.f, 1.f};
  for (int task : {1, 2, 0}) {
    agent.set_task(task);
    for (bool eval : {true, false}) {
      const auto a = agent.act(obs, eval);
      ASSERT_EQ(a.size(), 3u);
      for (float v : a) EXPECT_LE(std::fabs(v), 1.f);
      if (task == 1) {
        EXPECT_EQ(a[2], 0.f);
      } else {
        EXPECT_NE(a[2], 0.f);
      }
    }
  }
  EXPECT_FLOAT_EQ(agent.discount(), 0.99f);
  agent.set_task(1);
  EXPECT_FLOAT_EQ(agent.discount(), 0.95f);
  EXPECT_THROW(agent.set_task(kTasks), Error);
}

// The planners know nothing of tasks: on a multitask model set to task t they plan what they plan
// on the folded single-task model of t (same random draws; the actions agree to float rounding, measured <=
// 4e-7).
TEST(Tdmpc2Multitask, MppiAndDreamMpcPlanForTheModelsTask) {
  models::tdmpc2::Tdmpc2Config mc = models::tdmpc2::tdmpc2_preset(1, 5, 3, kTasks);
  mc.task_action_dims = {3, 2, 3};
  models::tdmpc2::Tdmpc2Model m(mc);
  randomise(m, 23, 2);
  const Tensor obs = Tensor::from(std::vector<float>{0.3f, -0.1f, 0.5f, 0.2f, -0.4f}, Shape{1, 5});
  for (const char* name : {"mppi", "dream-mpc"}) {
    planners::PlannerConfig pc = planners::planner_defaults(name);
    pc.action_dim = 3;
    pc.latent_dim = mc.latent_dim;
    pc.num_samples = 64;
    pc.num_elites = 8;
    if (pc.name == "mppi") pc.num_pi_trajs = 4;
    for (int task : {2, 0}) {
      SCOPED_TRACE(std::string(name) + " task " + std::to_string(task));
      m.set_task(task);
      models::tdmpc2::Tdmpc2Model s = fold(m, task);
      auto pm = planners::make_planner(pc), ps = planners::make_planner(pc);
      pm->allocate(1);
      ps->allocate(1);
      for (int call = 0; call < 2; ++call) {  // the second call runs from the warm start
        Rng rm(7 + call), rs(7 + call);
        const Tensor am = pm->plan(m, obs, rm, false), as = ps->plan(s, obs, rs, false);
        for (int j = 0; j < 3; ++j) EXPECT_NEAR(am.data()[j], as.data()[j], 1e-4f) << j;
      }
    }
  }
}

}  // namespace
}  // namespace lucid::agents
