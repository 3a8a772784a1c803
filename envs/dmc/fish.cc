// Fish (dm_control suite/fish.py, facts §4.10).
//   in_target  tol(|target - mouth|, (0, r), margin 2r) (gaussian, .1 at the margin), where
//              r = radius(mouth) + radius(target) = .045 on both models
//   reward     (7 in_target + (zz_torso + 1) / 2) / 8
//   init       root quaternion randn(4) normalised (uniform over rotations), root position stays at
//              qpos0 (0, 0, .1); the 7 fin and tail hinges U(-.2, .2); the target sphere moves to
//              (U(-.4, .4), U(-.4, .4), U(.1, .3)) — a model edit that persists, as in dm_control
#include "dmc/fish.h"

#include <cmath>

#include "dmc/rewards.h"
#include "lucid/error.h"

namespace lucid::envs::dmc {

namespace {

// The observation's joint order (dm_control's _JOINTS), not the model order.
constexpr const char* kJoints[] = {"tail1",          "tail_twist",   "tail2",        "finright_roll",
                                   "finright_pitch", "finleft_roll", "finleft_pitch"};
constexpr int kNumJoints = 7;
constexpr double kJointRange = 0.2;  // rad, initial fin and tail angles

class FishSwim final : public DmcTask {
 public:
  std::string domain() const override { return "fish"; }
  double control_timestep() const override { return 0.04; }

  void bind(const Physics& physics) override {
    const mjModel* m = physics.model();
    const int root = physics.joint_id("root");
    LUCID_CHECK_AS(m->jnt_type[root] == mjJNT_FREE, EnvError) << "fish: joint 'root' must be a free joint";
    LUCID_CHECK_AS(m->nv == 13, EnvError) << "fish: expected 13 dofs, got " << m->nv;
    root_qpos_ = m->jnt_qposadr[root];
    for (int i = 0; i < kNumJoints; ++i) joint_qpos_[i] = m->jnt_qposadr[physics.joint_id(kJoints[i])];
    torso_ = physics.body_id("torso");
    mouth_ = physics.geom_id("mouth");
    target_ = physics.geom_id("target");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    mjData* d = physics.data();
    double q[4], norm = 0.0;
    for (double& x : q) x = random.normal(), norm += x * x;
    norm = std::sqrt(norm);
    for (int k = 0; k < 4; ++k) d->qpos[root_qpos_ + 3 + k] = q[k] / norm;
    for (int i = 0; i < kNumJoints; ++i) d->qpos[joint_qpos_[i]] = random.uniform(-kJointRange, kJointRange);
    double* target = physics.model()->geom_pos + 3 * target_;
    target[0] = random.uniform(-0.4, 0.4);
    target[1] = random.uniform(-0.4, 0.4);
    target[2] = random.uniform(0.1, 0.3);
  }

  int observation_dim() const override { return 24; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjData* d = physics.data();
    ObsWriter w(out);
    for (int i = 0; i < kNumJoints; ++i) w.put(d->qpos[joint_qpos_[i]]);  // joint_angles
    w.put(physics.xmat(torso_, 2, 2));                                    // upright
    double local[3];
    mouth_to_target(physics, local);
    w.put(std::span<const double>(local, 3));                                                // target
    w.put(std::span<const double>(d->qvel, static_cast<std::size_t>(physics.model()->nv)));  // velocity
    w.finish();
  }

  double reward(const Physics& physics) const override {
    const mjModel* m = physics.model();
    double v[3];
    mouth_to_target(physics, v);
    const double radii = m->geom_size[3 * mouth_] + m->geom_size[3 * target_];
    const double in_target =
        tolerance(std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]), {0.0, radii}, 2 * radii);
    const double upright = 0.5 * (physics.xmat(torso_, 2, 2) + 1.0);
    return (7.0 * in_target + upright) / 8.0;
  }

 private:
  // target - mouth in the mouth geom's frame: v R = R^T v, R the row-major geom_xmat.
  void mouth_to_target(const Physics& physics, double out[3]) const {
    const mjData* d = physics.data();
    double g[3];
    for (int k = 0; k < 3; ++k) g[k] = d->geom_xpos[3 * target_ + k] - d->geom_xpos[3 * mouth_ + k];
    const double* r = d->geom_xmat + 9 * mouth_;
    for (int c = 0; c < 3; ++c) out[c] = g[0] * r[c] + g[1] * r[3 + c] + g[2] * r[6 + c];
  }

  int root_qpos_ = 0, torso_ = 0, mouth_ = 0, target_ = 0;
  int joint_qpos_[kNumJoints] = {};
};

}  // namespace

std::unique_ptr<DmcTask> make_fish_swim() { return std::make_unique<FishSwim>(); }

}  // namespace lucid::envs::dmc
