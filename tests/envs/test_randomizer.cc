// randomize_limited_and_rotational_joints on a model with one joint of every kind: each joint's
// draw follows dm_control's rule (facts §1), and unlimited slides and free-joint positions stay put.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>

#include "dmc/dmc_task.h"
#include "mujoco/physics.h"

namespace lucid::envs::dmc {
namespace {

constexpr const char* kModel = R"(<mujoco>
  <worldbody>
    <body name="a"><joint name="hinge_lim" type="hinge" limited="true" range="-30 60"/><geom size=".1"/></body>
    <body name="b"><joint name="hinge_free" type="hinge"/><geom size=".1"/></body>
    <body name="c"><joint name="slide_lim" type="slide" limited="true" range="-.2 .5"/><geom size=".1"/></body>
    <body name="d" pos="0 0 .7"><joint name="slide_free" type="slide"/><geom size=".1"/></body>
    <body name="e"><joint name="ball_lim" type="ball" limited="true" range="0 45"/><geom size=".1"/></body>
    <body name="f"><joint name="ball_free" type="ball"/><geom size=".1"/></body>
    <body name="g" pos="1 2 3"><freejoint name="root"/><geom size=".1"/></body>
  </worldbody>
</mujoco>)";

TEST(Randomizer, EveryJointKindFollowsItsRule) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("lucid_randomizer_test_" + std::to_string(::getpid()) + ".xml");
  std::ofstream(file) << kModel;
  Physics physics = Physics::from_xml(file);
  std::filesystem::remove(file);
  const mjModel* m = physics.model();
  const double* q = physics.data()->qpos;
  auto adr = [&](const char* j) { return m->jnt_qposadr[physics.joint_id(j)]; };
  const double deg = std::numbers::pi / 180.0;
  Random random(9, 0);
  double hinge_free_lo = 10, hinge_free_hi = -10, max_ball_angle = 0;
  for (int draw = 0; draw < 300; ++draw) {
    physics.reset();
    randomize_limited_and_rotational_joints(physics, random);
    EXPECT_GE(q[adr("hinge_lim")], -30 * deg);
    EXPECT_LE(q[adr("hinge_lim")], 60 * deg);
    hinge_free_lo = std::min(hinge_free_lo, q[adr("hinge_free")]);
    hinge_free_hi = std::max(hinge_free_hi, q[adr("hinge_free")]);
    EXPECT_GE(q[adr("slide_lim")], -0.2);
    EXPECT_LE(q[adr("slide_lim")], 0.5);
    EXPECT_EQ(q[adr("slide_free")], 0.0);  // unlimited slides are left alone
    // unit quaternions; the limited ball rotates by at most 45 degrees
    for (const char* j : {"ball_lim", "ball_free"}) {
      const double* b = q + adr(j);
      EXPECT_NEAR(b[0] * b[0] + b[1] * b[1] + b[2] * b[2] + b[3] * b[3], 1.0, 1e-12) << j;
    }
    const double angle = 2.0 * std::acos(std::min(1.0, std::abs(q[adr("ball_lim")])));
    EXPECT_LE(angle, 45 * deg + 1e-9);
    max_ball_angle = std::max(max_ball_angle, angle);
    // free joint: position untouched, quaternion non-negative and unit
    const double* f = q + adr("root");
    EXPECT_EQ(f[0], 1.0);
    EXPECT_EQ(f[1], 2.0);
    EXPECT_EQ(f[2], 3.0);
    for (int k = 3; k < 7; ++k) EXPECT_GE(f[k], 0.0);
  }
  EXPECT_LT(hinge_free_lo, -2.8);
  EXPECT_GT(hinge_free_hi, 2.8);
  EXPECT_GT(max_ball_angle, 40 * deg);
}

}  // namespace
}  // namespace lucid::envs::dmc
