// DmcEnv: the reset/step sequence of dm_control's control.Environment (facts §1).
#include "dmc/dmc_env.h"

#include <utility>

#include "lucid/error.h"

namespace lucid::envs::dmc {

DmcEnv::DmcEnv(std::string name, std::unique_ptr<DmcTask> task, const std::filesystem::path& model_file,
               std::uint64_t stream)
    : name_(std::move(name)),
      task_(std::move(task)),
      physics_(Physics::from_xml(model_file)),
      random_(0, stream),
      stream_(stream) {
  task_->bind(physics_);
  n_sub_ = physics_.substeps_for(task_->control_timestep());
  ctrl_.resize(static_cast<std::size_t>(physics_.model()->nu));
}

std::vector<float> DmcEnv::reset(std::uint64_t seed) {
  random_.reseed(seed, stream_);
  physics_.reset();
  task_->initialize_episode(physics_, random_);
  physics_.forward_without_actuation();
  steps_ = 0;
  needs_reset_ = false;
  return observation();
}

StepResult DmcEnv::step(std::span<const float> action) {
  LUCID_CHECK_AS(!needs_reset_, EnvError) << name_ << ": step() after the episode ended; call reset() first";
  check_action(action, action_dim(), name_);
  for (std::size_t i = 0; i < ctrl_.size(); ++i) ctrl_[i] = action[i];
  StepResult r;
  if (!physics_.step(ctrl_, n_sub_)) {
    // dm_control raises PhysicsError here; lucid ends the episode instead. MuJoCo has reset the bad
    // state, so the observation is finite but meaningless, and the reward is 0.
    r.diverged = true;
    r.obs = observation();
    needs_reset_ = true;
    return r;
  }
  r.reward = task_->reward(physics_);
  r.obs = observation();
  ++steps_;
  r.truncated = steps_ >= task_->time_limit_steps();
  needs_reset_ = r.truncated;
  return r;
}

std::vector<float> DmcEnv::observation() const {
  std::vector<float> obs(static_cast<std::size_t>(task_->observation_dim()));
  task_->observation(physics_, obs);
  return obs;
}

std::vector<float> DmcEnv::action_low() const {
  const mjModel* m = physics_.model();
  std::vector<float> low(static_cast<std::size_t>(m->nu));
  for (int i = 0; i < m->nu; ++i)
    low[i] = m->actuator_ctrllimited[i] ? static_cast<float>(m->actuator_ctrlrange[2 * i])
                                        : -static_cast<float>(mjMAXVAL);
  return low;
}

std::vector<float> DmcEnv::action_high() const {
  const mjModel* m = physics_.model();
  std::vector<float> high(static_cast<std::size_t>(m->nu));
  for (int i = 0; i < m->nu; ++i)
    high[i] = m->actuator_ctrllimited[i] ? static_cast<float>(m->actuator_ctrlrange[2 * i + 1])
                                         : static_cast<float>(mjMAXVAL);
  return high;
}

Image DmcEnv::render(int width, int height) {
  if (!renderer_) renderer_ = std::make_unique<Renderer>();
  return renderer_->render(physics_, width, height);
}

}  // namespace lucid::envs::dmc
