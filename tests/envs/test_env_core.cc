// The framework under every task: registry errors, bad actions, the time limit, divergence,
// reset semantics, the wrappers, where models are read from. Uses cartpole, the cheapest model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "dmc/dmc_env.h"
#include "lucid/envs/registry.h"
#include "lucid/envs/wrappers.h"
#include "lucid/error.h"
#include "lucid_test.h"

namespace lucid::envs {
namespace {

TEST(Registry, UnknownTaskListsTheKnownOnes) {
  try {
    make_env("cartpole-flip");
    FAIL() << "no exception";
  } catch (const EnvError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cartpole-flip"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cartpole-swingup"), std::string::npos) << msg;
  }
}

TEST(Registry, NamesAreSortedAndUnique) {
  const std::vector<std::string> names = task_names();
  ASSERT_FALSE(names.empty());
  for (std::size_t i = 1; i < names.size(); ++i) EXPECT_LT(names[i - 1], names[i]);
}

TEST(Registry, MissingModelFolderIsAnIoError) {
  EnvOptions o;
  o.assets_dir = "/nonexistent/lucid/assets";
  EXPECT_THROW(make_env("cartpole-swingup", o), IoError);
}

TEST(Env, BadActionsAreRefused) {
  auto env = make_env("cartpole-swingup");
  env->reset(1);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_THROW(env->step(std::vector<float>{}), EnvError);
  EXPECT_THROW(env->step(std::vector<float>{0.f, 0.f}), EnvError);
  EXPECT_THROW(env->step(std::vector<float>{nan}), EnvError);
  EXPECT_THROW(env->step(std::vector<float>{-inf}), EnvError);
  // a refused action leaves the episode usable
  EXPECT_NO_THROW(env->step(std::vector<float>{0.5f}));
}

TEST(Env, StepBeforeResetIsRefused) {
  auto env = make_env("cartpole-balance");
  EXPECT_THROW(env->step(std::vector<float>{0.f}), EnvError);
}

TEST(Env, TimeLimitIsOneThousandControlSteps) {
  auto env = make_env("cartpole-balance");
  env->reset(3);
  const std::vector<float> a{0.f};
  for (int t = 1; t <= 1000; ++t) {
    const StepResult r = env->step(a);
    ASSERT_EQ(r.truncated, t == 1000) << t;
    ASSERT_FALSE(r.terminated);
  }
  EXPECT_THROW(env->step(a), EnvError);  // over: reset first
  env->reset(4);
  EXPECT_FALSE(env->step(a).truncated);
}

TEST(Env, ActionRepeatSumsRewardsAndShortensTheEpisode) {
  EnvOptions o;
  o.action_repeat = 2;
  auto repeated = make_env("cartpole-swingup", o);
  auto single = make_env("cartpole-swingup");
  repeated->reset(7);
  single->reset(7);
  const std::vector<float> a{0.3f};
  int agent_steps = 0;
  double total_repeated = 0, total_single = 0;
  for (bool done = false; !done;) {
    const StepResult r = repeated->step(a);
    const StepResult s1 = single->step(a);
    const StepResult s2 = single->step(a);
    EXPECT_DOUBLE_EQ(r.reward, s1.reward + s2.reward);
    EXPECT_EQ(r.obs, s2.obs);
    total_repeated += r.reward;
    total_single += s1.reward + s2.reward;
    done = r.truncated;
    ++agent_steps;
  }
  EXPECT_EQ(agent_steps, 500);
  EXPECT_DOUBLE_EQ(total_repeated, total_single);
}

TEST(Env, TimeLimitWrapperTruncatesInAgentSteps) {
  EnvOptions o;
  o.action_repeat = 2;
  o.max_episode_steps = 10;
  auto env = make_env("cartpole-swingup", o);
  env->reset(0);
  for (int t = 1; t <= 10; ++t) EXPECT_EQ(env->step(std::vector<float>{0.f}).truncated, t == 10);
  EXPECT_THROW(env->step(std::vector<float>{0.f}), EnvError);
}

