// Checks shared by the locomotion task tests (test_cheetah.cc, test_walker.cc, test_hopper.cc,
// test_fish.cc, test_humanoid.cc): the per-task contract (sizes, bounds, reward range,
// determinism, time limit) and fidelity against dm_control's own models.
//
// Fidelity: lucid's MJCF is written independently of dm_control's but from the same physical
// numbers, so MuJoCo must compile both to the same dynamics. The check compares the compiled
// parameters that enter the dynamics, then runs both models from one initial state under one fixed
// action sequence through the full task (DmcEnv: substeps, mj_step1, reward, observation) and
// requires every observation, reward, qpos and qvel to agree within kFidelityTol.
//
// Why kFidelityTol = 1e-6 (absolute, plus the same relative): with equal compiled numbers MuJoCo
// is deterministic and the trajectories come out bit-identical (measured: 0 difference after
// thousands of physics steps for all five models). What can legitimately differ is compile-time
// rounding in how a shape is written down (a capsule by fromto vs pos + orientation, a normalised
// quaternion), which is ~1e-16 and grows by a few orders of magnitude at most over the short
// contact-rich rollouts used here. A modelling error is far larger: one wrong floor friction in
// the walker moved qpos by 0.7 within 200 physics steps, and WalkerFidelity.DetectsAModelError
// checks that the test fails on such a difference.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dmc/dmc_env.h"
#include "lucid/envs/registry.h"
#include "lucid_test.h"

namespace lucid::envs::testing {

inline constexpr double kFidelityTol = 1e-6;

// The bare task env: no rescale, no repeat, so the test sees DmcEnv itself.
inline std::unique_ptr<dmc::DmcEnv> make_dmc_env(const std::string& task,
                                                 const std::filesystem::path& dmc_xml = {}) {
  EnvOptions o;
  o.rescale_actions = false;
  o.dmc_xml_dir = dmc_xml;
  std::unique_ptr<Env> env = make_env(task, o);
  auto* raw = dynamic_cast<dmc::DmcEnv*>(env.get());
  if (raw == nullptr) return nullptr;
  env.release();
  return std::unique_ptr<dmc::DmcEnv>(raw);
}

// A fixed, seed-determined action sequence in [-1.2, 1.2]: slightly outside the ctrlrange so that
// rewards that read the unclamped control see values beyond the clamp.
inline std::vector<std::vector<float>> action_sequence(int steps, int nu, std::uint64_t seed) {
  dmc::Random random(seed, 99);
  std::vector<std::vector<float>> actions(static_cast<std::size_t>(steps), std::vector<float>(nu));
  for (auto& a : actions)
    for (float& x : a) x = static_cast<float>(random.uniform(-1.2, 1.2));
  return actions;
}

// Sizes, bounds, n_sub; then a full episode of random actions: finite observations, reward in
// [0, 1] at every control step, truncation exactly at step 1000 and not before.
inline void check_task_contract(const std::string& task, int obs_dim, int action_dim, int n_sub) {
  auto env = make_dmc_env(task);
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->name(), task);
  EXPECT_EQ(env->observation_dim(), obs_dim);
  EXPECT_EQ(env->action_dim(), action_dim);
  EXPECT_EQ(env->n_sub_steps(), n_sub);
  EXPECT_EQ(env->action_low(), std::vector<float>(action_dim, -1.f));
  EXPECT_EQ(env->action_high(), std::vector<float>(action_dim, 1.f));

  const std::vector<float> obs0 = env->reset(11);
  ASSERT_EQ(static_cast<int>(obs0.size()), obs_dim);
  const auto actions = action_sequence(dmc::kTimeLimitSteps, action_dim, 11);
  for (int t = 0; t < dmc::kTimeLimitSteps; ++t) {
    const StepResult r = env->step(actions[t]);
    ASSERT_FALSE(r.diverged) << task << " step " << t;
    ASSERT_FALSE(r.terminated) << task << " step " << t;
    ASSERT_EQ(r.truncated, t + 1 == dmc::kTimeLimitSteps) << task << " step " << t;
    ASSERT_EQ(static_cast<int>(r.obs.size()), obs_dim);
    for (float x : r.obs) ASSERT_TRUE(std::isfinite(x)) << task << " step " << t;
    ASSERT_GE(r.reward, 0.0) << task << " step " << t;
    ASSERT_LE(r.reward, 1.0) << task << " step " << t;
  }
  EXPECT_THROW(env->step(actions[0]), EnvError);  // the episode is over
}

