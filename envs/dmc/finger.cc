// Finger (dm_control suite/finger.py, facts §4.5).
//   spin reward  [hinge velocity <= -15 rad/s]
//   turn reward  [|target - tip| - target radius <= 0]  (in the x-z plane, relative to the spinner)
//   init   spin: hide the tip/target sites (alpha 0), spinner damping .03;
//          turn: target angle a = U(+-pi), target site at hinge anchor + .13 (sin a, cos a) in x-z,
//          its radius .07 / .03; then, for both, redraw the joints (proximal, distal U(+-110 deg),
//          spinner U(+-pi)) until the finger does not touch the spinner (ncon == 0).
#include "dmc/finger.h"

#include <cmath>
#include <numbers>

#include "dmc/rewards.h"

namespace lucid::envs::dmc {

namespace {

constexpr double kSpinVelocity = 15.0;  // rad/s the spinner must exceed, clockwise

class Finger : public DmcTask {
 public:
  std::string domain() const override { return "finger"; }
  double control_timestep() const override { return 0.02; }

  void bind(const Physics& physics) override {
    proximal_ = physics.sensor_adr("proximal");
    distal_ = physics.sensor_adr("distal");
    proximal_vel_ = physics.sensor_adr("proximal_velocity");
    distal_vel_ = physics.sensor_adr("distal_velocity");
    hinge_vel_ = physics.sensor_adr("hinge_velocity");
    tip_ = physics.sensor_adr("tip");
    target_ = physics.sensor_adr("target");
    spinner_ = physics.sensor_adr("spinner");
    touchtop_ = physics.sensor_adr("touchtop");
    touchbottom_ = physics.sensor_adr("touchbottom");
    hinge_joint_ = physics.joint_id("hinge");
    target_site_ = physics.site_id("target");
    tip_site_ = physics.site_id("tip");
    cap1_ = physics.geom_id("cap1");
  }

  int observation_dim() const override { return 9; }

  void observation(const Physics& physics, std::span<float> out) const override {
    ObsWriter w(out);
    write_common(physics, w);
    w.finish();
  }

 protected:
  void write_common(const Physics& physics, ObsWriter& w) const {
    const mjtNum* s = physics.data()->sensordata;
    w.put(s[proximal_]).put(s[distal_]);
    w.put(s[tip_ + 0] - s[spinner_ + 0]).put(s[tip_ + 2] - s[spinner_ + 2]);
    w.put(s[proximal_vel_]).put(s[distal_vel_]).put(s[hinge_vel_]);
    w.put(std::log1p(s[touchtop_])).put(std::log1p(s[touchbottom_]));
  }

  // The joints are redrawn until the finger starts clear of the spinner.
  void set_random_joint_angles(Physics& physics, Random& random) const {
    draw_until_contact_free(physics, [&] { randomize_limited_and_rotational_joints(physics, random); });
  }

  int proximal_ = 0, distal_ = 0, proximal_vel_ = 0, distal_vel_ = 0, hinge_vel_ = 0, tip_ = 0, target_ = 0,
      spinner_ = 0, touchtop_ = 0, touchbottom_ = 0, hinge_joint_ = 0, target_site_ = 0, tip_site_ = 0,
      cap1_ = 0;
};

class FingerSpin final : public Finger {
 public:
  void initialize_episode(Physics& physics, Random& random) override {
    mjModel* m = physics.model();
    m->site_rgba[4 * target_site_ + 3] = 0.0f;
    m->site_rgba[4 * tip_site_ + 3] = 0.0f;
    m->dof_damping[m->jnt_dofadr[hinge_joint_]] = 0.03;
    set_random_joint_angles(physics, random);
  }

  double reward(const Physics& physics) const override {
    return physics.data()->sensordata[hinge_vel_] <= -kSpinVelocity ? 1.0 : 0.0;
  }
};

class FingerTurn final : public Finger {
 public:
  explicit FingerTurn(double target_radius) : target_radius_(target_radius) {}

  void initialize_episode(Physics& physics, Random& random) override {
    mjModel* m = physics.model();
    const double angle = random.uniform(-std::numbers::pi, std::numbers::pi);
    // Reset left the spinner hinge's anchor computed; the target circle is the spinner tip's path.
    const mjtNum* anchor = physics.data()->xanchor + 3 * hinge_joint_;
    const double radius = m->geom_size[3 * cap1_] + m->geom_size[3 * cap1_ + 1];
    m->site_pos[3 * target_site_ + 0] = anchor[0] + radius * std::sin(angle);
    m->site_pos[3 * target_site_ + 2] = anchor[2] + radius * std::cos(angle);
    m->site_size[3 * target_site_] = target_radius_;
    set_random_joint_angles(physics, random);
  }

  int observation_dim() const override { return 12; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjtNum* s = physics.data()->sensordata;
    ObsWriter w(out);
    write_common(physics, w);
    w.put(s[target_ + 0] - s[spinner_ + 0]).put(s[target_ + 2] - s[spinner_ + 2]);
    w.put(dist_to_target(physics));
    w.finish();
  }

  double reward(const Physics& physics) const override { return dist_to_target(physics) <= 0.0 ? 1.0 : 0.0; }

 private:
  double dist_to_target(const Physics& physics) const {
    const mjtNum* s = physics.data()->sensordata;
    // tip and target relative to the spinner, x-z plane; the spinner offsets cancel
    const double dx = (s[target_ + 0] - s[spinner_ + 0]) - (s[tip_ + 0] - s[spinner_ + 0]);
    const double dz = (s[target_ + 2] - s[spinner_ + 2]) - (s[tip_ + 2] - s[spinner_ + 2]);
    return std::hypot(dx, dz) - physics.model()->site_size[3 * target_site_];
  }

  double target_radius_;
};

}  // namespace

std::unique_ptr<DmcTask> make_finger_spin() { return std::make_unique<FingerSpin>(); }
std::unique_ptr<DmcTask> make_finger_turn(double target_radius) {
  return std::make_unique<FingerTurn>(target_radius);
}

}  // namespace lucid::envs::dmc
