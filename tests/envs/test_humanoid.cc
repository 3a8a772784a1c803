// humanoid-stand / walk / run: the task contract, the contact-free initial state, the observation
// layout, rewards on known states, and fidelity against dm_control's humanoid.xml. Humanoid is the
// slowest model (~5k control steps/s), so the fidelity rollout is 200 control steps (5 s).
#include <gtest/gtest.h>

#include "dmc/humanoid.h"
#include "locomotion_checks.h"

namespace lucid::envs {
namespace {

using testing::make_dmc_env;

const char* const kTasks[] = {"humanoid-stand", "humanoid-walk", "humanoid-run"};

TEST(Humanoid, Contract) {
  for (const char* task : kTasks) testing::check_task_contract(task, 67, 21, 5);
}

TEST(Humanoid, Deterministic) { testing::check_determinism("humanoid-run", 50); }

TEST(Humanoid, InitialStateIsContactFree) {
  auto env = make_dmc_env("humanoid-stand");
  const Physics& p = env->physics();
  const mjModel* m = p.model();
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    env->reset(seed);
    const mjData* d = p.data();
    EXPECT_EQ(d->ncon, 0) << seed;
    EXPECT_EQ(d->qpos[0], 0.0);
    EXPECT_EQ(d->qpos[1], 0.0);
    EXPECT_EQ(d->qpos[2], 1.5);
    // The free-joint draw is rand(4) normalised: a unit quaternion with no negative component.
    double norm = 0;
    for (int k = 3; k < 7; ++k) {
      EXPECT_GE(d->qpos[k], 0.0);
      norm += d->qpos[k] * d->qpos[k];
    }
    EXPECT_NEAR(norm, 1.0, 1e-12);
    for (int j = 1; j < m->njnt; ++j) {
      EXPECT_GE(d->qpos[m->jnt_qposadr[j]], m->jnt_range[2 * j]) << mj_id2name(m, mjOBJ_JOINT, j);
      EXPECT_LE(d->qpos[m->jnt_qposadr[j]], m->jnt_range[2 * j + 1]) << mj_id2name(m, mjOBJ_JOINT, j);
    }
    for (int i = 0; i < m->nv; ++i) EXPECT_EQ(d->qvel[i], 0.0);
  }
}

TEST(Humanoid, ObservationLayout) {
  auto env = make_dmc_env("humanoid-walk");
  env->reset(6);
  const std::vector<float> obs = env->step(std::vector<float>(21, 0.2f)).obs;
  const Physics& p = env->physics();
  const mjData* d = p.data();
  for (int i = 0; i < 21; ++i) EXPECT_FLOAT_EQ(obs[i], d->qpos[7 + i]) << i;
  EXPECT_FLOAT_EQ(obs[21], d->xpos[3 * p.body_id("head") + 2]);
  // extremities: each limb relative to the torso, rotated into the torso frame (R^T v).
  const int torso = p.body_id("torso");
  int k = 22;
  for (const char* limb : {"left_hand", "left_foot", "right_hand", "right_foot"}) {
    double world[3], local[3];
    for (int c = 0; c < 3; ++c) world[c] = d->xpos[3 * p.body_id(limb) + c] - d->xpos[3 * torso + c];
    mju_mulMatTVec(local, d->xmat + 9 * torso, world, 3, 3);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(obs[k++], local[c], 1e-6) << limb;
  }
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(obs[34 + c], p.xmat(torso, 2, c));
  const int com = p.sensor_adr("torso_subtreelinvel");
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(obs[37 + c], d->sensordata[com + c]);
  for (int i = 0; i < 27; ++i) EXPECT_FLOAT_EQ(obs[40 + i], d->qvel[i]) << i;
}

// Standing straight at qpos0 (head at 1.69 m, torso upright), zero control.
TEST(Humanoid, RewardOnKnownStates) {
  for (const char* task : kTasks) {
    auto env = make_dmc_env(task);
    env->reset(0);
    Physics& p = env->physics();
    mjData* d = p.data();
    mju_copy(d->qpos, p.model()->qpos0, p.model()->nq);
    mju_zero(d->qvel, p.model()->nv);
    mju_zero(d->ctrl, p.model()->nu);
    p.forward_without_actuation();
    const std::string name = task;
    const double still = env->task().reward(p);
    // Rigid horizontal motion at (3, 4) m/s: com speed 5.
    d->qvel[0] = 3.0, d->qvel[1] = 4.0;
    p.forward_without_actuation();
    const double moving = env->task().reward(p);
    if (name == "humanoid-stand") {
      EXPECT_NEAR(still, 1.0, 1e-12);
      // dont_move = mean(tol(3, margin 2), tol(4, margin 2)) with gaussian .1 at the margin.
      const double g3 = std::pow(0.1, 1.5 * 1.5), g4 = std::pow(0.1, 2.0 * 2.0);
      EXPECT_NEAR(moving, (g3 + g4) / 2, 1e-9);
    } else {
      EXPECT_NEAR(still, 1.0 / 6.0, 1e-12) << task;
      const double s = name == "humanoid-walk" ? dmc::kHumanoidWalkSpeed : dmc::kHumanoidRunSpeed;
      const double move = std::min(5.0 / s, 1.0);
      EXPECT_NEAR(moving, (5 * move + 1) / 6, 1e-9) << task;
    }
    // Full control on every motor: small_control = 4/5.
    d->qvel[0] = d->qvel[1] = 0.0;
    for (int i = 0; i < 21; ++i) d->ctrl[i] = i % 2 ? 1.0 : -1.0;
    p.forward_without_actuation();
    EXPECT_NEAR(env->task().reward(p), 0.8 * still, 1e-12) << task;
  }
}

TEST(Humanoid, CameraZeroSeesTheRobot) { testing::expect_camera0_sees_robot("humanoid-run"); }

TEST(HumanoidFidelity, MatchesDmControl) {
  // The three tasks share the model and differ only in the reward: one rollout checks the
  // dynamics, the other two the rewards over a shorter horizon.
  testing::check_fidelity("humanoid-run", 200);
  testing::check_fidelity("humanoid-stand", 60);
  testing::check_fidelity("humanoid-walk", 60);
}

}  // namespace
}  // namespace lucid::envs
