// Cartpole (dm_control suite/cartpole.py, facts §4.1).
//   dense reward  upright * small_control * small_velocity * centered, each factor in [0, 1]:
//                 upright = (pole zz + 1)/2; centered = (1 + tol(x, margin 2))/2;
//                 small_control = (4 + tol(u, margin 1, quadratic, 0))/5 (u: the unclamped ctrl);
//                 small_velocity = (1 + tol(theta_dot, margin 5))/2
//   sparse reward [|x| <= .25] * [pole zz >= .995]
//   init          swingup: x = .01 N, theta = pi + .01 N; balance: x = U(+-.1), theta = U(+-.034);
//                 qvel = .01 N(2) for both
#include "dmc/cartpole.h"

#include <numbers>

#include "dmc/rewards.h"

namespace lucid::envs::dmc {

namespace {

class Cartpole final : public DmcTask {
 public:
  explicit Cartpole(CartpoleVariant v)
      : swing_up_(v == CartpoleVariant::kSwingup || v == CartpoleVariant::kSwingupSparse),
        sparse_(v == CartpoleVariant::kBalanceSparse || v == CartpoleVariant::kSwingupSparse) {}

  std::string domain() const override { return "cartpole"; }

  void bind(const Physics& physics) override {
    slider_qpos_ = physics.model()->jnt_qposadr[physics.joint_id("slider")];
    hinge_qpos_ = physics.model()->jnt_qposadr[physics.joint_id("hinge_1")];
    pole_ = physics.body_id("pole_1");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    mjData* d = physics.data();
    if (swing_up_) {
      d->qpos[slider_qpos_] = 0.01 * random.normal();
      d->qpos[hinge_qpos_] = std::numbers::pi + 0.01 * random.normal();
    } else {
      d->qpos[slider_qpos_] = random.uniform(-0.1, 0.1);
      d->qpos[hinge_qpos_] = random.uniform(-0.034, 0.034);
    }
    for (int i = 0; i < physics.model()->nv; ++i) d->qvel[i] = 0.01 * random.normal();
  }

  int observation_dim() const override { return 5; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjData* d = physics.data();
    ObsWriter w(out);
    w.put(d->qpos[slider_qpos_]).put(physics.xmat(pole_, 2, 2)).put(physics.xmat(pole_, 0, 2));
    w.put(d->qvel[0]).put(d->qvel[1]);
    w.finish();
  }

  double reward(const Physics& physics) const override {
    const mjData* d = physics.data();
    const double x = d->qpos[slider_qpos_];
    const double zz = physics.xmat(pole_, 2, 2);
    if (sparse_) return tolerance(x, {-0.25, 0.25}) * tolerance(zz, {0.995, 1.0});
    const double upright = (zz + 1.0) / 2.0;
    const double centered = (1.0 + tolerance(x, {}, 2.0)) / 2.0;
    const double small_control = (4.0 + tolerance(d->ctrl[0], {}, 1.0, Sigmoid::kQuadratic, 0.0)) / 5.0;
    const double small_velocity = (1.0 + tolerance(d->qvel[1], {}, 5.0)) / 2.0;
    return upright * small_control * small_velocity * centered;
  }

 private:
  bool swing_up_, sparse_;
  int slider_qpos_ = 0, hinge_qpos_ = 0, pole_ = 0;
};

}  // namespace

std::unique_ptr<DmcTask> make_cartpole(CartpoleVariant variant) {
  return std::make_unique<Cartpole>(variant);
}

}  // namespace lucid::envs::dmc
