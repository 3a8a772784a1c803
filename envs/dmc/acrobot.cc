// Acrobot swing-up (dm_control suite/acrobot.py, facts §4.3).
//   reward  tol(|tip - target|, (0, target radius .2), margin 1, gaussian): 1 within the target
//           sphere, 0.1 one metre outside it
//   init    shoulder, elbow = U(-pi, pi) each (drawn directly, not by the randomizer)
#include "dmc/acrobot.h"

#include <cmath>
#include <numbers>

#include "dmc/rewards.h"

namespace lucid::envs::dmc {

namespace {

class AcrobotSwingup final : public DmcTask {
 public:
  std::string domain() const override { return "acrobot"; }

  void bind(const Physics& physics) override {
    upper_ = physics.body_id("upper_arm");
    lower_ = physics.body_id("lower_arm");
    shoulder_qpos_ = physics.model()->jnt_qposadr[physics.joint_id("shoulder")];
    elbow_qpos_ = physics.model()->jnt_qposadr[physics.joint_id("elbow")];
    tip_ = physics.site_id("tip");
    target_ = physics.site_id("target");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    physics.data()->qpos[shoulder_qpos_] = random.uniform(-std::numbers::pi, std::numbers::pi);
    physics.data()->qpos[elbow_qpos_] = random.uniform(-std::numbers::pi, std::numbers::pi);
  }

  int observation_dim() const override { return 6; }

  void observation(const Physics& physics, std::span<float> out) const override {
    ObsWriter w(out);
    w.put(physics.xmat(upper_, 0, 2)).put(physics.xmat(lower_, 0, 2));
    w.put(physics.xmat(upper_, 2, 2)).put(physics.xmat(lower_, 2, 2));
    w.put(physics.data()->qvel[0]).put(physics.data()->qvel[1]);
    w.finish();
  }

  double reward(const Physics& physics) const override {
    const mjtNum* tip = physics.data()->site_xpos + 3 * tip_;
    const mjtNum* target = physics.data()->site_xpos + 3 * target_;
    const double dist =
        std::sqrt((target[0] - tip[0]) * (target[0] - tip[0]) + (target[1] - tip[1]) * (target[1] - tip[1]) +
                  (target[2] - tip[2]) * (target[2] - tip[2]));
    const double radius = physics.model()->site_size[3 * target_];
    return tolerance(dist, {0.0, radius}, 1.0);
  }

 private:
  int upper_ = 0, lower_ = 0, shoulder_qpos_ = 0, elbow_qpos_ = 0, tip_ = 0, target_ = 0;
};

}  // namespace

std::unique_ptr<DmcTask> make_acrobot_swingup() { return std::make_unique<AcrobotSwingup>(); }

}  // namespace lucid::envs::dmc
