// Walker (dm_control suite/walker.py, facts §4.8).
//   standing  tol(torso_z, (1.2, inf), margin .6) (gaussian, .1 at the margin)
//   upright   (1 + zz_torso) / 2
//   stand     (3 standing + upright) / 4
//   reward    stand when move_speed == 0, else stand * (5 move + 1) / 6 with
//             move = tol(v_x, (s, inf), margin s/2, linear, .5) = clip(v_x / s, 0, 1),
//             v_x the x of subtreelinvel(torso)
//   init      the joint randomizer: hips, knees, ankles U(range), rooty U(-pi, pi), rootz and rootx
//             stay 0 (torso at 1.3 m). No contact check: it may start at any pitch and fall.
#include "dmc/walker.h"

#include "dmc/rewards.h"
#include "lucid/error.h"

namespace lucid::envs::dmc {

namespace {

constexpr double kStandHeight = 1.2;  // m, torso height that counts as standing

class Walker final : public DmcTask {
 public:
  explicit Walker(double move_speed) : move_speed_(move_speed) {}

  std::string domain() const override { return "walker"; }
  double control_timestep() const override { return 0.025; }

  void bind(const Physics& physics) override {
    const mjModel* m = physics.model();
    // orientations covers every body but the world, in model order: torso, then the legs.
    LUCID_CHECK_AS(m->nbody == 8 && m->nv == 9, EnvError)
        << "walker: expected 8 bodies (world + 7) and 9 dofs, got " << m->nbody << " and " << m->nv;
    torso_ = physics.body_id("torso");
    speed_ = physics.sensor_adr("torso_subtreelinvel");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    randomize_limited_and_rotational_joints(physics, random);
  }

  int observation_dim() const override { return 24; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjModel* m = physics.model();
    const mjData* d = physics.data();
    ObsWriter w(out);
    for (int b = 1; b < m->nbody; ++b)
      w.put(physics.xmat(b, 0, 0)).put(physics.xmat(b, 0, 2));                 // orientations
    w.put(d->xpos[3 * torso_ + 2]);                                            // height
    w.put(std::span<const double>(d->qvel, static_cast<std::size_t>(m->nv)));  // velocity
    w.finish();
  }

  double reward(const Physics& physics) const override {
    const mjData* d = physics.data();
    const double standing = tolerance(d->xpos[3 * torso_ + 2], {kStandHeight, kInf}, kStandHeight / 2);
    const double upright = (1.0 + physics.xmat(torso_, 2, 2)) / 2.0;
    const double stand = (3.0 * standing + upright) / 4.0;
    if (move_speed_ == 0.0) return stand;
    const double move =
        tolerance(d->sensordata[speed_], {move_speed_, kInf}, move_speed_ / 2, Sigmoid::kLinear, 0.5);
    return stand * (5.0 * move + 1.0) / 6.0;
  }

 private:
  double move_speed_;
  int torso_ = 0, speed_ = 0;
};

}  // namespace

std::unique_ptr<DmcTask> make_walker(double move_speed) {
  LUCID_CHECK_AS(move_speed >= 0.0, EnvError) << "walker: move_speed must be >= 0, got " << move_speed;
  return std::make_unique<Walker>(move_speed);
}

}  // namespace lucid::envs::dmc
