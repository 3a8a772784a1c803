// Env wrappers (decorators): each owns the Env it wraps and changes one thing.
//   ActionRescale  the agent acts in [-1, 1]; actions are mapped affinely to [low, high] of the
//                  wrapped env (identity for DMC, whose ctrlranges are all [-1, 1]). A dimension
//                  with an unbounded range is passed through.
//   ActionRepeat   one agent step = k inner steps with the same action, rewards summed; stops
//                  early when the inner episode ends (TD-MPC2 uses k = 2).
//   TimeLimit      truncates the episode after max_steps agent steps (TD-MPC2's Timeout).
//   PixelObservations  the observation becomes the rendered frame (the wrapped env's render()):
//                  3 x height x width floats in [0, 1], channel-major (CHW), as pixel-based world
//                  models (PlaNet, Dreamer) consume it.
// All of them refuse a wrong-sized or non-finite action with lucid::EnvError before forwarding.
#pragma once

#include <memory>

#include "lucid/envs/env.h"

namespace lucid::envs {

class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(std::unique_ptr<Env> inner);
  std::vector<float> reset(std::uint64_t seed) override { return inner_->reset(seed); }
  StepResult step(std::span<const float> action) override { return inner_->step(action); }
  int observation_dim() const override { return inner_->observation_dim(); }
  int action_dim() const override { return inner_->action_dim(); }
  std::vector<float> action_low() const override { return inner_->action_low(); }
  std::vector<float> action_high() const override { return inner_->action_high(); }
  Image render(int width, int height) override { return inner_->render(width, height); }
  std::string name() const override { return inner_->name(); }

  Env& inner() { return *inner_; }

 protected:
  std::unique_ptr<Env> inner_;
};

class ActionRescale final : public EnvWrapper {
 public:
  explicit ActionRescale(std::unique_ptr<Env> inner);
  StepResult step(std::span<const float> action) override;
  std::vector<float> action_low() const override;
  std::vector<float> action_high() const override;

 private:
  std::vector<float> low_, high_, scaled_;
};

class ActionRepeat final : public EnvWrapper {
 public:
  ActionRepeat(std::unique_ptr<Env> inner, int repeat);
  StepResult step(std::span<const float> action) override;
  int repeat() const { return repeat_; }

 private:
  int repeat_;
};

class TimeLimit final : public EnvWrapper {
 public:
  TimeLimit(std::unique_ptr<Env> inner, int max_steps);
  std::vector<float> reset(std::uint64_t seed) override;
  StepResult step(std::span<const float> action) override;

 private:
  int max_steps_;
  int steps_ = 0;
};

class PixelObservations final : public EnvWrapper {
 public:
  PixelObservations(std::unique_ptr<Env> inner, int width, int height);
  std::vector<float> reset(std::uint64_t seed) override;
  StepResult step(std::span<const float> action) override;
  int observation_dim() const override { return 3 * width_ * height_; }

 private:
  std::vector<float> frame();
  int width_, height_;
};

}  // namespace lucid::envs