TEST(Env, RescaleMapsUnitBoxToCtrlRange) {
  // cartpole's ctrlrange is [-1, 1]: the rescale is the identity and the bounds say so.
  auto env = make_env("cartpole-swingup");
  EXPECT_EQ(env->action_low(), std::vector<float>{-1.f});
  EXPECT_EQ(env->action_high(), std::vector<float>{1.f});
}

TEST(Env, ResetIsDeterministicPerSeedAndStream) {
  auto a = make_env("cartpole-swingup");
  auto b = make_env("cartpole-swingup");
  EnvOptions other;
  other.seed = 1;
  auto c = make_env("cartpole-swingup", other);
  EXPECT_EQ(a->reset(5), b->reset(5));
  EXPECT_NE(a->reset(5), a->reset(6));
  EXPECT_NE(a->reset(5), c->reset(5));  // another stream draws another episode
}

TEST(Env, DivergenceEndsTheEpisodeWithoutThrowing) {
  auto env = make_env("cartpole-swingup");
  auto* dmc = dynamic_cast<dmc::DmcEnv*>(&dynamic_cast<EnvWrapper&>(*env).inner());
  ASSERT_NE(dmc, nullptr);
  env->reset(0);
  dmc->physics().data()->qvel[1] = std::numeric_limits<double>::quiet_NaN();
  const StepResult r = env->step(std::vector<float>{0.f});
  EXPECT_TRUE(r.diverged);
  EXPECT_NE(dmc->physics().warning_message().find("BADQVEL"), std::string::npos)
      << dmc->physics().warning_message();
  EXPECT_EQ(r.reward, 0.0);
  for (float x : r.obs) EXPECT_TRUE(std::isfinite(x));
  EXPECT_THROW(env->step(std::vector<float>{0.f}), EnvError);  // the episode is over
  env->reset(0);
  EXPECT_FALSE(env->step(std::vector<float>{0.f}).diverged);
}

TEST(Env, CtrlKeepsTheUnclampedActionWhileMuJoCoClampsInternally) {
  // dm_control writes the action to ctrl verbatim (rewards read it); MuJoCo clamps to ctrlrange
  // only inside mj_fwdActuation. So 1.5 moves the cart exactly like 1.0 but ctrl reads 1.5.
  auto over = make_env("cartpole-swingup");
  auto at_limit = make_env("cartpole-swingup");
  auto* dmc = dynamic_cast<dmc::DmcEnv*>(&dynamic_cast<EnvWrapper&>(*over).inner());
  ASSERT_NE(dmc, nullptr);
  over->reset(2);
  at_limit->reset(2);
  for (int t = 0; t < 20; ++t) {
    const StepResult a = over->step(std::vector<float>{1.5f});
    const StepResult b = at_limit->step(std::vector<float>{1.0f});
    ASSERT_EQ(a.obs, b.obs) << t;
  }
  EXPECT_EQ(dmc->physics().data()->ctrl[0], 1.5);
}

}  // namespace
}  // namespace lucid::envs

