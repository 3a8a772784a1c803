// walker-stand / walk / run: the task contract, the initial-state distribution, the observation
// layout and rewards on known states, and fidelity against dm_control's walker.xml.
#include <gtest/gtest.h>

#include <numbers>

#include "dmc/walker.h"
#include "locomotion_checks.h"

namespace lucid::envs {
namespace {

using testing::check_determinism;
using testing::check_fidelity;
using testing::check_task_contract;
using testing::make_dmc_env;
using testing::qpos_of;

const char* const kTasks[] = {"walker-stand", "walker-walk", "walker-run"};

TEST(Walker, Contract) {
  for (const char* task : kTasks) check_task_contract(task, 24, 6, 10);
}

TEST(Walker, Deterministic) { check_determinism("walker-walk", 50); }

TEST(Walker, InitialStateDistribution) {
  auto env = make_dmc_env("walker-stand");
  const Physics& p = env->physics();
  const mjModel* m = p.model();
  double min_pitch = 0, max_pitch = 0;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    env->reset(seed);
    const mjData* d = p.data();
    // rootz and rootx are unlimited slides: the randomizer leaves them at 0 (torso at 1.3 m).
    EXPECT_EQ(d->qpos[qpos_of(p, "rootz")], 0.0);
    EXPECT_EQ(d->qpos[qpos_of(p, "rootx")], 0.0);
    const double pitch = d->qpos[qpos_of(p, "rooty")];
    EXPECT_GE(pitch, -std::numbers::pi);
    EXPECT_LT(pitch, std::numbers::pi);
    min_pitch = std::min(min_pitch, pitch), max_pitch = std::max(max_pitch, pitch);
    for (int j = 3; j < m->njnt; ++j) {  // the six leg hinges: U(range)
      const double q = d->qpos[m->jnt_qposadr[j]];
      EXPECT_GE(q, m->jnt_range[2 * j]) << mj_id2name(m, mjOBJ_JOINT, j);
      EXPECT_LE(q, m->jnt_range[2 * j + 1]) << mj_id2name(m, mjOBJ_JOINT, j);
    }
    for (int i = 0; i < m->nv; ++i) EXPECT_EQ(d->qvel[i], 0.0);
  }
  // 100 draws of U(-pi, pi) cover most of the circle.
  EXPECT_LT(min_pitch, -2.5);
  EXPECT_GT(max_pitch, 2.5);
}

TEST(Walker, ObservationLayout) {
  auto env = make_dmc_env("walker-walk");
  env->reset(8);
  const std::vector<float> obs = env->observation();
  const Physics& p = env->physics();
  const mjData* d = p.data();
  for (int b = 1; b <= 7; ++b) {
    EXPECT_FLOAT_EQ(obs[2 * (b - 1)], p.xmat(b, 0, 0)) << b;
    EXPECT_FLOAT_EQ(obs[2 * (b - 1) + 1], p.xmat(b, 0, 2)) << b;
  }
  EXPECT_FLOAT_EQ(obs[14], d->xpos[3 * p.body_id("torso") + 2]);
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(obs[15 + i], d->qvel[i]);
}

// Standing straight at qpos0 (torso at 1.3 m, upright): standing = upright = 1.
TEST(Walker, RewardOnKnownStates) {
  for (const char* task : kTasks) {
    auto env = make_dmc_env(task);
    env->reset(0);
    Physics& p = env->physics();
    mjData* d = p.data();
    mju_zero(d->qpos, p.model()->nq);
    mju_zero(d->qvel, p.model()->nv);
    p.forward_without_actuation();
    const std::string name = task;
    if (name == "walker-stand") {
      EXPECT_NEAR(env->task().reward(p), 1.0, 1e-12);
    } else {
      // Not moving: move = 0, so the reward is stand * 1/6.
      EXPECT_NEAR(env->task().reward(p), 1.0 / 6.0, 1e-12) << task;
      // Moving at half the target speed: move = .5 (linear, .5 at margin s/2 below s).
      const double speed = name == "walker-walk" ? dmc::kWalkerWalkSpeed : dmc::kWalkerRunSpeed;
      d->qvel[qpos_of(p, "rootx")] = speed / 2;  // slides: qpos and dof addresses coincide here
      p.forward_without_actuation();
      EXPECT_NEAR(env->task().reward(p), (5 * 0.5 + 1) / 6, 1e-9) << task;
    }
    // Lying flat on the ground: torso pitched 90 degrees at 0.07 m.
    mju_zero(d->qvel, p.model()->nv);
    d->qpos[qpos_of(p, "rootz")] = 0.07 - 1.3;
    d->qpos[qpos_of(p, "rooty")] = std::numbers::pi / 2;
    p.forward_without_actuation();
    EXPECT_LT(env->task().reward(p), 0.2) << task;
  }
}

TEST(Walker, CameraZeroSeesTheRobot) { testing::expect_camera0_sees_robot("walker-walk"); }

TEST(WalkerFidelity, MatchesDmControl) {
  for (const char* task : kTasks) check_fidelity(task, 200);
}

// The comparison is not blind: the official model with its floor friction changed from .7 to 1
// (one wrong number) must fail it.
TEST(WalkerFidelity, DetectsAModelError) {
  if (lucid::testing::dmc_xml_dir().empty()) GTEST_SKIP() << "dm_control's models are absent";
  auto ours = make_dmc_env("walker-walk");
  auto theirs = make_dmc_env("walker-walk", lucid::testing::dmc_xml_dir());
  EXPECT_TRUE(testing::run_fidelity(ours.get(), theirs.get(), 200));
  mjModel* m = theirs->physics().model();
  m->geom_friction[3 * mj_name2id(m, mjOBJ_GEOM, "floor")] = 1.0;
  EXPECT_FALSE(testing::run_fidelity(ours.get(), theirs.get(), 200));
}

}  // namespace
}  // namespace lucid::envs
