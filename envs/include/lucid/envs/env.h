// Env — the interface every environment implements (DESIGN.md "Env").
//
// Observations and actions are flat float buffers, so the layer needs no tensor type. An episode
// starts with reset(seed); step() takes exactly action_dim() finite values. A step that makes the
// physics diverge ends the episode with `diverged = true` instead of throwing. Bad input (wrong
// action size, NaN/Inf, step after the episode ended) throws lucid::EnvError.
//
// Implementations: envs/dmc (DeepMind Control tasks on MuJoCo), decorated by the wrappers of
// lucid/envs/wrappers.h; lucid/envs/registry.h builds them by name.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lucid::envs {

struct StepResult {
  std::vector<float> obs;   // observation_dim() values after the step
  double reward = 0.0;      // reward of this (possibly action-repeated) step
  bool terminated = false;  // the task ended (no DMC task terminates; kept for other suites)
  bool truncated = false;   // the time limit was reached
  bool diverged = false;    // the simulator reported a numerical problem; the episode is over
};

struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // height * width * 3, row 0 at the top
};

class Env {
 public:
  virtual ~Env() = default;
  virtual std::vector<float> reset(std::uint64_t seed) = 0;
  virtual StepResult step(std::span<const float> action) = 0;
  virtual int observation_dim() const = 0;
  virtual int action_dim() const = 0;
  virtual std::vector<float> action_low() const = 0;
  virtual std::vector<float> action_high() const = 0;
  virtual Image render(int width, int height) = 0;
  virtual std::string name() const = 0;
};

// Refuses an action that has the wrong size or a NaN/Inf component with lucid::EnvError naming
// `who`, the expected size and the first bad index. Every Env::step calls it before touching state.
void check_action(std::span<const float> action, int action_dim, const std::string& who);

}  // namespace lucid::envs