namespace lucid::envs {
namespace {

// Restores an environment variable when the test ends.
class ScopedEnvVar {
 public:
  ScopedEnvVar(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnvVar() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

TEST(ModelPath, OwnModelsByDefaultOfficialOnesWhenAsked) {
  ScopedEnvVar dmc("LUCID_DMC_XML", nullptr);
  ScopedEnvVar assets("LUCID_ASSETS", nullptr);
  EXPECT_EQ(model_path("finger"), std::filesystem::path(LUCID_ASSETS_DIR) / "finger.xml");
  EnvOptions o;
  o.dmc_xml_dir = "/opt/dm_control/suite";
  EXPECT_EQ(model_path("finger", o), std::filesystem::path("/opt/dm_control/suite/finger.xml"));
  o = {};
  o.assets_dir = "/tmp/my_models";
  EXPECT_EQ(model_path("finger", o), std::filesystem::path("/tmp/my_models/finger.xml"));
}

TEST(ModelPath, EnvironmentVariablesAndTheirPrecedence) {
  ScopedEnvVar dmc("LUCID_DMC_XML", "/from/env/suite");
  ScopedEnvVar assets("LUCID_ASSETS", "/from/env/assets");
  EXPECT_EQ(model_path("reacher"), std::filesystem::path("/from/env/suite/reacher.xml"));
  EnvOptions o;
  o.dmc_xml_dir = "/explicit/suite";  // the option wins over the variable
  EXPECT_EQ(model_path("reacher", o), std::filesystem::path("/explicit/suite/reacher.xml"));
  ScopedEnvVar no_dmc("LUCID_DMC_XML", nullptr);
  EXPECT_EQ(model_path("reacher"), std::filesystem::path("/from/env/assets/reacher.xml"));
}

TEST(ModelPath, OfficialModelsLoadThroughTheEnvironmentVariable) {
  const std::filesystem::path suite = lucid::testing::dmc_xml_dir();
  if (suite.empty()) GTEST_SKIP() << "../shared/dmc_xml absent";
  // the checkout root (parent of suite/) is accepted too
  ScopedEnvVar dmc("LUCID_DMC_XML", suite.parent_path().c_str());
  EXPECT_EQ(model_path("cartpole"), suite / "cartpole.xml");
  auto env = make_env("cartpole-swingup");
  EXPECT_EQ(env->reset(0).size(), 5u);
}

}  // namespace
}  // namespace lucid::envs

namespace lucid::envs {
namespace {

TEST(Physics, CloneCopiesModelEditsAndStateAndIsIndependent) {
  EnvOptions bare;
  bare.rescale_actions = false;  // make_env then returns the DmcEnv itself
  auto env =
      std::unique_ptr<dmc::DmcEnv>(dynamic_cast<dmc::DmcEnv*>(make_env("reacher-easy", bare).release()));
  ASSERT_NE(env, nullptr);
  env->reset(8);  // moves the target geom: a model edit
  Physics copy = env->physics().clone();
  const int target = copy.geom_id("target");
  EXPECT_EQ(copy.model()->geom_pos[3 * target], env->physics().model()->geom_pos[3 * target]);
  const std::vector<double> ctrl{0.4f, -0.7f};  // the env widens its float action the same way
  for (int t = 0; t < 20; ++t) {
    ASSERT_TRUE(copy.step(ctrl, 1));
    env->step(std::vector<float>{0.4f, -0.7f});
    ASSERT_EQ(copy.data()->qpos[0], env->physics().data()->qpos[0]);
  }
  copy.model()->geom_pos[3 * target] += 1.0;  // editing the copy leaves the original alone
  EXPECT_NE(copy.model()->geom_pos[3 * target], env->physics().model()->geom_pos[3 * target]);
}

}  // namespace
}  // namespace lucid::envs

namespace lucid::envs {
namespace {

TEST(Physics, ABrokenModelIsAnIoErrorWithMuJoCosMessage) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("lucid_broken_model_" + std::to_string(::getpid()) + ".xml");
  // a range without limited="true" does not compile in MuJoCo 2.2.2 (facts §5.2)
  std::ofstream(file)
      << R"(<mujoco><worldbody><body><joint type="hinge" range="0 1"/><geom size=".1"/></body></worldbody></mujoco>)";
  try {
    Physics::from_xml(file);
    FAIL() << "no exception";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("limited"), std::string::npos) << msg;  // MuJoCo's own diagnosis
  }
  std::filesystem::remove(file);
  EXPECT_THROW(Physics::from_xml("/nonexistent/model.xml"), IoError);
}

}  // namespace
}  // namespace lucid::envs
