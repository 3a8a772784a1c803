// ActionRescale, ActionRepeat, TimeLimit, PixelObservations.
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
    if (!bounded(low_[i], high_[i])) {
      scaled_[i] = action[i];
      continue;
    }
    // In double, like dm_control's action_scale wrapper: for a [-1, 1] range every step is exact,
    // so the map is the identity bit for bit.
    const double lo = low_[i], hi = high_[i];
    scaled_[i] = static_cast<float>(lo + (static_cast<double>(action[i]) + 1.0) * 0.5 * (hi - lo));
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

PixelObservations::PixelObservations(std::unique_ptr<Env> inner, int width, int height)
    : EnvWrapper(std::move(inner)), width_(width), height_(height) {
  LUCID_CHECK_AS(width > 0 && height > 0, EnvError)
      << "pixel observations need a positive size, got " << width << "x" << height;
}

std::vector<float> PixelObservations::frame() {
  const Image img = inner_->render(width_, height_);
  const std::size_t plane = static_cast<std::size_t>(width_) * height_;
  std::vector<float> obs(3 * plane);
  for (std::size_t p = 0; p < plane; ++p)
    for (std::size_t c = 0; c < 3; ++c)
      obs[c * plane + p] = static_cast<float>(img.rgb[3 * p + c]) * (1.0f / 255.0f);
  return obs;
}

std::vector<float> PixelObservations::reset(std::uint64_t seed) {
  inner_->reset(seed);
  return frame();
}

StepResult PixelObservations::step(std::span<const float> action) {
  StepResult r = inner_->step(action);
  r.obs = frame();
  return r;
}

}  // namespace lucid::envs