// Same seed: same initial observation and the same rollout; another seed: another episode.
inline void check_determinism(const std::string& task, int steps) {
  auto a = make_dmc_env(task), b = make_dmc_env(task);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->reset(4), a->reset(5));
  ASSERT_EQ(a->reset(3), b->reset(3));
  for (const auto& act : action_sequence(steps, a->action_dim(), 3)) {
    const StepResult ra = a->step(act), rb = b->step(act);
    ASSERT_EQ(ra.obs, rb.obs);
    ASSERT_EQ(ra.reward, rb.reward);
  }
  // Resetting an env that has run gives the first episode again (no state leaks across episodes).
  auto c = make_dmc_env(task);
  EXPECT_EQ(a->reset(3), c->reset(3));
}

// The compiled numbers that determine the dynamics, lucid's model against dm_control's.
inline void expect_same_dynamics_parameters(const mjModel* a, const mjModel* b) {
  ASSERT_EQ(a->nq, b->nq);
  ASSERT_EQ(a->nv, b->nv);
  ASSERT_EQ(a->nu, b->nu);
  ASSERT_EQ(a->nbody, b->nbody);
  ASSERT_EQ(a->njnt, b->njnt);
  EXPECT_EQ(a->opt.timestep, b->opt.timestep);
  EXPECT_EQ(a->opt.integrator, b->opt.integrator);
  EXPECT_EQ(a->opt.disableflags, b->opt.disableflags);
  EXPECT_EQ(a->opt.density, b->opt.density);
  const double tol = 1e-12;
  using lucid::testing::all_close;
  EXPECT_TRUE(all_close(a->body_mass, b->body_mass, a->nbody, tol, tol)) << "body_mass";
  EXPECT_TRUE(all_close(a->body_inertia, b->body_inertia, 3 * a->nbody, tol, tol)) << "body_inertia";
  EXPECT_TRUE(all_close(a->body_ipos, b->body_ipos, 3 * a->nbody, tol, tol)) << "body_ipos";
  EXPECT_TRUE(all_close(a->body_pos, b->body_pos, 3 * a->nbody, tol, tol)) << "body_pos";
  EXPECT_TRUE(all_close(a->body_quat, b->body_quat, 4 * a->nbody, tol, tol)) << "body_quat";
  EXPECT_TRUE(all_close(a->qpos0, b->qpos0, a->nq, tol, tol)) << "qpos0";
  EXPECT_TRUE(all_close(a->jnt_type, b->jnt_type, a->njnt, 0, 0)) << "jnt_type";
  EXPECT_TRUE(all_close(a->jnt_limited, b->jnt_limited, a->njnt, 0, 0)) << "jnt_limited";
  EXPECT_TRUE(all_close(a->jnt_axis, b->jnt_axis, 3 * a->njnt, tol, tol)) << "jnt_axis";
  EXPECT_TRUE(all_close(a->jnt_pos, b->jnt_pos, 3 * a->njnt, tol, tol)) << "jnt_pos";
  EXPECT_TRUE(all_close(a->jnt_stiffness, b->jnt_stiffness, a->njnt, tol, tol)) << "jnt_stiffness";
  EXPECT_TRUE(all_close(a->dof_damping, b->dof_damping, a->nv, tol, tol)) << "dof_damping";
  EXPECT_TRUE(all_close(a->dof_armature, b->dof_armature, a->nv, tol, tol)) << "dof_armature";
  EXPECT_TRUE(all_close(a->actuator_gear, b->actuator_gear, 6 * a->nu, tol, tol)) << "actuator_gear";
  EXPECT_TRUE(all_close(a->actuator_gainprm, b->actuator_gainprm, mjNGAIN * a->nu, tol, tol)) << "gainprm";
  EXPECT_TRUE(all_close(a->actuator_biasprm, b->actuator_biasprm, mjNBIAS * a->nu, tol, tol)) << "biasprm";
  EXPECT_TRUE(all_close(a->actuator_ctrlrange, b->actuator_ctrlrange, 2 * a->nu, 0, 0)) << "ctrlrange";
}

// render() and pixel observations (TD-MPC2 renders camera 0 for these domains) see the same view:
// camera 0 sits on the same body with the same pose, tracking mode and field of view.
inline void expect_same_camera0(const mjModel* a, const mjModel* b) {
  ASSERT_GT(a->ncam, 0);
  ASSERT_GT(b->ncam, 0);
  EXPECT_EQ(a->cam_bodyid[0], b->cam_bodyid[0]);
  EXPECT_EQ(a->cam_mode[0], b->cam_mode[0]);
  EXPECT_EQ(a->cam_fovy[0], b->cam_fovy[0]);
  EXPECT_TRUE(lucid::testing::all_close(a->cam_pos, b->cam_pos, 3, 1e-12, 1e-12)) << "cam_pos";
  EXPECT_TRUE(lucid::testing::all_close(a->cam_quat, b->cam_quat, 4, 1e-6, 1e-6)) << "cam_quat";
}

