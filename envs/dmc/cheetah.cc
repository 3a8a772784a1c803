// Cheetah (dm_control suite/cheetah.py, facts §4.7).
//   reward  tol(v_x, (10, inf), margin 10, linear, 0) = clip(v_x / 10, 0, 1), where v_x is the
//           x of subtreelinvel(torso), the centre-of-mass velocity
//   init    limited joints (the six leg hinges) U(range); the root keeps qpos0; then 200 physics
//           steps with zero control (2 s) let the body settle on the floor, and time restarts at 0.
//           dm_control's legacy step starts that loop with mj_step2 on kinematics computed before
//           the draw; lucid runs full mj_steps, which differs only in the first of the 200 substeps
//           of a passive, damped settle.
#include "dmc/cheetah.h"

#include "dmc/rewards.h"
#include "lucid/error.h"

namespace lucid::envs::dmc {

namespace {

constexpr int kSettleSteps = 200;

class CheetahRun final : public DmcTask {
 public:
  std::string domain() const override { return "cheetah"; }

  void bind(const Physics& physics) override {
    const mjModel* m = physics.model();
    // The observation slices qpos/qvel directly, which needs one coordinate per joint (no free or
    // ball joint) and rootx first.
    LUCID_CHECK_AS(m->nq == m->njnt && m->nq == m->nv, EnvError)
        << "cheetah: expected only hinge/slide joints, got nq " << m->nq << ", nv " << m->nv << ", njnt "
        << m->njnt;
    LUCID_CHECK_AS(m->jnt_qposadr[physics.joint_id("rootx")] == 0, EnvError)
        << "cheetah: rootx must be the first joint";
    speed_ = physics.sensor_adr("torso_subtreelinvel");
  }

  void initialize_episode(Physics& physics, Random& random) override {
    const mjModel* m = physics.model();
    mjData* d = physics.data();
    for (int j = 0; j < m->njnt; ++j)
      if (m->jnt_limited[j])
        d->qpos[m->jnt_qposadr[j]] = random.uniform(m->jnt_range[2 * j], m->jnt_range[2 * j + 1]);
    // ctrl is zero after Physics::reset(), so this is the passive settling dm_control runs.
    const std::vector<double> zero(static_cast<std::size_t>(m->nu), 0.0);
    LUCID_CHECK_AS(physics.step(zero, kSettleSteps), EnvError)
        << "cheetah: the physics diverged while settling the initial state: " << physics.warning_message();
    d->time = 0.0;
  }

  int observation_dim() const override { return 17; }

  void observation(const Physics& physics, std::span<float> out) const override {
    const mjModel* m = physics.model();
    const mjData* d = physics.data();
    ObsWriter w(out);
    w.put(std::span<const double>(d->qpos + 1, static_cast<std::size_t>(m->nq - 1)));  // position
    w.put(std::span<const double>(d->qvel, static_cast<std::size_t>(m->nv)));          // velocity
    w.finish();
  }

  double reward(const Physics& physics) const override {
    const double v_x = physics.data()->sensordata[speed_];
    return tolerance(v_x, {kCheetahRunSpeed, kInf}, kCheetahRunSpeed, Sigmoid::kLinear, 0.0);
  }

 private:
  int speed_ = 0;  // sensordata index of subtreelinvel(torso)
};

}  // namespace

std::unique_ptr<DmcTask> make_cheetah_run() { return std::make_unique<CheetahRun>(); }

}  // namespace lucid::envs::dmc
