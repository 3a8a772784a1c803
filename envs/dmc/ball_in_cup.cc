// Ball in cup, catch (dm_control suite/ball_in_cup.py, facts §4.6).
//   reward  [|dx| < .025 and |dz| < .025], d = target site - ball body (x, z): the ball lies wholly
//           inside the target box (half-size .05 minus the ball's radius .025)
//   init    ball_x = U(+-.2), ball_z = U(.2, .5), redrawn until nothing touches (ncon == 0)
#include "dmc/ball_in_cup.h"

#include <cmath>

namespace lucid::envs::dmc {

namespace {

class BallInCupCatch final : public DmcTask {
 public:
  std::string domain() const override { return "ball_in_cup"; }
  double control_timestep() const override { return 0.02; }

  void bind(const Physics& physics) override {
    ball_x_qpos_ = physics.model()->jnt_qposadr[physics.joint_id("ball_x")];
    ball_z_qpos_ = physics.model()->jnt_qposadr[physics.joint_id("ball_z")];
    ball_body_ = physics.body_id("ball");
    ball_geom_ = physics.geom_id("ball");
    target_ = physics.site_id("target");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    draw_until_contact_free(physics, [&] {
      physics.data()->qpos[ball_x_qpos_] = random.uniform(-0.2, 0.2);
      physics.data()->qpos[ball_z_qpos_] = random.uniform(0.2, 0.5);
    });
  }

  int observation_dim() const override { return 8; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjData* d = physics.data();
    ObsWriter w(out);
    for (int i = 0; i < 4; ++i) w.put(d->qpos[i]);
    for (int i = 0; i < 4; ++i) w.put(d->qvel[i]);
    w.finish();
  }

  double reward(const Physics& physics) const override {
    const mjModel* m = physics.model();
    const mjData* d = physics.data();
    const double ball_radius = m->geom_size[3 * ball_geom_];
    const double dx = std::abs(d->site_xpos[3 * target_ + 0] - d->xpos[3 * ball_body_ + 0]);
    const double dz = std::abs(d->site_xpos[3 * target_ + 2] - d->xpos[3 * ball_body_ + 2]);
    const bool inside =
        dx < m->site_size[3 * target_ + 0] - ball_radius && dz < m->site_size[3 * target_ + 2] - ball_radius;
    return inside ? 1.0 : 0.0;
  }

 private:
  int ball_x_qpos_ = 0, ball_z_qpos_ = 0, ball_body_ = 0, ball_geom_ = 0, target_ = 0;
};

}  // namespace

std::unique_ptr<DmcTask> make_ball_in_cup_catch() { return std::make_unique<BallInCupCatch>(); }

}  // namespace lucid::envs::dmc