// Both models from the same initial state under the same actions through the whole task.
// A test may edit the official model first, to show that the comparison catches a modelling error.
inline ::testing::AssertionResult run_fidelity(dmc::DmcEnv* ours, dmc::DmcEnv* theirs, int steps) {
  if (ours->n_sub_steps() != theirs->n_sub_steps())
    return ::testing::AssertionFailure()
           << "n_sub " << ours->n_sub_steps() << " vs " << theirs->n_sub_steps();

  // The same seed draws the same initial state on both (the draws read only joint ranges, which
  // match); copying the state anyway makes the rollout start identical even if they did not.
  const std::vector<float> obs_ours = ours->reset(21);
  const std::vector<float> obs_theirs = theirs->reset(21);
  auto r0 = lucid::testing::all_close(obs_ours.data(), obs_theirs.data(), obs_ours.size(), kFidelityTol,
                                      kFidelityTol);
  if (!r0) return r0 << " (initial observation)";
  mjModel* mo = ours->physics().model();
  mjData* dd = ours->physics().data();
  mjData* dt = theirs->physics().data();
  mju_copy(dt->qpos, dd->qpos, mo->nq);
  mju_copy(dt->qvel, dd->qvel, mo->nv);
  dt->time = dd->time;
  theirs->physics().forward_without_actuation();

  for (const auto& act : action_sequence(steps, ours->action_dim(), 21)) {
    const StepResult a = ours->step(act), b = theirs->step(act);
    const int t = ours->step_count();
    if (a.diverged || b.diverged) return ::testing::AssertionFailure() << "diverged at step " << t;
    auto r = lucid::testing::all_close(a.obs.data(), b.obs.data(), a.obs.size(), kFidelityTol, kFidelityTol);
    if (!r) return r << " (observation at control step " << t << ")";
    r = lucid::testing::all_close(&a.reward, &b.reward, 1, kFidelityTol, kFidelityTol);
    if (!r) return r << " (reward at control step " << t << ")";
    r = lucid::testing::all_close(dd->qpos, dt->qpos, mo->nq, kFidelityTol, kFidelityTol);
    if (!r) return r << " (qpos at control step " << t << ")";
    r = lucid::testing::all_close(dd->qvel, dt->qvel, mo->nv, kFidelityTol, kFidelityTol);
    if (!r) return r << " (qvel at control step " << t << ")";
  }
  return ::testing::AssertionSuccess();
}

inline void check_fidelity(const std::string& task, int steps) {
  const std::filesystem::path dmc_xml = lucid::testing::dmc_xml_dir();
  if (dmc_xml.empty())
    GTEST_SKIP() << "dm_control's models (../shared/dmc_xml/suite) are absent; fidelity not checked";
  auto ours = make_dmc_env(task);
  auto theirs = make_dmc_env(task, dmc_xml);
  ASSERT_NE(ours, nullptr);
  ASSERT_NE(theirs, nullptr);
  expect_same_dynamics_parameters(ours->physics().model(), theirs->physics().model());
  expect_same_camera0(ours->physics().model(), theirs->physics().model());
  EXPECT_TRUE(run_fidelity(ours.get(), theirs.get(), steps)) << task;
}

// Camera 0 (render()'s default) shows the robot after reset: enough pixels have the robot's orange
// hue (red > green > blue), which neither the blue floor nor the blue sky has.
inline void expect_camera0_sees_robot(const std::string& task) {
  auto env = make_dmc_env(task);
  env->reset(3);
  const Image img = env->render(80, 60);
  ASSERT_EQ(img.rgb.size(), 80u * 60u * 3u);
  int robot = 0;
  for (std::size_t i = 0; i < img.rgb.size(); i += 3) {
    const int r = img.rgb[i], g = img.rgb[i + 1], b = img.rgb[i + 2];
    robot += r > g + 12 && g > b;
  }
  EXPECT_GT(robot, 80 * 60 / 200) << task << ": under 0.5% of camera 0's pixels show the robot";
}

// Qpos index of a named joint.
inline int qpos_of(const Physics& physics, const char* joint) {
  return physics.model()->jnt_qposadr[physics.joint_id(joint)];
}

}  // namespace lucid::envs::testing
