// Pendulum swing-up (dm_control suite/pendulum.py, facts §4.2).
//   reward  [pole zz >= cos 8 degrees]: 1 only within 8 degrees of upright
//   init    the joint randomizer: the unlimited hinge is U(-pi, pi)
#include "dmc/pendulum.h"

#include <cmath>
#include <numbers>

#include "dmc/rewards.h"

namespace lucid::envs::dmc {

namespace {

class PendulumSwingup final : public DmcTask {
 public:
  std::string domain() const override { return "pendulum"; }

  void bind(const Physics& physics) override {
    pole_ = physics.body_id("pole");
    hinge_dof_ = physics.model()->jnt_dofadr[physics.joint_id("hinge")];
  }

  void initialize_episode(Physics& physics, Random& random) override {
    randomize_limited_and_rotational_joints(physics, random);
  }

  int observation_dim() const override { return 3; }

  void observation(const Physics& physics, std::span<float> out) const override {
    ObsWriter w(out);
    w.put(physics.xmat(pole_, 2, 2)).put(physics.xmat(pole_, 0, 2));
    w.put(physics.data()->qvel[hinge_dof_]);
    w.finish();
  }

  double reward(const Physics& physics) const override {
    static const double kCosBound = std::cos(8.0 * std::numbers::pi / 180.0);
    return tolerance(physics.xmat(pole_, 2, 2), {kCosBound, 1.0});
  }

 private:
  int pole_ = 0, hinge_dof_ = 0;
};

}  // namespace

std::unique_ptr<DmcTask> make_pendulum_swingup() { return std::make_unique<PendulumSwingup>(); }

}  // namespace lucid::envs::dmc
