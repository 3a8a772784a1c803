// ActionRescale, ActionRepeat, TimeLimit.
#include "lucid/envs/wrappers.h"

#include <cmath>

#include "lucid/error.h"

namespace lucid::envs {

EnvWrapper::EnvWrapper(std::unique_ptr<Env> inner) : inner_(std::move(inner)) {
  LUCID_CHECK_AS(inner_ != nullptr, EnvError) << "a wrapper needs an env to wrap";
}

namespace {
// An affine map needs both ends; MuJoCo marks "no ctrlrange" with +-mjMAXVAL (1e10).
bool bounded(float lo, float hi) { return std::isfinite(lo) && std::isfinite(hi) && hi - lo < 1e9f; }
}  // namespace

ActionRescale::ActionRescale(std::unique_ptr<Env> inner)
    : EnvWrapper(std::move(inner)), low_(inner_->action_low()), high_(inner_->action_high()) {
  scaled_.resize(low_.size());
}

StepResult ActionRescale::step(std::span<const float> action) {
  check_action(action, action_dim(), name());
  for (std::size_t i = 0; i < scaled_.size(); ++i) {
    scaled_[i] =
        bounded(low_[i], high_[i]) ? low_[i] + (action[i] + 1.0f) * 0.5f * (high_[i] - low_[i]) : action[i];
  }
  return inner_->step(scaled_);
}

std::vector<float> ActionRescale::action_low() const {
  std::vector<float> v(low_.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = bounded(low_[i], high_[i]) ? -1.0f : low_[i];
  return v;
}

std::vector<float> ActionRescale::action_high() const {
  std::vector<float> v(high_.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = bounded(low_[i], high_[i]) ? 1.0f : high_[i];
  return v;
}

ActionRepeat::ActionRepeat(std::unique_ptr<Env> inner, int repeat)
    : EnvWrapper(std::move(inner)), repeat_(repeat) {
  LUCID_CHECK_AS(repeat >= 1, EnvError) << "action_repeat must be >= 1, got " << repeat;
}

StepResult ActionRepeat::step(std::span<const float> action) {
  check_action(action, action_dim(), name());
  StepResult total;
  for (int i = 0; i < repeat_; ++i) {
    StepResult r = inner_->step(action);
    total.reward += r.reward;
    total.obs = std::move(r.obs);
    total.terminated = r.terminated;
    total.truncated = r.truncated;
    total.diverged = r.diverged;
    if (r.terminated || r.truncated || r.diverged) break;
  }
  return total;
}

TimeLimit::TimeLimit(std::unique_ptr<Env> inner, int max_steps)
    : EnvWrapper(std::move(inner)), max_steps_(max_steps) {
  LUCID_CHECK_AS(max_steps >= 1, EnvError) << "time limit must be >= 1 step, got " << max_steps;
}

std::vector<float> TimeLimit::reset(std::uint64_t seed) {
  steps_ = 0;
  return inner_->reset(seed);
}

StepResult TimeLimit::step(std::span<const float> action) {
  LUCID_CHECK_AS(steps_ < max_steps_, EnvError)
      << name() << ": step() after the time limit; call reset() first";
  StepResult r = inner_->step(action);
  ++steps_;
  if (steps_ >= max_steps_) r.truncated = true;
  return r;
}

}  // namespace lucid::envs
