// Wrappers against a scripted env whose action bounds are not [-1, 1] and whose episode length is
// odd, so the rescale's affine map and ActionRepeat's early stop are visible.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "lucid/envs/registry.h"
#include "lucid/envs/wrappers.h"
#include "lucid/error.h"

namespace lucid::envs {
namespace {

// Remembers the last action; reward = step number; truncates after `length` steps.
class ScriptedEnv final : public Env {
 public:
  explicit ScriptedEnv(int length) : length_(length) {}
  std::vector<float> reset(std::uint64_t) override {
    t_ = 0;
    return {0.f};
  }
  StepResult step(std::span<const float> action) override {
    check_action(action, action_dim(), name());
    last.assign(action.begin(), action.end());
    ++t_;
    StepResult r;
    r.obs = {static_cast<float>(t_)};
    r.reward = t_;
    r.truncated = t_ >= length_;
    return r;
  }
  int observation_dim() const override { return 1; }
  int action_dim() const override { return 3; }
  std::vector<float> action_low() const override { return {0.f, -2.f, -1e10f}; }  // last: unbounded
  std::vector<float> action_high() const override { return {10.f, 2.f, 1e10f}; }
  Image render(int, int) override { return {}; }
  std::string name() const override { return "scripted"; }

  std::vector<float> last;

 private:
  int length_, t_ = 0;
};

TEST(ActionRescale, MapsTheUnitBoxAffinelyAndPassesUnboundedDimensions) {
  auto inner = std::make_unique<ScriptedEnv>(100);
  ScriptedEnv* raw = inner.get();
  ActionRescale env(std::move(inner));
  EXPECT_EQ(env.action_low(), (std::vector<float>{-1.f, -1.f, -1e10f}));
  EXPECT_EQ(env.action_high(), (std::vector<float>{1.f, 1.f, 1e10f}));
  env.reset(0);
  env.step(std::vector<float>{-1.f, 0.5f, 7.f});
  EXPECT_EQ(raw->last, (std::vector<float>{0.f, 1.f, 7.f}));
  env.step(std::vector<float>{1.f, -1.f, -3.f});
  EXPECT_EQ(raw->last, (std::vector<float>{10.f, -2.f, -3.f}));
  EXPECT_THROW(env.step(std::vector<float>{0.f, std::numeric_limits<float>::infinity(), 0.f}), EnvError);
  EXPECT_THROW(env.step(std::vector<float>{0.f, 0.f}), EnvError);
}

TEST(ActionRepeat, SumsRewardsAndStopsAtTheInnerEpisodeEnd) {
  ActionRepeat env(std::make_unique<ScriptedEnv>(5), 2);
  env.reset(0);
  const std::vector<float> a{1.f, 0.f, 0.f};
  EXPECT_EQ(env.step(a).reward, 1.0 + 2.0);
  EXPECT_EQ(env.step(a).reward, 3.0 + 4.0);
  const StepResult last = env.step(a);  // only inner step 5 remains
  EXPECT_EQ(last.reward, 5.0);
  EXPECT_TRUE(last.truncated);
  EXPECT_EQ(last.obs, std::vector<float>{5.f});
  EXPECT_THROW(ActionRepeat(std::make_unique<ScriptedEnv>(5), 0), EnvError);
}

TEST(TimeLimit, TruncatesAndRefusesFurtherSteps) {
  TimeLimit env(std::make_unique<ScriptedEnv>(100), 3);
  const std::vector<float> a{0.f, 0.f, 0.f};
  for (int round = 0; round < 2; ++round) {  // and again after a reset
    env.reset(0);
    EXPECT_FALSE(env.step(a).truncated);
    EXPECT_FALSE(env.step(a).truncated);
    EXPECT_TRUE(env.step(a).truncated);
    EXPECT_THROW(env.step(a), EnvError);
  }
}

}  // namespace
}  // namespace lucid::envs

namespace lucid::envs {
namespace {

TEST(PixelObservations, FramesAreChannelMajorUnitFloatsThatFollowTheState) {
  EnvOptions o;
  o.pixel_size = 32;
  o.action_repeat = 2;
  auto env = make_env("cartpole-swingup", o);
  ASSERT_EQ(env->observation_dim(), 3 * 32 * 32);
  const std::vector<float> first = env->reset(4);
  ASSERT_EQ(first.size(), 3u * 32 * 32);
  float lo = 1.f, hi = 0.f;
  for (float x : first) lo = std::min(lo, x), hi = std::max(hi, x);
  EXPECT_GE(lo, 0.f);
  EXPECT_LE(hi, 1.f);
  EXPECT_GT(hi - lo, 0.2f);  // not a blank frame
  // channel-major: plane c holds channel c of the rendered image
  auto bare = make_env("cartpole-swingup");
  bare->reset(4);
  const Image img = bare->render(32, 32);
  for (int p : {0, 100, 517, 1023})
    for (int c = 0; c < 3; ++c)
      EXPECT_FLOAT_EQ(first[c * 1024 + p], img.rgb[3 * p + c] / 255.f) << p << " " << c;
  std::vector<float> obs = first;
  for (int t = 0; t < 30; ++t) obs = env->step(std::vector<float>{1.f}).obs;
  EXPECT_NE(obs, first);  // the cart moved
  EXPECT_THROW(make_env("cartpole-swingup", EnvOptions{.pixel_size = -1}), EnvError);
}

}  // namespace
}  // namespace lucid::envs

namespace lucid::envs {
namespace {

// DMC ctrlranges are [-1, 1]: the rescale must then pass every float through unchanged, so an env
// from make_env steps exactly like the bare task (and like dm_control without the wrapper).
TEST(ActionRescale, IsTheExactIdentityOnTheUnitRange) {
  auto wrapped = make_env("reacher-easy");
  EnvOptions bare_options;
  bare_options.rescale_actions = false;
  auto bare = make_env("reacher-easy", bare_options);
  wrapped->reset(1);
  bare->reset(1);
  const std::vector<float> a{0.3f, -0.7123457f};
  for (int t = 0; t < 10; ++t) ASSERT_EQ(wrapped->step(a).obs, bare->step(a).obs) << t;
}

}  // namespace
}  // namespace lucid::envs
