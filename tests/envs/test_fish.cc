// fish-swim: the task contract, the initial-state distribution (body orientation, fins, target
// placement), the observation layout, rewards on known states, and fidelity against dm_control's
// fish.xml.
#include <gtest/gtest.h>

#include "dmc/fish.h"
#include "locomotion_checks.h"

namespace lucid::envs {
namespace {

using testing::make_dmc_env;
using testing::qpos_of;

const char* const kJoints[] = {"tail1",          "tail_twist",   "tail2",        "finright_roll",
                               "finright_pitch", "finleft_roll", "finleft_pitch"};

TEST(Fish, Contract) { testing::check_task_contract("fish-swim", 24, 5, 10); }

TEST(Fish, Deterministic) { testing::check_determinism("fish-swim", 50); }

TEST(Fish, InitialStateDistribution) {
  auto env = make_dmc_env("fish-swim");
  const Physics& p = env->physics();
  const int root = qpos_of(p, "root"), target = p.geom_id("target");
  int negative_components = 0;
  double target_min[3] = {1, 1, 1}, target_max[3] = {-1, -1, -1};
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    env->reset(seed);
    const mjData* d = p.data();
    // The root stays where the model puts it; its orientation is a unit quaternion of randn(4), so
    // (unlike the free-joint randomizer) components of both signs occur.
    EXPECT_EQ(d->qpos[root + 0], 0.0);
    EXPECT_EQ(d->qpos[root + 1], 0.0);
    EXPECT_EQ(d->qpos[root + 2], 0.1);
    const double* q = d->qpos + root + 3;
    EXPECT_NEAR(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3], 1.0, 1e-12);
    for (int k = 0; k < 4; ++k) negative_components += q[k] < 0;
    for (const char* joint : kJoints) {
      EXPECT_GE(d->qpos[qpos_of(p, joint)], -0.2) << joint;
      EXPECT_LE(d->qpos[qpos_of(p, joint)], 0.2) << joint;
    }
    const double* t = p.model()->geom_pos + 3 * target;
    for (int k = 0; k < 3; ++k)
      target_min[k] = std::min(target_min[k], t[k]), target_max[k] = std::max(target_max[k], t[k]);
  }
  EXPECT_GT(negative_components, 100);  // about half of 400
  EXPECT_LT(negative_components, 300);
  // Target: x, y in U(-.4, .4), z in U(.1, .3); 100 draws come close to every bound.
  for (int k = 0; k < 2; ++k) {
    EXPECT_GE(target_min[k], -0.4);
    EXPECT_LT(target_min[k], -0.3);
    EXPECT_LE(target_max[k], 0.4);
    EXPECT_GT(target_max[k], 0.3);
  }
  EXPECT_GE(target_min[2], 0.1);
  EXPECT_LT(target_min[2], 0.15);
  EXPECT_LE(target_max[2], 0.3);
  EXPECT_GT(target_max[2], 0.25);
}

TEST(Fish, ObservationLayout) {
  auto env = make_dmc_env("fish-swim");
  env->reset(4);
  const std::vector<float> obs = env->step(std::vector<float>(5, 0.3f)).obs;
  const Physics& p = env->physics();
  const mjData* d = p.data();
  for (int i = 0; i < 7; ++i) EXPECT_FLOAT_EQ(obs[i], d->qpos[qpos_of(p, kJoints[i])]) << kJoints[i];
  EXPECT_FLOAT_EQ(obs[7], p.xmat(p.body_id("torso"), 2, 2));
  // target: the mouth-to-target vector in the mouth frame has the world-frame length.
  const int mouth = p.geom_id("mouth"), target = p.geom_id("target");
  double world[3];
  for (int k = 0; k < 3; ++k) world[k] = d->geom_xpos[3 * target + k] - d->geom_xpos[3 * mouth + k];
  double local[3];
  mju_mulMatTVec(local, d->geom_xmat + 9 * mouth, world, 3, 3);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(obs[8 + k], local[k], 1e-6) << k;
  for (int i = 0; i < 13; ++i) EXPECT_FLOAT_EQ(obs[11 + i], d->qvel[i]) << i;
}

TEST(Fish, RewardOnKnownStates) {
  auto env = make_dmc_env("fish-swim");
  env->reset(0);
  Physics& p = env->physics();
  mjData* d = p.data();
  const int root = qpos_of(p, "root"), mouth = p.geom_id("mouth"), target = p.geom_id("target");
  // Upright (identity quaternion) with the target on the mouth: in_target = 1, upright = 1.
  mju_zero(d->qpos + root + 3, 4);
  d->qpos[root + 3] = 1.0;
  p.forward_without_actuation();
  mju_copy3(p.model()->geom_pos + 3 * target, d->geom_xpos + 3 * mouth);
  p.forward_without_actuation();
  EXPECT_NEAR(env->task().reward(p), 1.0, 1e-12);
  // Upside down (180 degrees about x): upright term 0, reward 7/8.
  d->qpos[root + 3] = 0.0;
  d->qpos[root + 4] = 1.0;
  p.forward_without_actuation();
  mju_copy3(p.model()->geom_pos + 3 * target, d->geom_xpos + 3 * mouth);
  p.forward_without_actuation();
  EXPECT_NEAR(env->task().reward(p), 7.0 / 8.0, 1e-12);
  // Target one margin (2r = .09) outside the touching distance r = .045, i.e. .135 from the mouth:
  // in_target = .1 (the gaussian's value at the margin).
  p.model()->geom_pos[3 * target + 2] += 0.135;
  p.forward_without_actuation();
  EXPECT_NEAR(env->task().reward(p), 7.0 * 0.1 / 8.0, 1e-9);
}

TEST(Fish, CameraZeroSeesTheRobot) { testing::expect_camera0_sees_robot("fish-swim"); }

TEST(FishFidelity, MatchesDmControl) { testing::check_fidelity("fish-swim", 200); }

}  // namespace
}  // namespace lucid::envs
