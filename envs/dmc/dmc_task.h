// DmcTask — what one DeepMind Control task adds on top of its MuJoCo model.
//
// A task names its model file (<domain>.xml), its control timestep, and three hooks that
// dm_control's control.Environment calls (facts §1):
//   reset:  Physics::reset() -> initialize_episode(physics, random) -> forward_without_actuation()
//           -> observation()                                  (the first obs has no reward)
//   step:   Physics::step(action, n_sub) -> reward() -> observation(), both on the post-step state
// Episodes end only at the time limit, 1000 control steps for every suite task.
//
// bind() runs once after the model is loaded: look up every id there (Physics::body_id etc. throw
// lucid::EnvError for a missing name), so a model that does not fit the task fails at construction
// and observation()/reward() are plain array reads. The same task code runs on lucid's models and
// on dm_control's official ones, which is why both spell element names the same way.
//
// To add a task: derive from DmcTask in envs/dmc/<domain>.{h,cc}, write envs/assets/<domain>.xml,
// and add a line to the table in envs/dmc/registry.cc.
#pragma once

#include <span>
#include <string>

#include "dmc/random.h"
#include "mujoco/physics.h"

namespace lucid::envs::dmc {

inline constexpr int kTimeLimitSteps = 1000;  // control steps per episode, every suite task

class DmcTask {
 public:
  virtual ~DmcTask() = default;

  // Model file stem: envs/assets/<domain>.xml or <dmc suite>/<domain>.xml.
  virtual std::string domain() const = 0;
  // Seconds per control step; 0 means one physics step per control step (tasks that pass none).
  virtual double control_timestep() const { return 0.0; }
  virtual int time_limit_steps() const { return kTimeLimitSteps; }

  virtual void bind(const Physics& physics) = 0;
  // Draws the initial state (and per-episode model edits) after Physics::reset().
  virtual void initialize_episode(Physics& physics, Random& random) = 0;
  virtual int observation_dim() const = 0;
  // Writes exactly observation_dim() values, in dm_control's OrderedDict order.
  virtual void observation(const Physics& physics, std::span<float> out) const = 0;
  virtual double reward(const Physics& physics) const = 0;
};

// Appends observation values with a bounds check, so each task's observation() reads as the list
// of keys dm_control concatenates.
class ObsWriter {
 public:
  explicit ObsWriter(std::span<float> out) : out_(out) {}
  ObsWriter& put(double v);
  ObsWriter& put(std::span<const double> v) {
    for (double x : v) put(x);
    return *this;
  }
  // Call at the end: throws lucid::EnvError unless exactly out.size() values were written.
  void finish() const;

 private:
  std::span<float> out_;
  std::size_t n_ = 0;
};

// dm_control's randomizers.randomize_limited_and_rotational_joints (facts §1), joints in model
// order: limited hinge/slide U(range); unlimited hinge U(-pi, pi); unlimited ball randn(4)
// normalised; limited ball: a rotation by U[0, range max) about a random axis; free joint
// quaternion rand(4) normalised (non-negative: dm_control's known bias, kept for comparable
// benchmarks), position untouched; unlimited slides untouched.
void randomize_limited_and_rotational_joints(Physics& physics, Random& random);

// dm_control's pattern "repeat { randomize; after_reset } until no contacts": runs `draw` then
// forward_without_actuation() up to max_attempts times until ncon == 0. Throws lucid::EnvError
// when no contact-free state was found.
template <typename Draw>
void draw_until_contact_free(Physics& physics, Draw&& draw, int max_attempts = 1000);

}  // namespace lucid::envs::dmc

#include "dmc/dmc_task_inl.h"
