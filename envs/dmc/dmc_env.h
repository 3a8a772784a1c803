// DmcEnv — an Env made of one DmcTask and the Physics of its model: dm_control's
// control.Environment in C++ (facts §1). Observations and actions are float; the physics is double.
//
// Memory: the Physics (model + data) and the task's Random are owned here, one per env, so envs
// can step on different threads. step() allocates only the returned observation vector.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dmc/dmc_task.h"
#include "lucid/envs/env.h"
#include "mujoco/physics.h"
#include "mujoco/renderer.h"

namespace lucid::envs::dmc {

class DmcEnv final : public Env {
 public:
  // Loads `model_file` and binds `task` to it. `stream` keys the RNG (EnvOptions::seed).
  DmcEnv(std::string name, std::unique_ptr<DmcTask> task, const std::filesystem::path& model_file,
         std::uint64_t stream = 0);

  std::vector<float> reset(std::uint64_t seed) override;
  // Throws lucid::EnvError for a wrong-sized or non-finite action, or a step after the episode
  // ended (call reset()). A diverged step returns diverged = true and ends the episode.
  StepResult step(std::span<const float> action) override;
  int observation_dim() const override { return task_->observation_dim(); }
  int action_dim() const override { return physics_.model()->nu; }
  std::vector<float> action_low() const override;
  std::vector<float> action_high() const override;
  Image render(int width, int height) override;
  std::string name() const override { return name_; }

  // For tests, fidelity checks and tools: the simulation and the task behind the env.
  Physics& physics() { return physics_; }
  const DmcTask& task() const { return *task_; }
  int n_sub_steps() const { return n_sub_; }
  int step_count() const { return steps_; }
  // The observation of the current state (what reset/step return), e.g. after editing qpos.
  std::vector<float> observation() const;

 private:
  std::string name_;
  std::unique_ptr<DmcTask> task_;
  Physics physics_;
  Random random_;
  std::uint64_t stream_;
  int n_sub_ = 1;
  int steps_ = 0;
  bool needs_reset_ = true;
  std::vector<double> ctrl_;
  std::unique_ptr<Renderer> renderer_;  // made on the first render()
};

}  // namespace lucid::envs::dmc
