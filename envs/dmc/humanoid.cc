// Humanoid (dm_control suite/humanoid.py, facts §4.11).
//   standing       tol(head_z, (1.4, inf), margin .35) (gaussian, .1 at the margin)
//   upright        tol(zz_torso, (.9, inf), margin 1.9, linear, 0)
//   small_control  (4 + mean_i tol(u_i, margin 1, quadratic, 0)) / 5  (u: the unclamped ctrl)
//   stand          small_control * standing * upright * mean_{x,y} tol(com_v, margin 2)
//   walk / run     small_control * standing * upright * (5 move + 1) / 6, with
//                  move = tol(|com_v_xy|, (s, inf), margin s, linear, 0) = clip(|com_v_xy| / s, 0, 1)
//   init           repeat { joint randomizer: root quaternion rand(4) normalised, root position stays
//                  (0, 0, 1.5), the 21 hinges U(range); forward } until nothing is in contact
#include "dmc/humanoid.h"

#include <cmath>

#include "dmc/rewards.h"
#include "lucid/error.h"

namespace lucid::envs::dmc {

namespace {

constexpr double kStandHeight = 1.4;  // m, head height that counts as standing
// dm_control's extremities order.
constexpr const char* kLimbs[] = {"left_hand", "left_foot", "right_hand", "right_foot"};

class Humanoid final : public DmcTask {
 public:
  explicit Humanoid(double move_speed) : move_speed_(move_speed) {}

  std::string domain() const override { return "humanoid"; }
  double control_timestep() const override { return 0.025; }

  void bind(const Physics& physics) override {
    const mjModel* m = physics.model();
    LUCID_CHECK_AS(m->nq == 28 && m->nv == 27 && m->nu == 21, EnvError)
        << "humanoid: expected nq 28, nv 27, nu 21, got " << m->nq << ", " << m->nv << ", " << m->nu;
    LUCID_CHECK_AS(m->jnt_type[0] == mjJNT_FREE, EnvError)
        << "humanoid: the first joint must be the free root";
    torso_ = physics.body_id("torso");
    head_ = physics.body_id("head");
    for (int i = 0; i < 4; ++i) limbs_[i] = physics.body_id(kLimbs[i]);
    com_velocity_ = physics.sensor_adr("torso_subtreelinvel");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    // A random pose often puts a limb through the floor or another limb; redraw until none does.
    draw_until_contact_free(physics, [&] { randomize_limited_and_rotational_joints(physics, random); });
  }

  int observation_dim() const override { return 67; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjModel* m = physics.model();
    const mjData* d = physics.data();
    ObsWriter w(out);
    w.put(std::span<const double>(d->qpos + 7, static_cast<std::size_t>(m->nq - 7)));  // joint_angles
    w.put(d->xpos[3 * head_ + 2]);                                                     // head_height
    const double* p = d->xpos + 3 * torso_;
    const double* r = d->xmat + 9 * torso_;
    for (int limb : limbs_) {  // extremities: (x_limb - x_torso) R_torso
      double v[3];
      for (int k = 0; k < 3; ++k) v[k] = d->xpos[3 * limb + k] - p[k];
      for (int c = 0; c < 3; ++c) w.put(v[0] * r[c] + v[1] * r[3 + c] + v[2] * r[6 + c]);
    }
    w.put(r[6]).put(r[7]).put(r[8]);                                           // torso_vertical
    w.put(std::span<const double>(d->sensordata + com_velocity_, 3));          // com_velocity
    w.put(std::span<const double>(d->qvel, static_cast<std::size_t>(m->nv)));  // velocity
    w.finish();
  }

  double reward(const Physics& physics) const override {
    const mjModel* m = physics.model();
    const mjData* d = physics.data();
    const double standing = tolerance(d->xpos[3 * head_ + 2], {kStandHeight, kInf}, kStandHeight / 4);
    const double upright = tolerance(physics.xmat(torso_, 2, 2), {0.9, kInf}, 1.9, Sigmoid::kLinear, 0.0);
    double small_control = 0.0;
    for (int i = 0; i < m->nu; ++i) small_control += tolerance(d->ctrl[i], {}, 1.0, Sigmoid::kQuadratic, 0.0);
    small_control = (4.0 + small_control / m->nu) / 5.0;
    const double* com_v = d->sensordata + com_velocity_;
    if (move_speed_ == 0.0) {
      const double dont_move = (tolerance(com_v[0], {}, 2.0) + tolerance(com_v[1], {}, 2.0)) / 2.0;
      return small_control * standing * upright * dont_move;
    }
    const double speed = std::hypot(com_v[0], com_v[1]);
    const double move = tolerance(speed, {move_speed_, kInf}, move_speed_, Sigmoid::kLinear, 0.0);
    return small_control * standing * upright * (5.0 * move + 1.0) / 6.0;
  }

 private:
  double move_speed_;
  int torso_ = 0, head_ = 0, com_velocity_ = 0;
  int limbs_[4] = {};
};

}  // namespace

std::unique_ptr<DmcTask> make_humanoid(double move_speed) {
  LUCID_CHECK_AS(move_speed >= 0.0, EnvError) << "humanoid: move_speed must be >= 0, got " << move_speed;
  return std::make_unique<Humanoid>(move_speed);
}

}  // namespace lucid::envs::dmc
