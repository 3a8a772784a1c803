// cheetah-run: the task contract, the settled initial state, the observation layout, the reward on
// known states, and fidelity against dm_control's cheetah.xml.
#include <gtest/gtest.h>

#include "dmc/cheetah.h"
#include "locomotion_checks.h"

namespace lucid::envs {
namespace {

using testing::make_dmc_env;
using testing::qpos_of;

TEST(Cheetah, Contract) { testing::check_task_contract("cheetah-run", 17, 6, 1); }

TEST(Cheetah, Deterministic) { testing::check_determinism("cheetah-run", 100); }

// The legs start at U(range) and the body then settles for 2 s with zero control: the episode
// starts at time 0 from a resting pose on the floor, with the root's forward position untouched
// by the draw, and different seeds give different poses.
TEST(Cheetah, InitialStateIsSettled) {
  auto env = make_dmc_env("cheetah-run");
  const Physics& p = env->physics();
  const mjModel* m = p.model();
  std::vector<float> previous;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> obs = env->reset(seed);
    const mjData* d = p.data();
    EXPECT_EQ(d->time, 0.0);
    EXPECT_LT(std::abs(d->qpos[qpos_of(p, "rootx")]), 1.0) << seed;  // it fell, it did not run
    EXPECT_GT(d->qpos[qpos_of(p, "rootz")], -0.7) << seed;           // torso above the floor
    // Springs and damping bring it nearly to rest within the 2 s.
    for (int i = 0; i < m->nv; ++i) EXPECT_LT(std::abs(d->qvel[i]), 0.5) << seed << " dof " << i;
    // Soft joint limits may be exceeded a little under load, not by much.
    for (int j = 3; j < m->njnt; ++j) {
      const double q = d->qpos[m->jnt_qposadr[j]], slack = 0.1;
      EXPECT_GE(q, m->jnt_range[2 * j] - slack) << mj_id2name(m, mjOBJ_JOINT, j);
      EXPECT_LE(q, m->jnt_range[2 * j + 1] + slack) << mj_id2name(m, mjOBJ_JOINT, j);
    }
    EXPECT_NE(obs, previous);
    previous = obs;
  }
}

TEST(Cheetah, ObservationDropsForwardPosition) {
  auto env = make_dmc_env("cheetah-run");
  env->reset(2);
  const std::vector<float> obs = env->observation();
  const mjData* d = env->physics().data();
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(obs[i], d->qpos[i + 1]) << i;
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(obs[8 + i], d->qvel[i]) << i;
}

// The reward is clip(v_x / 10, 0, 1) of the centre-of-mass velocity; moving the whole body
// rigidly along x (qvel = rootx only) makes that velocity exact.
TEST(Cheetah, RewardIsClippedForwardSpeed) {
  auto env = make_dmc_env("cheetah-run");
  env->reset(0);
  Physics& p = env->physics();
  mjData* d = p.data();
  const int rootx = p.model()->jnt_dofadr[p.joint_id("rootx")];
  for (double v : {-3.0, 0.0, 2.5, 5.0, 9.9, 10.0, 25.0}) {
    mju_zero(d->qvel, p.model()->nv);
    d->qvel[rootx] = v;
    p.forward_without_actuation();
    EXPECT_NEAR(env->task().reward(p), std::clamp(v / dmc::kCheetahRunSpeed, 0.0, 1.0), 1e-9) << v;
  }
}

TEST(Cheetah, CameraZeroSeesTheRobot) { testing::expect_camera0_sees_robot("cheetah-run"); }

TEST(CheetahFidelity, MatchesDmControl) { testing::check_fidelity("cheetah-run", 300); }

}  // namespace
}  // namespace lucid::envs
