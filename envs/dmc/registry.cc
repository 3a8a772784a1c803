// The task table and make_env(): name -> (task factory), then the TD-MPC2 wrapper stack.
//
// To register a task, add one line to kTasks (keep the domain's lines together) and include its
// header. Model paths: see lucid/envs/registry.h.
#include "lucid/envs/registry.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <sstream>

#include "dmc/acrobot.h"
#include "dmc/ball_in_cup.h"
#include "dmc/cartpole.h"
#include "dmc/cheetah.h"
#include "dmc/dmc_env.h"
#include "dmc/finger.h"
#include "dmc/fish.h"
#include "dmc/hopper.h"
#include "dmc/humanoid.h"
#include "dmc/pendulum.h"
#include "dmc/reacher.h"
#include "dmc/walker.h"
#include "lucid/envs/wrappers.h"
#include "lucid/error.h"

namespace lucid::envs {

namespace {

using dmc::DmcTask;
using TaskFactory = std::function<std::unique_ptr<DmcTask>()>;

struct TaskEntry {
  const char* name;
  TaskFactory make;
};

// clang-format off
const TaskEntry kTasks[] = {
    // classic control and manipulation
    {"cartpole-balance",        [] { return dmc::make_cartpole(dmc::CartpoleVariant::kBalance); }},
    {"cartpole-balance_sparse", [] { return dmc::make_cartpole(dmc::CartpoleVariant::kBalanceSparse); }},
    {"cartpole-swingup",        [] { return dmc::make_cartpole(dmc::CartpoleVariant::kSwingup); }},
    {"cartpole-swingup_sparse", [] { return dmc::make_cartpole(dmc::CartpoleVariant::kSwingupSparse); }},
    {"pendulum-swingup",        [] { return dmc::make_pendulum_swingup(); }},
    {"acrobot-swingup",         [] { return dmc::make_acrobot_swingup(); }},
    {"reacher-easy",            [] { return dmc::make_reacher(dmc::kReacherEasyTargetSize); }},
    {"reacher-hard",            [] { return dmc::make_reacher(dmc::kReacherHardTargetSize); }},
    {"finger-spin",             [] { return dmc::make_finger_spin(); }},
    {"finger-turn_easy",        [] { return dmc::make_finger_turn(dmc::kFingerTurnEasyRadius); }},
    {"finger-turn_hard",        [] { return dmc::make_finger_turn(dmc::kFingerTurnHardRadius); }},
    {"ball_in_cup-catch",       [] { return dmc::make_ball_in_cup_catch(); }},
    // locomotion and swimming: cheetah, walker, hopper, fish, humanoid
    {"cheetah-run",             [] { return dmc::make_cheetah_run(); }},
    {"walker-stand",            [] { return dmc::make_walker(dmc::kWalkerStandSpeed); }},
    {"walker-walk",             [] { return dmc::make_walker(dmc::kWalkerWalkSpeed); }},
    {"walker-run",              [] { return dmc::make_walker(dmc::kWalkerRunSpeed); }},
    {"hopper-stand",            [] { return dmc::make_hopper(dmc::HopperVariant::kStand); }},
    {"hopper-hop",              [] { return dmc::make_hopper(dmc::HopperVariant::kHop); }},
    {"fish-swim",               [] { return dmc::make_fish_swim(); }},
    {"humanoid-stand",          [] { return dmc::make_humanoid(dmc::kHumanoidStandSpeed); }},
    {"humanoid-walk",           [] { return dmc::make_humanoid(dmc::kHumanoidWalkSpeed); }},
    {"humanoid-run",            [] { return dmc::make_humanoid(dmc::kHumanoidRunSpeed); }},
};
// clang-format on

const TaskEntry* find_task(const std::string& name) {
  for (const TaskEntry& e : kTasks)
    if (name == e.name) return &e;
  return nullptr;
}

std::filesystem::path from_env_var(const char* var) {
  const char* v = std::getenv(var);
  return (v != nullptr && *v != '\0') ? std::filesystem::path(v) : std::filesystem::path();
}

}  // namespace

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const TaskEntry& e : kTasks) names.emplace_back(e.name);
  std::sort(names.begin(), names.end());
  return names;
}

std::filesystem::path model_path(const std::string& domain, const EnvOptions& options) {
  std::filesystem::path dmc =
      options.dmc_xml_dir.empty() ? from_env_var("LUCID_DMC_XML") : options.dmc_xml_dir;
  if (!dmc.empty()) {
    // Accept the dm_control checkout root too, not only its suite/ folder.
    if (!std::filesystem::exists(dmc / (domain + ".xml")) &&
        std::filesystem::exists(dmc / "suite" / (domain + ".xml")))
      dmc /= "suite";
    return dmc / (domain + ".xml");
  }
  std::filesystem::path assets =
      options.assets_dir.empty() ? from_env_var("LUCID_ASSETS") : options.assets_dir;
  if (assets.empty()) assets = LUCID_ASSETS_DIR;
  return assets / (domain + ".xml");
}

std::unique_ptr<Env> make_env(const std::string& task, const EnvOptions& options) {
  const TaskEntry* entry = find_task(task);
  if (entry == nullptr) {
    std::ostringstream known;
    for (const std::string& n : task_names()) known << " " << n;
    LUCID_FAIL(EnvError) << "unknown task '" << task << "'; known tasks:" << known.str();
  }
  LUCID_CHECK_AS(options.action_repeat >= 1, EnvError)
      << "action_repeat must be >= 1, got " << options.action_repeat;
  LUCID_CHECK_AS(options.pixel_size >= 0, EnvError) << "pixel_size must be >= 0, got " << options.pixel_size;
  LUCID_CHECK_AS(options.max_episode_steps >= 0, EnvError)
      << "max_episode_steps must be >= 0, got " << options.max_episode_steps;
  std::unique_ptr<DmcTask> t = entry->make();
  const std::filesystem::path file = model_path(t->domain(), options);
  std::unique_ptr<Env> env = std::make_unique<dmc::DmcEnv>(task, std::move(t), file, options.seed);
  if (options.rescale_actions) env = std::make_unique<ActionRescale>(std::move(env));
  if (options.action_repeat > 1) env = std::make_unique<ActionRepeat>(std::move(env), options.action_repeat);
  // after the repeat, so only the frames the agent sees are rendered
  if (options.pixel_size > 0)
    env = std::make_unique<PixelObservations>(std::move(env), options.pixel_size, options.pixel_size);
  if (options.max_episode_steps > 0)
    env = std::make_unique<TimeLimit>(std::move(env), options.max_episode_steps);
  return env;
}

}  // namespace lucid::envs
