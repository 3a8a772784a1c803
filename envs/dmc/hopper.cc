// Hopper (dm_control suite/hopper.py, facts §4.9).
//   standing  [.6 <= z_torso - z_foot <= 2], heights of the bodies' centres of mass (xipos)
//   stand     standing * (mean_i tol(u_i, margin 1, quadratic, 0) + 4) / 5  (u: the unclamped ctrl)
//   hop       standing * tol(v_x, (2, inf), margin 1, linear, .5) = standing * clip(v_x / 2, 0, 1),
//             v_x the x of subtreelinvel(torso)
//   init      the joint randomizer: rooty U(-pi, pi), the four leg hinges U(range), rootx and rootz
//             stay 0 (torso at 1 m). No contact check.
#include "dmc/hopper.h"

#include <cmath>

#include "dmc/rewards.h"
#include "lucid/error.h"

namespace lucid::envs::dmc {

namespace {

constexpr double kStandHeight = 0.6;  // m, torso above foot that counts as standing
constexpr double kHopSpeed = 2.0;     // m/s at which the hop reward saturates

class Hopper final : public DmcTask {
 public:
  explicit Hopper(HopperVariant v) : hopping_(v == HopperVariant::kHop) {}

  std::string domain() const override { return "hopper"; }
  double control_timestep() const override { return 0.02; }

  void bind(const Physics& physics) override {
    const mjModel* m = physics.model();
    LUCID_CHECK_AS(m->nq == 7 && m->nv == 7, EnvError)
        << "hopper: expected nq = nv = 7, got " << m->nq << ", " << m->nv;
    LUCID_CHECK_AS(m->jnt_qposadr[physics.joint_id("rootx")] == 0, EnvError)
        << "hopper: rootx must be the first joint";
    torso_ = physics.body_id("torso");
    foot_ = physics.body_id("foot");
    speed_ = physics.sensor_adr("torso_subtreelinvel");
    toe_ = physics.sensor_adr("touch_toe");
    heel_ = physics.sensor_adr("touch_heel");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    randomize_limited_and_rotational_joints(physics, random);
  }

  int observation_dim() const override { return 15; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjModel* m = physics.model();
    const mjData* d = physics.data();
    ObsWriter w(out);
    w.put(std::span<const double>(d->qpos + 1, static_cast<std::size_t>(m->nq - 1)));  // position
    w.put(std::span<const double>(d->qvel, static_cast<std::size_t>(m->nv)));          // velocity
    // Touch forces span orders of magnitude (a landing spikes them); log1p keeps them in range.
    w.put(std::log1p(d->sensordata[toe_])).put(std::log1p(d->sensordata[heel_]));  // touch
    w.finish();
  }

  double reward(const Physics& physics) const override {
    const mjModel* m = physics.model();
    const mjData* d = physics.data();
    const double height = d->xipos[3 * torso_ + 2] - d->xipos[3 * foot_ + 2];
    const double standing = tolerance(height, {kStandHeight, 2.0});
    if (hopping_) {
      const double v_x = d->sensordata[speed_];
      return standing * tolerance(v_x, {kHopSpeed, kInf}, kHopSpeed / 2, Sigmoid::kLinear, 0.5);
    }
    double small_control = 0.0;
    for (int i = 0; i < m->nu; ++i) small_control += tolerance(d->ctrl[i], {}, 1.0, Sigmoid::kQuadratic, 0.0);
    small_control = (small_control / m->nu + 4.0) / 5.0;
    return standing * small_control;
  }

 private:
  bool hopping_;
  int torso_ = 0, foot_ = 0, speed_ = 0, toe_ = 0, heel_ = 0;
};

}  // namespace

std::unique_ptr<DmcTask> make_hopper(HopperVariant variant) { return std::make_unique<Hopper>(variant); }

}  // namespace lucid::envs::dmc
