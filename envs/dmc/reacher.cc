// Reacher (dm_control suite/reacher.py, facts §4.4).
//   reward  [|finger - target|_xy <= target radius + finger radius]  (.06 easy, .025 hard)
//   init    target geom radius set; joint randomizer (shoulder U(+-pi), wrist U(+-160 deg));
//           target at angle a = U(0, 2 pi), radius r = U(.05, .20): xy = (r sin a, r cos a)
// The target's size and position are model edits: they persist until the next reset, as in
// dm_control.
#include "dmc/reacher.h"

#include <cmath>
#include <numbers>

#include "dmc/rewards.h"

namespace lucid::envs::dmc {

namespace {

class Reacher final : public DmcTask {
 public:
  explicit Reacher(double target_size) : target_size_(target_size) {}

  std::string domain() const override { return "reacher"; }

  void bind(const Physics& physics) override {
    finger_ = physics.geom_id("finger");
    target_ = physics.geom_id("target");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    mjModel* m = physics.model();
    m->geom_size[3 * target_] = target_size_;
    randomize_limited_and_rotational_joints(physics, random);
    const double angle = random.uniform(0.0, 2.0 * std::numbers::pi);
    const double radius = random.uniform(0.05, 0.20);
    m->geom_pos[3 * target_ + 0] = radius * std::sin(angle);
    m->geom_pos[3 * target_ + 1] = radius * std::cos(angle);
  }

  int observation_dim() const override { return 6; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjData* d = physics.data();
    double to_target[2];
    finger_to_target(physics, to_target);
    ObsWriter w(out);
    w.put(d->qpos[0]).put(d->qpos[1]);
    w.put(to_target[0]).put(to_target[1]);
    w.put(d->qvel[0]).put(d->qvel[1]);
    w.finish();
  }

  double reward(const Physics& physics) const override {
    double v[2];
    finger_to_target(physics, v);
    const double radii = physics.model()->geom_size[3 * target_] + physics.model()->geom_size[3 * finger_];
    return tolerance(std::hypot(v[0], v[1]), {0.0, radii});
  }

 private:
  void finger_to_target(const Physics& physics, double out[2]) const {
    const mjtNum* target = physics.data()->geom_xpos + 3 * target_;
    const mjtNum* finger = physics.data()->geom_xpos + 3 * finger_;
    out[0] = target[0] - finger[0];
    out[1] = target[1] - finger[1];
  }

  double target_size_;
  int finger_ = 0, target_ = 0;
};

}  // namespace

std::unique_ptr<DmcTask> make_reacher(double target_size) { return std::make_unique<Reacher>(target_size); }

}  // namespace lucid::envs::dmc
