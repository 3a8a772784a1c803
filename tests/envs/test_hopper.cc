// hopper-stand / hopper-hop: the task contract, the initial-state distribution, the observation
// layout, rewards on known states, and fidelity against dm_control's hopper.xml.
#include <gtest/gtest.h>

#include <numbers>

#include "dmc/hopper.h"
#include "locomotion_checks.h"

namespace lucid::envs {
namespace {

using testing::make_dmc_env;
using testing::qpos_of;

TEST(Hopper, Contract) {
  testing::check_task_contract("hopper-stand", 15, 4, 4);
  testing::check_task_contract("hopper-hop", 15, 4, 4);
}

TEST(Hopper, Deterministic) { testing::check_determinism("hopper-hop", 100); }

TEST(Hopper, InitialStateDistribution) {
  auto env = make_dmc_env("hopper-hop");
  const Physics& p = env->physics();
  const mjModel* m = p.model();
  double min_pitch = 0, max_pitch = 0;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    env->reset(seed);
    const mjData* d = p.data();
    EXPECT_EQ(d->qpos[qpos_of(p, "rootx")], 0.0);
    EXPECT_EQ(d->qpos[qpos_of(p, "rootz")], 0.0);
    const double pitch = d->qpos[qpos_of(p, "rooty")];
    EXPECT_GE(pitch, -std::numbers::pi);
    EXPECT_LT(pitch, std::numbers::pi);
    min_pitch = std::min(min_pitch, pitch), max_pitch = std::max(max_pitch, pitch);
    for (const char* joint : {"waist", "hip", "knee", "ankle"}) {
      const int j = p.joint_id(joint);
      EXPECT_GE(d->qpos[m->jnt_qposadr[j]], m->jnt_range[2 * j]) << joint;
      EXPECT_LE(d->qpos[m->jnt_qposadr[j]], m->jnt_range[2 * j + 1]) << joint;
    }
    for (int i = 0; i < m->nv; ++i) EXPECT_EQ(d->qvel[i], 0.0);
  }
  EXPECT_LT(min_pitch, -2.5);
  EXPECT_GT(max_pitch, 2.5);
}

TEST(Hopper, ObservationLayout) {
  auto env = make_dmc_env("hopper-stand");
  env->reset(1);
  // Land on the floor so that the touch sensors read something.
  StepResult r;
  for (int t = 0; t < 50; ++t) r = env->step(std::vector<float>(4, 0.f));
  const mjData* d = env->physics().data();
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(r.obs[i], d->qpos[i + 1]) << i;
  for (int i = 0; i < 7; ++i) EXPECT_FLOAT_EQ(r.obs[6 + i], d->qvel[i]) << i;
  const int toe = env->physics().sensor_adr("touch_toe"), heel = env->physics().sensor_adr("touch_heel");
  EXPECT_FLOAT_EQ(r.obs[13], std::log1p(d->sensordata[toe]));
  EXPECT_FLOAT_EQ(r.obs[14], std::log1p(d->sensordata[heel]));
  EXPECT_GT(r.obs[13] + r.obs[14], 0.f) << "after 1 s on the floor something touches";
}

TEST(Hopper, RewardOnKnownStates) {
  auto stand = make_dmc_env("hopper-stand");
  auto hop = make_dmc_env("hopper-hop");
  for (auto* env : {stand.get(), hop.get()}) {
    env->reset(0);
    Physics& p = env->physics();
    mjData* d = p.data();
    mju_zero(d->qpos, p.model()->nq);  // upright: torso ~.9 m above the foot, standing = 1
    mju_zero(d->qvel, p.model()->nv);
    mju_zero(d->ctrl, p.model()->nu);
    d->qvel[p.model()->jnt_dofadr[p.joint_id("rootx")]] = 1.0;  // rigid forward motion at 1 m/s
    p.forward_without_actuation();
    if (env == stand.get()) {
      EXPECT_NEAR(env->task().reward(p), 1.0, 1e-12);  // zero control: small_control = 1
      // Controls of .5 on every motor: (mean(1 - .25) + 4) / 5 = .95; 2 (beyond the clamp) gives 4/5.
      for (int i = 0; i < 4; ++i) d->ctrl[i] = 0.5;
      EXPECT_NEAR(env->task().reward(p), 0.95, 1e-12);
      for (int i = 0; i < 4; ++i) d->ctrl[i] = 2.0;
      EXPECT_NEAR(env->task().reward(p), 0.8, 1e-12);
    } else {
      EXPECT_NEAR(env->task().reward(p), 0.5, 1e-9);  // clip(1 / 2, 0, 1)
    }
    // Folded up (torso pitched flat, at floor level): not standing, reward 0.
    d->qpos[qpos_of(p, "rooty")] = std::numbers::pi / 2;
    d->qpos[qpos_of(p, "rootz")] = -0.9;
    p.forward_without_actuation();
    EXPECT_EQ(env->task().reward(p), 0.0);
  }
}

TEST(Hopper, CameraZeroSeesTheRobot) { testing::expect_camera0_sees_robot("hopper-hop"); }

TEST(HopperFidelity, MatchesDmControl) {
  testing::check_fidelity("hopper-stand", 200);
  testing::check_fidelity("hopper-hop", 200);
}

}  // namespace
}  // namespace lucid::envs
