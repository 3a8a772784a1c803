// cartpole, pendulum, acrobot, reacher, finger, ball_in_cup: the initial-state distributions of
// facts §4.1-4.6 (drawn over many seeds: every draw inside its range, and the draws spread over
// the range, so a distribution that is too narrow fails too), task-specific reward checks, and
// fidelity against dm_control's models (see locomotion_checks.h for the method and why 1e-6).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "locomotion_checks.h"

namespace lucid::envs {
namespace {

using testing::check_fidelity;
using testing::make_dmc_env;
using testing::qpos_of;

constexpr double kPi = std::numbers::pi;
constexpr int kDraws = 200;

// Range of one scalar over kDraws resets.
struct Spread {
  double lo = 1e300, hi = -1e300;
  void add(double x) { lo = std::min(lo, x), hi = std::max(hi, x); }
};

// Every draw lies in [lo, hi] and the extremes come within `cover` of both ends.
void expect_spread(const Spread& s, double lo, double hi, double cover, const char* what) {
  EXPECT_GE(s.lo, lo) << what;
  EXPECT_LE(s.hi, hi) << what;
  EXPECT_LT(s.lo, lo + cover) << what << ": draws do not reach the lower end";
  EXPECT_GT(s.hi, hi - cover) << what << ": draws do not reach the upper end";
}

TEST(Cartpole, BalanceStartsNearUpright) {
  auto env = make_dmc_env("cartpole-balance");
  const int x = qpos_of(env->physics(), "slider"), th = qpos_of(env->physics(), "hinge_1");
  Spread sx, sth, sv;
  for (int s = 0; s < kDraws; ++s) {
    env->reset(s);
    sx.add(env->physics().data()->qpos[x]);
    sth.add(env->physics().data()->qpos[th]);
    for (int i = 0; i < 2; ++i) sv.add(env->physics().data()->qvel[i]);
  }
  expect_spread(sx, -0.1, 0.1, 0.01, "cart x");
  expect_spread(sth, -0.034, 0.034, 0.004, "pole angle");
  // qvel = .01 N: 400 draws stay within 5 sigma and are not all tiny
  EXPECT_LT(std::max(-sv.lo, sv.hi), 0.05);
  EXPECT_GT(std::max(-sv.lo, sv.hi), 0.015);
}

TEST(Cartpole, SwingupStartsHangingDown) {
  auto env = make_dmc_env("cartpole-swingup");
  const int x = qpos_of(env->physics(), "slider"), th = qpos_of(env->physics(), "hinge_1");
  Spread sx, sth;
  for (int s = 0; s < kDraws; ++s) {
    const std::vector<float> obs = env->reset(s);
    sx.add(env->physics().data()->qpos[x]);
    sth.add(env->physics().data()->qpos[th] - kPi);
    EXPECT_LT(obs[1], -0.99f);  // pole zz: pointing down
  }
  EXPECT_LT(std::max(-sx.lo, sx.hi), 0.05);  // .01 N
  EXPECT_GT(std::max(-sx.lo, sx.hi), 0.015);
  EXPECT_LT(std::max(-sth.lo, sth.hi), 0.05);
}

TEST(Cartpole, DenseRewardIsOneOnlyUprightCenteredAndStill) {
  auto env = make_dmc_env("cartpole-balance");
  env->reset(0);
  mjData* d = env->physics().data();
  d->qpos[0] = d->qpos[1] = d->qvel[0] = d->qvel[1] = 0.0;
  env->physics().forward_without_actuation();
  EXPECT_NEAR(env->step(std::vector<float>{0.f}).reward, 1.0, 1e-4);
  // full control effort costs a fifth: small_control = (4 + 0) / 5
  env->reset(0);
  d->qpos[0] = d->qpos[1] = d->qvel[0] = d->qvel[1] = 0.0;
  env->physics().forward_without_actuation();
  EXPECT_NEAR(env->step(std::vector<float>{1.f}).reward, 0.8, 1e-2);
}

TEST(Cartpole, SparseSwingupRewardsOnlyTheUprightCenteredPole) {
  auto env = make_dmc_env("cartpole-swingup_sparse");
  env->reset(0);
  EXPECT_EQ(env->step(std::vector<float>{0.f}).reward, 0.0);  // hanging down
  mjData* d = env->physics().data();
  d->qpos[0] = 0.1, d->qpos[1] = 0.0, d->qvel[0] = d->qvel[1] = 0.0;
  env->physics().forward_without_actuation();
  EXPECT_EQ(env->step(std::vector<float>{0.f}).reward, 1.0);
  d->qpos[0] = 0.3;  // outside |x| <= .25
  env->physics().forward_without_actuation();
  EXPECT_EQ(env->step(std::vector<float>{0.f}).reward, 0.0);
}

TEST(Pendulum, StartsAtAnyAngleAndRewardsOnlyNearUpright) {
  auto env = make_dmc_env("pendulum-swingup");
  Spread sth;
  for (int s = 0; s < kDraws; ++s) {
    env->reset(s);
    sth.add(env->physics().data()->qpos[0]);
    EXPECT_EQ(env->physics().data()->qvel[0], 0.0);
  }
  expect_spread(sth, -kPi, kPi, 0.15, "hinge");
  env->reset(0);
  env->physics().data()->qpos[0] = 7.5 * kPi / 180.0;  // inside cos 8 deg
  env->physics().data()->qvel[0] = 0.0;
  env->physics().forward_without_actuation();
  EXPECT_EQ(env->step(std::vector<float>{0.f}).reward, 1.0);
  env->physics().data()->qpos[0] = 10.0 * kPi / 180.0;
  env->physics().data()->qvel[0] = 0.0;
  env->physics().forward_without_actuation();
  EXPECT_EQ(env->step(std::vector<float>{0.f}).reward, 0.0);
}

TEST(Acrobot, StartsAtAnyAnglesAndRewardsTheTipAtTheTarget) {
  auto env = make_dmc_env("acrobot-swingup");
  Spread s0, s1;
  for (int s = 0; s < kDraws; ++s) {
    env->reset(s);
    s0.add(env->physics().data()->qpos[0]);
    s1.add(env->physics().data()->qpos[1]);
  }
  expect_spread(s0, -kPi, kPi, 0.15, "shoulder");
  expect_spread(s1, -kPi, kPi, 0.15, "elbow");
  // straight up: the tip sits at (0, 0, 4), the target's centre
  env->reset(0);
  mjData* d = env->physics().data();
  d->qpos[0] = d->qpos[1] = d->qvel[0] = d->qvel[1] = 0.0;
  env->physics().forward_without_actuation();
  EXPECT_NEAR(env->step(std::vector<float>{0.f}).reward, 1.0, 1e-6);
  // hanging down: 4 m from the target, 3.8 m outside its radius -> gaussian far below .1
  d->qpos[0] = kPi, d->qpos[1] = 0.0, d->qvel[0] = d->qvel[1] = 0.0;
  env->physics().forward_without_actuation();
  EXPECT_LT(env->step(std::vector<float>{0.f}).reward, 1e-6);
}

void check_reacher_init(const char* task, double target_size) {
  auto env = make_dmc_env(task);
  const mjModel* m = env->physics().model();
  const int target = env->physics().geom_id("target");
  const int wrist = qpos_of(env->physics(), "wrist");
  Spread radius, angle, sh, wr;
  for (int s = 0; s < kDraws; ++s) {
    const std::vector<float> obs = env->reset(s);
    EXPECT_EQ(m->geom_size[3 * target], target_size);
    const double x = m->geom_pos[3 * target], y = m->geom_pos[3 * target + 1];
    radius.add(std::hypot(x, y));
    angle.add(std::atan2(x, y));
    sh.add(env->physics().data()->qpos[0]);
    wr.add(env->physics().data()->qpos[wrist]);
    // obs to_target = target - finger (xy)
    const mjtNum* finger = env->physics().data()->geom_xpos + 3 * env->physics().geom_id("finger");
    EXPECT_NEAR(obs[2], x - finger[0], 1e-6);
    EXPECT_NEAR(obs[3], y - finger[1], 1e-6);
  }
  expect_spread(radius, 0.05, 0.20, 0.02, "target radius");
  expect_spread(angle, -kPi, kPi, 0.2, "target angle");
  expect_spread(sh, -kPi, kPi, 0.2, "shoulder");
  expect_spread(wr, -160.0 * kPi / 180.0, 160.0 * kPi / 180.0, 0.2, "wrist");
}

TEST(Reacher, EasyInitialState) { check_reacher_init("reacher-easy", 0.05); }
TEST(Reacher, HardInitialState) { check_reacher_init("reacher-hard", 0.015); }

TEST(Reacher, RewardIsOneWithinTargetPlusFingerRadius) {
  auto env = make_dmc_env("reacher-hard");
  env->reset(3);
  mjModel* m = env->physics().model();
  const int target = env->physics().geom_id("target");
  // put the target on the fingertip's current position, then .024 and .026 m away (threshold .025)
  const mjtNum* f = env->physics().data()->geom_xpos + 3 * env->physics().geom_id("finger");
  const double fx = f[0], fy = f[1];
  mjData* d = env->physics().data();
  const double q0 = d->qpos[0], q1 = d->qpos[1];
  for (double offset : {0.0, 0.024, 0.026}) {
    env->reset(3);
    d->qpos[0] = q0, d->qpos[1] = q1, d->qvel[0] = d->qvel[1] = 0.0;
    m->geom_pos[3 * target] = fx + offset, m->geom_pos[3 * target + 1] = fy;
    env->physics().forward_without_actuation();
    // zero action, zero velocity: the arm stays put over one 20 ms step
    EXPECT_EQ(env->step(std::vector<float>{0.f, 0.f}).reward, offset < 0.025 ? 1.0 : 0.0) << offset;
  }
}

void check_finger_init(const char* task) {
  auto env = make_dmc_env(task);
  const int prox = qpos_of(env->physics(), "proximal"), dist = qpos_of(env->physics(), "distal");
  const int hinge = qpos_of(env->physics(), "hinge");
  const double lim = 110.0 * kPi / 180.0;
  Spread sp, sd, sh;
  for (int s = 0; s < kDraws; ++s) {
    env->reset(s);
    const mjData* d = env->physics().data();
    EXPECT_EQ(d->ncon, 0) << "seed " << s << " starts in contact";
    sp.add(d->qpos[prox]);
    sd.add(d->qpos[dist]);
    sh.add(d->qpos[hinge]);
  }
  expect_spread(sp, -lim, lim, 0.2, "proximal");
  expect_spread(sd, -lim, lim, 0.2, "distal");
  expect_spread(sh, -kPi, kPi, 0.2, "hinge");
}

TEST(Finger, SpinInitialStateIsContactFreeWithLowSpinnerDamping) {
  check_finger_init("finger-spin");
  auto env = make_dmc_env("finger-spin");
  env->reset(0);
  const mjModel* m = env->physics().model();
  EXPECT_EQ(m->dof_damping[m->jnt_dofadr[env->physics().joint_id("hinge")]], 0.03);
}

TEST(Finger, TurnTargetLiesOnTheSpinnerTipCircle) {
  check_finger_init("finger-turn_easy");
  for (auto [task, radius] : {std::pair{"finger-turn_easy", 0.07}, std::pair{"finger-turn_hard", 0.03}}) {
    auto env = make_dmc_env(task);
    const mjModel* m = env->physics().model();
    const int target = env->physics().site_id("target");
    Spread angle;
    for (int s = 0; s < 50; ++s) {
      const std::vector<float> obs = env->reset(s);
      EXPECT_EQ(m->site_size[3 * target], radius);
      // obs[9..10] = target - spinner (x, z): .13 from the spinner's axis
      EXPECT_NEAR(std::hypot(obs[9], obs[10]), 0.13, 1e-6);
      angle.add(std::atan2(obs[9], obs[10]));
    }
    expect_spread(angle, -kPi, kPi, 0.5, "target angle");
  }
}

TEST(Finger, SpinRewardNeedsFastClockwiseSpin) {
  auto env = make_dmc_env("finger-spin");
  env->reset(0);
  const int hinge_dof = env->physics().model()->jnt_dofadr[env->physics().joint_id("hinge")];
  env->physics().data()->qvel[hinge_dof] = -30.0;  // damping .03 and friction .1 slow it little in 20 ms
  env->physics().forward_without_actuation();
  EXPECT_EQ(env->step(std::vector<float>{0.f, 0.f}).reward, 1.0);
  env->physics().data()->qvel[hinge_dof] = 30.0;  // wrong direction
  env->physics().forward_without_actuation();
  EXPECT_EQ(env->step(std::vector<float>{0.f, 0.f}).reward, 0.0);
}

TEST(BallInCup, BallStartsFreeInItsBox) {
  auto env = make_dmc_env("ball_in_cup-catch");
  const int bx = qpos_of(env->physics(), "ball_x"), bz = qpos_of(env->physics(), "ball_z");
  Spread sx, sz;
  for (int s = 0; s < kDraws; ++s) {
    env->reset(s);
    EXPECT_EQ(env->physics().data()->ncon, 0);
    sx.add(env->physics().data()->qpos[bx]);
    sz.add(env->physics().data()->qpos[bz]);
  }
  expect_spread(sx, -0.2, 0.2, 0.02, "ball x");
  expect_spread(sz, 0.2, 0.5, 0.02, "ball z");
}

TEST(BallInCup, RewardIsOneWithTheBallInTheCup) {
  auto env = make_dmc_env("ball_in_cup-catch");
  env->reset(0);
  mjData* d = env->physics().data();
  // cup at rest at z .6, target box centred .05 below it; the ball's body sits at z .2 + qpos
  for (int i = 0; i < 4; ++i) d->qpos[i] = d->qvel[i] = 0.0;
  d->qpos[qpos_of(env->physics(), "ball_z")] = 0.6 - 0.05 - 0.2;
  env->physics().forward_without_actuation();
  EXPECT_EQ(env->task().reward(env->physics()), 1.0);
  d->qpos[qpos_of(env->physics(), "ball_x")] = 0.03;  // |dx| >= .025
  env->physics().forward_without_actuation();
  EXPECT_EQ(env->task().reward(env->physics()), 0.0);
}

// ---- fidelity against dm_control's models ------------------------------------------------------
// 300 control steps each: long enough for chaotic systems (acrobot, cartpole swing-up) to expose
// any parameter difference, short enough to keep the whole file at a few seconds.
// Besides the trajectory, these models' contact and sensor parameters are compared one by one:
// the finger and ball-in-cup dynamics hinge on them, and a random-action rollout may touch only
// some of the geoms.
void expect_same_contacts_and_sensors(const mjModel* a, const mjModel* b) {
  using lucid::testing::all_close;
  ASSERT_EQ(a->ngeom, b->ngeom);
  ASSERT_EQ(a->nsite, b->nsite);
  ASSERT_EQ(a->nsensor, b->nsensor);
  ASSERT_EQ(a->nsensordata, b->nsensordata);
  ASSERT_EQ(a->ntendon, b->ntendon);
  const double tol = 1e-12;
  EXPECT_TRUE(all_close(a->geom_type, b->geom_type, a->ngeom, 0, 0)) << "geom_type";
  EXPECT_TRUE(all_close(a->geom_contype, b->geom_contype, a->ngeom, 0, 0)) << "geom_contype";
  EXPECT_TRUE(all_close(a->geom_conaffinity, b->geom_conaffinity, a->ngeom, 0, 0)) << "geom_conaffinity";
  EXPECT_TRUE(all_close(a->geom_size, b->geom_size, 3 * a->ngeom, tol, tol)) << "geom_size";
  EXPECT_TRUE(all_close(a->geom_friction, b->geom_friction, 3 * a->ngeom, tol, tol)) << "geom_friction";
  EXPECT_TRUE(all_close(a->geom_solref, b->geom_solref, mjNREF * a->ngeom, tol, tol)) << "geom_solref";
  EXPECT_TRUE(all_close(a->geom_solimp, b->geom_solimp, mjNIMP * a->ngeom, tol, tol)) << "geom_solimp";
  EXPECT_TRUE(all_close(a->site_size, b->site_size, 3 * a->nsite, tol, tol)) << "site_size";
  EXPECT_TRUE(all_close(a->site_pos, b->site_pos, 3 * a->nsite, tol, tol)) << "site_pos";
  EXPECT_TRUE(all_close(a->sensor_type, b->sensor_type, a->nsensor, 0, 0)) << "sensor_type";
  EXPECT_TRUE(all_close(a->jnt_range, b->jnt_range, 2 * a->njnt, tol, tol)) << "jnt_range";
  EXPECT_TRUE(all_close(a->jnt_solref, b->jnt_solref, mjNREF * a->njnt, tol, tol)) << "jnt_solref";
  EXPECT_TRUE(all_close(a->dof_frictionloss, b->dof_frictionloss, a->nv, tol, tol)) << "dof_frictionloss";
  EXPECT_TRUE(all_close(a->tendon_range, b->tendon_range, 2 * a->ntendon, tol, tol)) << "tendon_range";
  EXPECT_EQ(a->opt.cone, b->opt.cone);
  EXPECT_EQ(a->opt.iterations, b->opt.iterations);
  EXPECT_TRUE(all_close(a->opt.gravity, b->opt.gravity, 3, 0, 0)) << "gravity";
}

class ClassicFidelity : public ::testing::TestWithParam<const char*> {};

TEST_P(ClassicFidelity, MatchesDmControl) {
  check_fidelity(GetParam(), 300);
  if (lucid::testing::dmc_xml_dir().empty()) return;
  auto ours = make_dmc_env(GetParam());
  auto theirs = make_dmc_env(GetParam(), lucid::testing::dmc_xml_dir());
  expect_same_contacts_and_sensors(ours->physics().model(), theirs->physics().model());
}

INSTANTIATE_TEST_SUITE_P(Dmc, ClassicFidelity,
                         ::testing::Values("cartpole-balance", "cartpole-balance_sparse", "cartpole-swingup",
                                           "cartpole-swingup_sparse", "pendulum-swingup", "acrobot-swingup",
                                           "reacher-easy", "reacher-hard", "finger-spin", "finger-turn_easy",
                                           "finger-turn_hard", "ball_in_cup-catch"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace lucid::envs

namespace lucid::envs {
namespace {

// The fidelity comparison is only worth something if it fails on a small modelling error: each case
// perturbs one number of the official model that the trajectory depends on, by a few percent.
// Runs the fidelity rollout after `mutate` edited the official model.
template <typename Mutate>
::testing::AssertionResult fidelity_after(const char* task, Mutate&& mutate) {
  auto ours = make_dmc_env(task);
  auto theirs = make_dmc_env(task, lucid::testing::dmc_xml_dir());
  mutate(theirs->physics().model());
  return testing::run_fidelity(ours.get(), theirs.get(), 300);
}

TEST(ClassicFidelityCheck, DetectsSmallModelErrors) {
  if (lucid::testing::dmc_xml_dir().empty()) GTEST_SKIP() << "../shared/dmc_xml absent";
  // acrobot: 2% more damping on the elbow
  EXPECT_FALSE(fidelity_after("acrobot-swingup", [](mjModel* m) { m->dof_damping[1] *= 1.02; }));
  // cartpole: a 1% heavier cart
  EXPECT_FALSE(fidelity_after("cartpole-swingup", [](mjModel* m) { m->body_mass[1] *= 1.01; }));
  // finger: softer contacts (solref time constant .02 -> .025)
  EXPECT_FALSE(fidelity_after("finger-spin", [](mjModel* m) {
    for (int g = 0; g < m->ngeom; ++g) m->geom_solref[mjNREF * g] = 0.025;
  }));
  // ball_in_cup: a 1 cm shorter string
  EXPECT_FALSE(fidelity_after("ball_in_cup-catch", [](mjModel* m) { m->tendon_range[1] = 0.29; }));
  // reacher: 3% weaker wrist motor
  EXPECT_FALSE(fidelity_after("reacher-easy", [](mjModel* m) { m->actuator_gear[6] *= 0.97; }));
}

}  // namespace
}  // namespace lucid::envs

namespace lucid::envs {
namespace {

// With EnvOptions::seed = 0, reset(s) draws what dm_control's first episode draws under
// task_kwargs={'random': s}: the expected states below follow dm_control's initialize_episode
// applied to numpy's RandomState(s) numbers (seed 0: randn 1.7640523, 0.4001572, 0.9787380,
// 2.2408932; seed 42: rand 0.3745401, 0.9507143).
TEST(DmControlDraws, CartpoleSwingupFirstEpisode) {
  auto env = make_dmc_env("cartpole-swingup");
  env->reset(0);
  const mjData* d = env->physics().data();
  EXPECT_NEAR(d->qpos[0], 0.01 * 1.764052345967664, 1e-12);
  EXPECT_NEAR(d->qpos[1], kPi + 0.01 * 0.4001572083672233, 1e-12);
  EXPECT_NEAR(d->qvel[0], 0.01 * 0.9787379841057392, 1e-12);
  EXPECT_NEAR(d->qvel[1], 0.01 * 2.240893199201458, 1e-12);
}

TEST(DmControlDraws, AcrobotFirstEpisode) {
  auto env = make_dmc_env("acrobot-swingup");
  env->reset(42);
  const mjData* d = env->physics().data();
  EXPECT_NEAR(d->qpos[0], -kPi + 2 * kPi * 0.3745401188473625, 1e-12);
  EXPECT_NEAR(d->qpos[1], -kPi + 2 * kPi * 0.9507143064099162, 1e-12);
}

}  // namespace
}  // namespace lucid::envs
